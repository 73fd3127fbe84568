"""Scoring a recording: the draft an inspector saves answers and timestamped notes into, its
submission, and what the player page shows (the form, the notes, the call's and ticket's facts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock, permissions
from core.audit import record as audit
from core.errors import Conflict, PermissionDenied
from core.events import publish
from core.models import User
from qa import access, scorecards, sources
from qa.errors import EvaluationNotFound, InvalidAnswers, NotEditable, RecordingNotEligible
from qa.models import Assignment, Evaluation, EvaluationAnswer, EvaluationEvent, EvaluationNote, Scorecard
from qa.schemas import AnswerIn, parse
from qa.scoring import Answer, ScoreResult, check_answers, compute
from qa.settings import policy

__all__ = ["add_note", "answers_of", "create_draft", "describe", "get", "list_for_agent", "notes", "player",
           "record_event", "save", "score_of", "submit", "timeline"]


def record_event(session: Session, evaluation: Evaluation, *, kind: str, actor: User | None,
                 from_status: str | None = None, from_score: float | None = None, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> EvaluationEvent:
    event = EvaluationEvent(evaluation_id=evaluation.id, at=clock.now(), actor_id=actor.id if actor else None,
                            kind=kind, from_status=from_status, to_status=evaluation.status, from_score=from_score,
                            to_score=evaluation.score, reason=reason, details=details or {})
    session.add(event)
    return event


def _require_inspector(user: User) -> None:
    if not permissions.allowed(user.role, permissions.QA):
        raise PermissionDenied("Only QA inspectors, supervisors and above score recordings.")


def create_draft(session: Session, *, recording_id: int, by: User, assignment_id: int | None = None,
                 scorecard_id: int | None = None, calibration_id: int | None = None) -> Evaluation:
    """A draft evaluation of the recording on the active scorecard (or the one given). Each
    recording has one counted evaluation; asking again for your own draft returns it."""
    _require_inspector(by)
    facts = access.require_hear(session, user=by, recording_id=recording_id)
    if not facts.evaluable or facts.agent_id is None or facts.started_at is None:
        raise RecordingNotEligible()
    card = scorecards.get(session, scorecard_id=scorecard_id) if scorecard_id else scorecards.active(session)
    if calibration_id is None:
        existing = session.scalar(select(Evaluation).where(Evaluation.recording_id == recording_id,
                                                           Evaluation.calibration_id.is_(None)))
        if existing is not None:
            if existing.inspector_id == by.id and existing.status == "draft":
                return existing
            raise Conflict("This recording already has an evaluation; open that one instead.")
    assignment = _assignment(session, recording_id=recording_id, assignment_id=assignment_id, by=by) \
        if calibration_id is None else None
    evaluation = Evaluation(scorecard_id=card.id, recording_id=recording_id, call_id=facts.call_id,
                            ticket_id=facts.ticket_id, call_started_at=facts.started_at, agent_id=facts.agent_id,
                            team_id=facts.agent_team_id, site_id=facts.agent_site_id, inspector_id=by.id,
                            assignment_id=assignment.id if assignment else None, calibration_id=calibration_id,
                            status="draft")
    try:
        with session.begin_nested():
            session.add(evaluation)
    except IntegrityError:  # another inspector opened it at the same moment
        raise Conflict("This recording already has an evaluation; open that one instead.") from None
    if assignment is not None:
        assignment.evaluation_id = evaluation.id
    record_event(session, evaluation, kind="created", actor=by,
                 details={"scorecard_id": card.id, "assignment_id": evaluation.assignment_id})
    return evaluation


def _assignment(session: Session, *, recording_id: int, assignment_id: int | None, by: User) -> Assignment | None:
    query = select(Assignment).where(Assignment.recording_id == recording_id)
    if assignment_id is not None:
        query = query.where(Assignment.id == assignment_id)
    assignment = session.scalar(query)
    if assignment is None:
        if assignment_id is not None:
            raise Conflict("That assignment is not for this recording.")
        return None
    if assignment.inspector_id not in (None, by.id) and by.role == "qa_inspector":
        raise PermissionDenied("This recording is assigned to another inspector.")
    assignment.inspector_id = assignment.inspector_id or by.id
    return assignment


def get(session: Session, *, evaluation_id: int, user: User) -> Evaluation:
    return access.get_visible(session, evaluation_id=evaluation_id, user=user)


def _own_draft(session: Session, evaluation_id: int, by: User) -> Evaluation:
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None or evaluation.inspector_id != by.id:
        raise EvaluationNotFound("No such evaluation, or it is not yours to edit.")
    if evaluation.status != "draft":
        raise NotEditable()
    return evaluation


def answers_of(evaluation: Evaluation) -> dict[int, Answer]:
    return {a.question_id: Answer(value=a.value, not_applicable=a.not_applicable) for a in evaluation.answers}


def _parse_answers(answers: Iterable[AnswerIn | Mapping[str, Any]]) -> list[AnswerIn]:
    parsed = [parse(AnswerIn, a) for a in answers]
    ids = [a.question_id for a in parsed]
    if len(ids) != len(set(ids)):
        raise InvalidAnswers("Each question is answered once.", field="answers")
    return parsed


def apply_answers(session: Session, evaluation: Evaluation, answers: Iterable[AnswerIn | Mapping[str, Any]]) -> None:
    """Check the answers against the evaluation's scorecard version and store them; an answer
    with neither a value nor N/A clears the question."""
    parsed = _parse_answers(answers)
    card = session.get(Scorecard, evaluation.scorecard_id)
    assert card is not None
    check_answers(scorecards.rules_of(card), {a.question_id: Answer(a.value, a.not_applicable) for a in parsed})
    existing = {a.question_id: a for a in evaluation.answers}
    for item in parsed:
        row = existing.get(item.question_id)
        if item.value is None and not item.not_applicable:
            if row is not None:
                evaluation.answers.remove(row)
            continue
        if row is None:
            row = EvaluationAnswer(question_id=item.question_id)
            evaluation.answers.append(row)
        row.value, row.not_applicable = item.value, item.not_applicable
        if item.comment is not None:
            row.comment = item.comment or None


def score_of(session: Session, evaluation: Evaluation) -> ScoreResult:
    card = session.get(Scorecard, evaluation.scorecard_id)
    assert card is not None
    return compute(scorecards.rules_of(card).values(), answers_of(evaluation))


def _set_score(evaluation: Evaluation, result: ScoreResult) -> None:
    evaluation.score, evaluation.base_score = result.score, result.base_score
    evaluation.bonus_points, evaluation.auto_failed = result.bonus_points, result.auto_failed


def save(session: Session, *, evaluation_id: int, by: User, answers: Iterable[AnswerIn | Mapping[str, Any]],
         version: int | None = None) -> Evaluation:
    """Save answers into the inspector's draft (partial answers are fine until submitting)."""
    evaluation = _own_draft(session, evaluation_id, by)
    if version is not None and version != evaluation.version:
        raise Conflict("The draft was saved elsewhere in the meantime; reload it.")
    apply_answers(session, evaluation, answers)
    session.flush()
    _set_score(evaluation, score_of(session, evaluation))
    session.flush()
    return evaluation


