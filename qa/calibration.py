"""Calibration: one recording scored blind by several inspectors and an expert, whose evaluation is
the reference. Nobody sees another's answers before submitting their own; the report gives each
question's agreement with the expert, each inspector's deviation, and the spread between them."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core import clock, directory, permissions
from core.audit import record as audit
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import Role, User
from qa import access, evaluations, scorecards
from qa.errors import CalibrationBlind, RecordingNotEligible
from qa.models import CalibrationParticipant, CalibrationSession, Evaluation
from qa.scoring import Answer, fraction
from qa.sources import recording_facts

__all__ = ["candidates", "close", "create", "describe", "get", "is_blind", "may_see_others", "my_evaluation",
           "own_evaluation", "participants", "report", "sessions_for", "submitted_evaluations"]

SCORERS = frozenset({Role.qa_inspector}) | permissions.SUPERVISORS


def create(session: Session, *, recording_id: int, inspector_ids: Iterable[int], expert_id: int | None, by: User,
           title: str = "", scorecard_id: int | None = None) -> CalibrationSession:
    """A session on a recording `by` may hear, for these inspectors and the expert. Every refusal
    of the people named is located (`inspector_ids`, `expert_id`), so a form shows it beside its field."""
    if not permissions.allowed(by.role, SCORERS):
        raise PermissionDenied("QA inspectors and supervisors run calibration sessions.")
    facts = access.require_hear(session, user=by, recording_id=recording_id)
    if not facts.evaluable:
        raise RecordingNotEligible()
    ids = [i for i in dict.fromkeys(int(i) for i in inspector_ids) if i != expert_id]
    people = directory.users_by_id(session, [*ids, *([expert_id] if expert_id is not None else [])])

    def scorer(user_id: int) -> bool:
        person = people.get(user_id)
        return person is not None and person.is_active and permissions.allowed(person.role, SCORERS)

    errors: list[dict[str, object]] = []
    if expert_id is None or not scorer(expert_id):
        errors.append({"loc": ["expert_id"], "msg": "Name the expert whose evaluation is the reference: a QA "
                                                    "inspector or a supervisor."})
    bad = [i for i in ids if not scorer(i)]
    if bad or not ids:
        errors.append({"loc": ["inspector_ids"], "msg": "Name at least one inspector besides the expert; every "
                                                        "participant is a QA inspector or a supervisor.",
                       "params": {"not_scorers": bad}})
    if errors:
        raise ValidationFailed(errors)
    assert expert_id is not None
    card = scorecards.get(session, scorecard_id=scorecard_id) if scorecard_id else scorecards.active(session)
    calibration = CalibrationSession(recording_id=recording_id, scorecard_id=card.id, expert_id=expert_id,
                                     created_by_id=by.id,
                                     title=title.strip()[:200] or f"Calibration of recording {recording_id}")
    session.add(calibration)
    session.flush()
    for user_id in [*ids, expert_id]:
        session.add(CalibrationParticipant(calibration_id=calibration.id, user_id=user_id,
                                           is_expert=user_id == expert_id))
    session.flush()
    audit(session, action="qa.calibration.created", actor_id=by.id, actor_name=by.username,
          object_type="qa_calibration", object_id=calibration.id,
          details={"recording_id": recording_id, "inspector_ids": ids, "expert_id": expert_id})
    return calibration


def candidates(session: Session, *, by: User) -> list[User]:
    """Who `by` may invite to a session: active QA inspectors and supervisors of their site, and
    those without a site (a supervisor or inspector with no site of their own works for all)."""
    found = [u for role in (Role.qa_inspector, Role.supervisor) for u in directory.list_users(session, role=role)]
    if by.site_id is not None:
        found = [u for u in found if u.site_id in (None, by.site_id)]
    return sorted(found, key=lambda u: (u.display_name, u.id))


def sessions_for(session: Session, *, user: User, limit: int = 50) -> list[CalibrationSession]:
    """Sessions `user` scores in or created, newest first (the inspector's queue lists them)."""
    mine = select(CalibrationParticipant.calibration_id).where(CalibrationParticipant.user_id == user.id)
    return list(session.scalars(select(CalibrationSession).where(
        or_(CalibrationSession.id.in_(mine), CalibrationSession.created_by_id == user.id))
        .order_by(CalibrationSession.id.desc()).limit(limit)))


def participants(session: Session, *, calibration_id: int, user: User) -> list[CalibrationParticipant]:
    """The session's inspectors and expert (who takes part is no secret; their scores are)."""
    get(session, calibration_id=calibration_id, user=user)
    return list(session.scalars(select(CalibrationParticipant)
                                .where(CalibrationParticipant.calibration_id == calibration_id)
                                .order_by(CalibrationParticipant.is_expert, CalibrationParticipant.id)))


def own_evaluation(session: Session, *, calibration_id: int, user: User) -> Evaluation | None:
    """The user's own evaluation in the session, if they started one (none is created)."""
    get(session, calibration_id=calibration_id, user=user)
    return session.scalar(select(Evaluation).where(Evaluation.calibration_id == calibration_id,
                                                   Evaluation.inspector_id == user.id))


def _participant(session: Session, calibration_id: int, user_id: int) -> CalibrationParticipant | None:
    return session.scalar(select(CalibrationParticipant).where(CalibrationParticipant.calibration_id == calibration_id,
                                                               CalibrationParticipant.user_id == user_id))


def _submitted(session: Session, calibration_id: int, user_id: int) -> bool:
    return session.scalar(select(Evaluation.id).where(Evaluation.calibration_id == calibration_id,
                                                      Evaluation.inspector_id == user_id,
                                                      Evaluation.status != "draft")) is not None


def get(session: Session, *, calibration_id: int, user: User) -> CalibrationSession:
    calibration = session.get(CalibrationSession, calibration_id)
    if calibration is None:
        raise NotFound("No such calibration session.")
    if calibration.created_by_id != user.id and _participant(session, calibration_id, user.id) is None \
            and not _overseer(session, user, calibration):
        raise NotFound("No such calibration session.")
    return calibration


def _overseer(session: Session, user: User, calibration: CalibrationSession) -> bool:
    """A supervisor (or above) who may hear the recording follows any session on it."""
    if not permissions.allowed(user.role, permissions.SUPERVISORS):
        return False
    facts = recording_facts(session, recording_id=calibration.recording_id)
    return facts is not None and access.can_hear(session, user=user, facts=facts)


def is_blind(session: Session, *, calibration_id: int, user: User) -> bool:
    """A participant who has not submitted yet: the others' answers stay hidden from them."""
    return _participant(session, calibration_id, user.id) is not None and not _submitted(
        session, calibration_id, user.id)


def may_see_others(session: Session, *, calibration_id: int, user: User) -> bool:
    """Participants see the others' evaluations once they submitted theirs; the session's creator
    and supervisors who are not participants see them at any time."""
    if _participant(session, calibration_id, user.id) is not None:
        return _submitted(session, calibration_id, user.id)
    calibration = session.get(CalibrationSession, calibration_id)
    if calibration is None:
        return False
    return calibration.created_by_id == user.id or _overseer(session, user, calibration)


def _require_unblinded(session: Session, calibration: CalibrationSession, user: User) -> None:
    if not may_see_others(session, calibration_id=calibration.id, user=user):
        if _participant(session, calibration.id, user.id) is not None:
            raise CalibrationBlind()
        raise NotFound("No such calibration session.")


def my_evaluation(session: Session, *, calibration_id: int, by: User) -> Evaluation:
    """The participant's own calibration evaluation (a draft on first call), saved and submitted
    with qa.evaluations.save / submit like any other."""
    calibration = get(session, calibration_id=calibration_id, user=by)
    participant = _participant(session, calibration_id, by.id)
    if participant is None:
        raise PermissionDenied("Only the session's inspectors and expert score it.")
    existing = session.scalar(select(Evaluation).where(Evaluation.calibration_id == calibration_id,
                                                       Evaluation.inspector_id == by.id))
    if existing is not None:
        return existing
    if calibration.status != "open":
        raise ValidationFailed("This calibration session is closed.", field="calibration_id")
    evaluation = evaluations.create_draft(session, recording_id=calibration.recording_id, by=by,
                                          scorecard_id=calibration.scorecard_id, calibration_id=calibration.id)
    evaluation.is_reference = participant.is_expert
    session.flush()
    return evaluation


def submitted_evaluations(session: Session, *, calibration_id: int, user: User) -> list[Evaluation]:
    """Every submitted evaluation of the session; refused (CalibrationBlind) to a participant
    who has not submitted their own."""
    calibration = get(session, calibration_id=calibration_id, user=user)
    _require_unblinded(session, calibration, user)
    return list(session.scalars(select(Evaluation).where(Evaluation.calibration_id == calibration_id,
                                                         Evaluation.status != "draft").order_by(Evaluation.id)))


def _same(a: Answer | None, b: Answer | None) -> bool:
    """Agreement: the same value, both N/A, or both left unanswered (an optional bonus item)."""
    if a is None or b is None:
        return a is None and b is None
    return a.not_applicable == b.not_applicable and a.value == b.value


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"stdev": None, "min": None, "max": None, "range": None}
    return {"stdev": round(statistics.pstdev(values), 2), "min": round(min(values), 2), "max": round(max(values), 2),
            "range": round(max(values) - min(values), 2)}


