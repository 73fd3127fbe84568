"""Who may hear a recording through QA (`core.listening`'s one rule, with QA's sampling and
calibration handing recordings to inspectors), manage a team's QA, and see an evaluation."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core import directory, listening
from core.errors import PermissionDenied
from core.models import Role, User
from core.organisation import Team
from qa.errors import CalibrationBlind, EvaluationNotFound, RecordingNotAllowed
from qa.models import Assignment, CalibrationParticipant, CalibrationSession, Evaluation
from qa.sources import RecordingFacts, recording_facts

EVERYTHING = (Role.center_head.value, Role.admin.value)


def _in_scope(user: User, *, team_id: int | None, site_id: int | None) -> bool:
    """The site-or-team rule shared by hearing and managing: an inspector or supervisor with
    neither a site nor a team has no standing scope (a supervisor without a site sees all)."""
    if user.role in EVERYTHING:
        return True
    if user.role == Role.supervisor.value:
        return user.site_id is None or user.site_id == site_id
    if user.role == Role.qa_inspector.value:
        return (user.site_id is not None and user.site_id == site_id) or (
            user.team_id is not None and user.team_id == team_id)
    if user.role == Role.team_leader.value:
        return user.team_id is not None and user.team_id == team_id
    return False


def is_assigned(session: Session, *, user: User, recording_id: int) -> bool:
    sampled = exists().where(Assignment.recording_id == recording_id, Assignment.inspector_id == user.id)
    calibrating = exists().where(CalibrationSession.recording_id == recording_id,
                                 CalibrationParticipant.calibration_id == CalibrationSession.id,
                                 CalibrationParticipant.user_id == user.id)
    return bool(session.scalar(select(sampled | calibrating)))


def handed_for_qa(session: Session, user: User, recorded: listening.Recorded) -> bool:
    """`core.listening`'s check for a recording handed to an inspector by sampling or calibration
    (wired by the composition root)."""
    return user.role == Role.qa_inspector.value and is_assigned(session, user=user, recording_id=recorded.recording_id)


def _recorded(facts: RecordingFacts) -> listening.Recorded:
    return listening.Recorded(facts.recording_id, agent_id=facts.agent_id, site_id=facts.agent_site_id)


def can_hear(session: Session, *, user: User, facts: RecordingFacts) -> bool:
    """The one rule of `core.listening`, which every audio route uses too."""
    return listening.may_hear(session, user=user, recorded=_recorded(facts))


def require_hear(session: Session, *, user: User, recording_id: int) -> RecordingFacts:
    facts = recording_facts(session, recording_id=recording_id)
    if facts is None:
        raise RecordingNotAllowed("No such recording, or not one you may hear.")
    try:
        listening.require_hear(session, user=user, recorded=_recorded(facts))
    except listening.ListenRefused:
        raise RecordingNotAllowed() from None
    return facts


def team_of(session: Session, team_id: int) -> Team:
    """The team, or PermissionDenied (a missing team reads the same as another's)."""
    team = directory.get_team(session, team_id=team_id)
    if team is None:
        raise PermissionDenied("No such team, or not one whose QA you manage.")
    return team


def require_team(session: Session, *, user: User, team_id: int, action: str = "manage this team's QA") -> Team:
    """The team, if `user` may plan, read or report on its QA."""
    team = team_of(session, team_id)
    if not _in_scope(user, team_id=team.id, site_id=team.site_id):
        raise PermissionDenied("You may not do this: it belongs to another site or team.", params={"action": action})
    return team


def can_view(session: Session, *, user: User, evaluation: Evaluation) -> bool:
    """Drafts are their author's; a calibration evaluation is seen by the session's creator and,
    once they have submitted their own, its participants; others follow the team scope."""
    if evaluation.inspector_id == user.id:
        return True
    if evaluation.status == "draft":
        return False
    if evaluation.calibration_id is not None:
        from qa.calibration import may_see_others

        return may_see_others(session, calibration_id=evaluation.calibration_id, user=user)
    if evaluation.agent_id == user.id:
        return True
    return _in_scope(user, team_id=evaluation.team_id, site_id=evaluation.site_id) or (
        user.role == Role.qa_inspector.value and is_assigned(session, user=user, recording_id=evaluation.recording_id))


def get_visible(session: Session, *, evaluation_id: int, user: User) -> Evaluation:
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise EvaluationNotFound()
    if not can_view(session, user=user, evaluation=evaluation):
        if evaluation.calibration_id is not None and evaluation.status != "draft":
            from qa.calibration import is_blind

            if is_blind(session, calibration_id=evaluation.calibration_id, user=user):
                raise CalibrationBlind()
        raise EvaluationNotFound()
    return evaluation