def submit(session: Session, *, evaluation_id: int, by: User) -> Evaluation:
    """Submit the draft: every scored question answered (or N/A where allowed). The agent may
    then acknowledge or dispute it within the dispute window."""
    evaluation = _own_draft(session, evaluation_id, by)
    result = score_of(session, evaluation)
    if result.missing:
        raise InvalidAnswers([{"loc": ["answers", qid],
                               "msg": "Answer this question (or N/A where allowed) before submitting."}
                              for qid in result.missing])
    if result.score is None:
        raise InvalidAnswers("Answer at least one scored question with something other than N/A.", field="answers")
    now = clock.now()
    _set_score(evaluation, result)
    evaluation.status, evaluation.submitted_at = "submitted", now
    if evaluation.counts:
        evaluation.dispute_until = now + timedelta(days=policy(session).dispute_window_days)
        if evaluation.assignment_id is not None:
            assignment = session.get(Assignment, evaluation.assignment_id)
            if assignment is not None:
                assignment.status = "done"
    session.flush()
    record_event(session, evaluation, kind="submitted", actor=by, from_status="draft",
                 details={"auto_failed": result.auto_failed, "bonus_points": result.bonus_points})
    if evaluation.counts:
        from qa import coaching

        coaching.on_scored(session, evaluation=evaluation)
        publish(session, "qa.evaluation.submitted", {"evaluation_id": evaluation.id, "score": evaluation.score},
                user_id=evaluation.agent_id, team_id=evaluation.team_id, site_id=evaluation.site_id)
    audit(session, action="qa.evaluation.submitted", actor_id=by.id, actor_name=by.username,
          object_type="qa_evaluation", object_id=evaluation.id,
          details={"recording_id": evaluation.recording_id, "score": evaluation.score,
                   "calibration_id": evaluation.calibration_id})
    return evaluation