def report(session: Session, *, calibration_id: int, user: User) -> dict[str, Any]:
    """Per question: agreement with the expert and spread; per inspector: deviation from the
    expert's score; overall: the spread of the inspectors' scores."""
    calibration = get(session, calibration_id=calibration_id, user=user)
    found = submitted_evaluations(session, calibration_id=calibration_id, user=user)
    expert = next((e for e in found if e.inspector_id == calibration.expert_id), None)
    others = [e for e in found if e.inspector_id != calibration.expert_id]
    card = scorecards.get(session, scorecard_id=calibration.scorecard_id)
    rules = scorecards.rules_of(card)
    answers = {e.inspector_id: evaluations.answers_of(e) for e in found}
    reference = answers.get(calibration.expert_id, {}) if expert else {}
    questions = []
    rates: list[float] = []
    for question in card.questions:
        given = {e.inspector_id: answers[e.inspector_id].get(question.id) for e in others}
        agree = [_same(a, reference.get(question.id)) for a in given.values()] if expert else []
        values = [fraction(rules[question.id], a.value) * 100 for a in given.values()
                  if a is not None and a.value is not None and not a.not_applicable]
        rate = round(sum(agree) / len(agree), 4) if agree else None
        if rate is not None:
            rates.append(rate)
        questions.append({
            "question_id": question.id, "code": question.code, "text_en": question.text_en, "text_zh": question.text_zh,
            "expert": _plain(reference.get(question.id)) if expert else None,
            "answers": {str(k): _plain(v) for k, v in given.items()},
            "agreement_rate": rate,
            "spread": _spread(values)})
    inspectors = []
    for evaluation in others:
        mine = answers[evaluation.inspector_id]
        matched = [_same(mine.get(q.id), reference.get(q.id)) for q in card.questions] if expert else []
        deviation = None if expert is None or evaluation.score is None or expert.score is None \
            else round(evaluation.score - expert.score, 2)
        inspectors.append({"inspector_id": evaluation.inspector_id, "evaluation_id": evaluation.id,
                           "score": evaluation.score, "deviation": deviation,
                           "abs_deviation": None if deviation is None else abs(deviation),
                           "agreement_rate": round(sum(matched) / len(matched), 4) if matched else None})
    scores = [e.score for e in others if e.score is not None]
    return {"calibration": describe(calibration), "expert_score": expert.score if expert else None,
            "expert_submitted": expert is not None, "inspectors_submitted": len(others),
            "mean_score": round(statistics.fmean(scores), 2) if scores else None, "spread": _spread(scores),
            "agreement_rate": round(statistics.fmean(rates), 4) if rates else None,
            "questions": questions, "inspectors": inspectors}


def _plain(answer: Answer | None) -> dict[str, Any] | None:
    return None if answer is None else {"value": answer.value, "not_applicable": answer.not_applicable}


def close(session: Session, *, calibration_id: int, by: User) -> CalibrationSession:
    calibration = get(session, calibration_id=calibration_id, user=by)
    if calibration.created_by_id != by.id and not permissions.allowed(by.role, permissions.SUPERVISORS):
        raise PermissionDenied("The session's creator or a supervisor closes it.")
    calibration.status, calibration.closed_at = "closed", clock.now()
    session.flush()
    return calibration


def describe(calibration: CalibrationSession) -> dict[str, Any]:
    return {"id": calibration.id, "recording_id": calibration.recording_id, "scorecard_id": calibration.scorecard_id,
            "title": calibration.title, "expert_id": calibration.expert_id, "created_by_id": calibration.created_by_id,
            "status": calibration.status, "created_at": calibration.created_at.isoformat()}
