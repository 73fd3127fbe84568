"""The agent's side of an evaluation: acknowledging it, or disputing answers short of full marks
within the window, and the arbitration (another inspector or a supervisor) that upholds or revises
it with a reason. Every change keeps the previous score on the timeline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock, directory, permissions
from core.audit import record as audit
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from qa import access, scorecards
from qa.errors import DisputeRefused, EvaluationNotFound, WrongState
from qa.evaluations import answers_of, apply_answers, record_event, score_of
from qa.models import Dispute, Evaluation
from qa.schemas import AnswerIn, parse
from qa.scoring import is_full_marks

__all__ = ["acknowledge", "arbitrate", "arbitrator_candidates", "assign_arbitrator", "describe", "dispute", "get",
           "open_disputes"]


def _agents_own(session: Session, evaluation_id: int, by: User) -> Evaluation:
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None or evaluation.agent_id != by.id or evaluation.calibration_id is not None \
            or evaluation.status == "draft":
        raise EvaluationNotFound("No such evaluation of yours.")
    return evaluation


def acknowledge(session: Session, *, evaluation_id: int, by: User) -> Evaluation:
    """The agent has read the evaluation and accepts it (no dispute after that)."""
    evaluation = _agents_own(session, evaluation_id, by)
    if evaluation.status != "submitted":
        raise WrongState("Only a submitted evaluation can be acknowledged.", params={"status": evaluation.status})
    evaluation.status, evaluation.acknowledged_at = "acknowledged", clock.now()
    session.flush()
    record_event(session, evaluation, kind="acknowledged", actor=by, from_status="submitted",
                 from_score=evaluation.score)
    return evaluation


def dispute(session: Session, *, evaluation_id: int, by: User, question_ids: Iterable[int], reason: str) -> Dispute:
    """Dispute answers that are not at full marks, before the dispute window closes."""
    evaluation = _agents_own(session, evaluation_id, by)
    now = clock.now()
    if evaluation.status != "submitted":
        raise DisputeRefused("Only a submitted evaluation can be disputed.", params={"status": evaluation.status})
    if evaluation.dispute_until is None or now >= evaluation.dispute_until:
        until = evaluation.dispute_until.isoformat() if evaluation.dispute_until else "submission"
        raise DisputeRefused("The dispute window has closed; talk to your team leader instead.",
                             field="evaluation_id", params={"until": until})
    reason = (reason or "").strip()
    ids = list(dict.fromkeys(int(q) for q in question_ids))
    rules = scorecards.rules_of(scorecards.get(session, scorecard_id=evaluation.scorecard_id))
    answers = answers_of(evaluation)
    errors: list[dict[str, object]] = []
    if not reason:
        errors.append({"loc": ["reason"], "msg": "Say why you disagree."})
    if not ids:
        errors.append({"loc": ["question_ids"], "msg": "Choose the answers you dispute."})
    for qid in ids:
        rule, answer = rules.get(qid), answers.get(qid)
        if rule is None or answer is None:
            errors.append({"loc": ["question_ids", qid], "msg": "This question is not answered on the evaluation."})
        elif answer.not_applicable:
            errors.append({"loc": ["question_ids", qid], "msg": "An N/A answer does not count against you."})
        elif is_full_marks(rule, answer):
            errors.append({"loc": ["question_ids", qid], "msg": "This answer already has full marks."})
    if errors:
        raise DisputeRefused(errors)
    item = Dispute(evaluation_id=evaluation.id, agent_id=by.id, question_ids=ids, reason=reason,
                   score_before=evaluation.score)
    session.add(item)
    evaluation.status = "disputed"
    session.flush()
    record_event(session, evaluation, kind="disputed", actor=by, from_status="submitted",
                 from_score=evaluation.score, reason=reason, details={"question_ids": ids, "dispute_id": item.id})
    publish(session, "qa.dispute.opened", {"dispute_id": item.id, "evaluation_id": evaluation.id},
            site_id=evaluation.site_id, team_id=evaluation.team_id)
    audit(session, action="qa.dispute.opened", actor_id=by.id, actor_name=by.username, object_type="qa_evaluation",
          object_id=evaluation.id, details={"dispute_id": item.id, "question_ids": ids})
    return item


def _may_arbitrate(session: Session, user: User, evaluation: Evaluation) -> bool:
    if user.id in (evaluation.inspector_id, evaluation.agent_id):
        return False
    if user.role != Role.qa_inspector.value and not permissions.allowed(user.role, permissions.SUPERVISORS):
        return False
    return access.can_view(session, user=user, evaluation=evaluation)


def get(session: Session, *, dispute_id: int, user: User) -> Dispute:
    item = session.get(Dispute, dispute_id)
    if item is None:
        raise NotFound("No such dispute.")
    access.get_visible(session, evaluation_id=item.evaluation_id, user=user)
    return item


def assign_arbitrator(session: Session, *, dispute_id: int, arbitrator_id: int, by: User) -> Dispute:
    """A supervisor names who arbitrates: another inspector or a supervisor, never the author."""
    if not permissions.allowed(by.role, permissions.SUPERVISORS):
        raise PermissionDenied("Supervisors and above name the arbitrator.")
    item = get(session, dispute_id=dispute_id, user=by)
    if item.status != "open":
        raise WrongState("This dispute is already decided.")
    evaluation = session.get(Evaluation, item.evaluation_id)
    arbitrator = directory.users_by_id(session, [arbitrator_id]).get(arbitrator_id)
    if arbitrator is None or evaluation is None or not arbitrator.is_active \
            or not _may_arbitrate(session, arbitrator, evaluation):
        raise ValidationFailed("The arbitrator is another inspector or a supervisor of this site, not the author.",
                               field="arbitrator_id")
    previous, item.arbitrator_id = item.arbitrator_id, arbitrator.id
    session.flush()
    publish(session, "qa.dispute.assigned", {"dispute_id": item.id, "evaluation_id": item.evaluation_id},
            user_id=arbitrator.id)
    audit(session, action="qa.dispute.assigned", actor_id=by.id, actor_name=by.username, object_type="qa_evaluation",
          object_id=item.evaluation_id, details={"dispute_id": item.id, "arbitrator_id": arbitrator.id,
                                                 "previous_arbitrator_id": previous})
    return item


def arbitrator_candidates(session: Session, *, dispute_id: int, by: User) -> list[User]:
    """Whom a supervisor may name for the dispute: active QA inspectors and managers who may see
    the evaluation and are neither its author nor its agent."""
    if not permissions.allowed(by.role, permissions.SUPERVISORS):
        raise PermissionDenied("Supervisors and above name the arbitrator.")
    item = get(session, dispute_id=dispute_id, user=by)
    evaluation = session.get(Evaluation, item.evaluation_id)
    if evaluation is None:
        return []
    people = [u for role in (Role.qa_inspector, Role.supervisor, Role.center_head)
              for u in directory.list_users(session, role=role)]
    return sorted((u for u in people if _may_arbitrate(session, u, evaluation)), key=lambda u: (u.display_name, u.id))


def arbitrate(session: Session, *, dispute_id: int, by: User, decision: str, reason: str,
              answers: Iterable[AnswerIn | Mapping[str, Any]] = ()) -> Evaluation:
    """Uphold the evaluation or revise the disputed answers; either way with a reason, and the
    timeline keeps the score before the decision."""
    item = session.get(Dispute, dispute_id)
    evaluation = session.get(Evaluation, item.evaluation_id) if item else None
    if item is None or evaluation is None:
        raise NotFound("No such dispute.")
    if not _may_arbitrate(session, by, evaluation):
        raise PermissionDenied("Another inspector or a supervisor arbitrates; not the evaluation's author or agent.")
    if item.arbitrator_id not in (None, by.id) and not permissions.allowed(by.role, permissions.SUPERVISORS):
        raise PermissionDenied("This dispute is assigned to another arbitrator.")
    if item.status != "open" or evaluation.status != "disputed":
        raise WrongState("This dispute is already decided.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Give the reason for the decision.", field="reason")
    if decision not in ("uphold", "revise"):
        raise ValidationFailed("Decide 'uphold' or 'revise'.", field="decision")
    before, changes = evaluation.score, {}
    if decision == "revise":
        parsed = [parse(AnswerIn, a) for a in answers]
        outside = [a.question_id for a in parsed if a.question_id not in item.question_ids]
        if not parsed or outside:
            raise ValidationFailed("A revision changes only the disputed answers, and at least one of them.",
                                   field="answers")
        old = answers_of(evaluation)
        apply_answers(session, evaluation, parsed)
        session.flush()
        result = score_of(session, evaluation)
        if result.missing or result.score is None:
            raise ValidationFailed("A revised evaluation still answers every scored question.", field="answers")
        evaluation.score, evaluation.base_score = result.score, result.base_score
        evaluation.bonus_points, evaluation.auto_failed = result.bonus_points, result.auto_failed
        changes = {str(a.question_id): {"from": _plain(old.get(a.question_id)),
                                        "to": {"value": a.value, "not_applicable": a.not_applicable}}
                   for a in parsed}
    now = clock.now()
    item.status = "revised" if decision == "revise" else "upheld"
    item.decided_by_id, item.decided_at, item.decision_reason = by.id, now, reason
    item.score_before, item.score_after = before, evaluation.score
    evaluation.status, evaluation.resolved_at = "resolved", now
    session.flush()
    record_event(session, evaluation, kind=item.status, actor=by, from_status="disputed", from_score=before,
                 reason=reason, details={"dispute_id": item.id, "changes": changes})
    if decision == "revise":
        from qa import coaching

        coaching.on_scored(session, evaluation=evaluation)
    publish(session, "qa.dispute.decided", {"dispute_id": item.id, "evaluation_id": evaluation.id,
                                            "decision": item.status}, user_id=evaluation.agent_id)
    audit(session, action=f"qa.dispute.{item.status}", actor_id=by.id, actor_name=by.username,
          object_type="qa_evaluation", object_id=evaluation.id,
          details={"dispute_id": item.id, "score_before": before, "score_after": evaluation.score})
    return evaluation


def _plain(answer: Any) -> dict[str, Any] | None:
    return None if answer is None else {"value": answer.value, "not_applicable": answer.not_applicable}


def open_disputes(session: Session, *, user: User, limit: int = 200) -> list[Dispute]:
    """Disputes `user` may decide, oldest first."""
    found = session.scalars(select(Dispute).where(Dispute.status == "open").order_by(Dispute.id).limit(limit))
    result = []
    for item in found:
        evaluation = session.get(Evaluation, item.evaluation_id)
        if evaluation is not None and _may_arbitrate(session, user, evaluation) and (
                item.arbitrator_id in (None, user.id) or permissions.allowed(user.role, permissions.SUPERVISORS)):
            result.append(item)
    return result


def describe(item: Dispute) -> dict[str, Any]:
    def at(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {"id": item.id, "evaluation_id": item.evaluation_id, "agent_id": item.agent_id,
            "question_ids": item.question_ids, "reason": item.reason, "status": item.status,
            "arbitrator_id": item.arbitrator_id, "decided_by_id": item.decided_by_id,
            "decided_at": at(item.decided_at), "decision_reason": item.decision_reason,
            "score_before": item.score_before, "score_after": item.score_after, "created_at": at(item.created_at)}