def add_note(session: Session, *, evaluation_id: int, by: User, at_seconds: int, body: str,
             question_id: int | None = None) -> EvaluationNote:
    """A note pinned to a moment of the recording, while the evaluation is a draft."""
    evaluation = _own_draft(session, evaluation_id, by)
    body = (body or "").strip()
    if not body or at_seconds < 0:
        raise InvalidAnswers("A note needs some text and a moment of the recording (seconds from 0).", field="body")
    if question_id is not None and question_id not in scorecards.rules_of(scorecards.get(
            session, scorecard_id=evaluation.scorecard_id)):
        raise InvalidAnswers("That question is not on this evaluation's scorecard.", field="question_id")
    note = EvaluationNote(evaluation_id=evaluation.id, author_id=by.id, at_seconds=at_seconds, body=body,
                          question_id=question_id)
    session.add(note)
    session.flush()
    return note


def notes(session: Session, *, evaluation_id: int, user: User) -> list[EvaluationNote]:
    get(session, evaluation_id=evaluation_id, user=user)
    return list(session.scalars(select(EvaluationNote).where(EvaluationNote.evaluation_id == evaluation_id)
                                .order_by(EvaluationNote.at_seconds, EvaluationNote.id)))


def timeline(session: Session, *, evaluation_id: int, user: User) -> list[EvaluationEvent]:
    get(session, evaluation_id=evaluation_id, user=user)
    return list(session.scalars(select(EvaluationEvent).where(EvaluationEvent.evaluation_id == evaluation_id)
                                .order_by(EvaluationEvent.id)))


def list_for_agent(session: Session, *, agent_id: int, user: User, limit: int = 100) -> list[Evaluation]:
    """An agent's counted, submitted evaluations that `user` may see, newest first."""
    query = (select(Evaluation).where(Evaluation.agent_id == agent_id, Evaluation.calibration_id.is_(None),
                                      Evaluation.status != "draft")
             .order_by(Evaluation.submitted_at.desc(), Evaluation.id.desc()).limit(max(1, min(limit, 500))))
    return [e for e in session.scalars(query) if access.can_view(session, user=user, evaluation=e)]


def _at(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def describe(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "id": evaluation.id, "status": evaluation.status, "scorecard_id": evaluation.scorecard_id,
        "recording_id": evaluation.recording_id, "call_id": evaluation.call_id, "ticket_id": evaluation.ticket_id,
        "agent_id": evaluation.agent_id, "team_id": evaluation.team_id, "inspector_id": evaluation.inspector_id,
        "assignment_id": evaluation.assignment_id, "calibration_id": evaluation.calibration_id,
        "is_reference": evaluation.is_reference, "counts": evaluation.counts, "score": evaluation.score,
        "base_score": evaluation.base_score, "bonus_points": evaluation.bonus_points,
        "bonus_flagged": evaluation.bonus_points > 0, "auto_failed": evaluation.auto_failed,
        "call_started_at": _at(evaluation.call_started_at), "submitted_at": _at(evaluation.submitted_at),
        "dispute_until": _at(evaluation.dispute_until), "acknowledged_at": _at(evaluation.acknowledged_at),
        "resolved_at": _at(evaluation.resolved_at), "version": evaluation.version,
        "answers": [{"question_id": a.question_id, "value": a.value, "not_applicable": a.not_applicable,
                     "comment": a.comment} for a in sorted(evaluation.answers, key=lambda a: a.question_id)],
    }


def describe_note(note: EvaluationNote) -> dict[str, Any]:
    return {"id": note.id, "at_seconds": note.at_seconds, "body": note.body, "question_id": note.question_id,
            "author_id": note.author_id, "created_at": _at(note.created_at)}


def describe_event(event: EvaluationEvent) -> dict[str, Any]:
    return {"id": event.id, "at": _at(event.at), "actor_id": event.actor_id, "kind": event.kind,
            "from_status": event.from_status, "to_status": event.to_status, "from_score": event.from_score,
            "to_score": event.to_score, "reason": event.reason, "details": event.details}


def player(session: Session, *, evaluation_id: int, user: User) -> dict[str, Any]:
    """Everything the player page shows beside the audio: the evaluation with its scorecard and
    live score breakdown, the pinned notes, and the call's and ticket's facts."""
    evaluation = get(session, evaluation_id=evaluation_id, user=user)
    card = scorecards.get(session, scorecard_id=evaluation.scorecard_id)
    result = compute(scorecards.rules_of(card).values(), answers_of(evaluation))
    return {
        "evaluation": describe(evaluation),
        "scorecard": scorecards.describe(card),
        "breakdown": {"applied_weights": result.applied_weights, "missing": list(result.missing),
                      "score": result.score, "auto_failed": result.auto_failed},
        "notes": [describe_note(n) for n in notes(session, evaluation_id=evaluation.id, user=user)],
        "call": sources.call_facts(session, call_id=evaluation.call_id),
        "ticket": sources.ticket_facts(session, ticket_id=evaluation.ticket_id),
        "audio_url": f"/api/qa/recordings/{evaluation.recording_id}/audio",
        "editable": evaluation.status == "draft" and evaluation.inspector_id == user.id,
    }
