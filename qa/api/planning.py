"""Sampling plans and coverage, the inspector's queue, and calibration sessions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from core.auth import DbSession, QAUser
from qa import access, assignments, calibration, evaluations, sampling, settings
from qa.schemas import CalibrationIn, PlanIn

router = APIRouter()


@router.post("/sampling/plans")
def build_plan(body: PlanIn, session: DbSession, user: QAUser) -> dict[str, Any]:
    result = sampling.build_month(session, team_id=body.team_id, month=body.month, by=user, seed=body.seed)
    plan = result.plan
    return {"id": plan.id, "team_id": plan.team_id, "month": plan.month, "seed": plan.seed,
            "per_agent": plan.per_agent, "targeted_per_agent": plan.targeted_per_agent,
            "weeks_complete": result.weeks_complete, "added_random": result.added_random,
            "added_targeted": result.added_targeted}


@router.get("/sampling/plans/{plan_id}/assignments")
def plan_assignments(plan_id: int, session: DbSession, user: QAUser) -> dict[str, Any]:
    found = assignments.assignments(session, plan_id=plan_id, user=user)
    return {"data": [assignments.describe_assignment(a) for a in found], "count": len(found)}


@router.get("/teams/{team_id}/minimum")
def team_minimum(team_id: int, session: DbSession, user: QAUser) -> dict[str, Any]:
    """The team's monitoring minimum: evaluations per agent per month."""
    access.require_team(session, user=user, team_id=team_id, action="read this team's monitoring minimum")
    return {"team_id": team_id, "per_agent": settings.team_minimum(session, team_id=team_id)}


@router.put("/teams/{team_id}/minimum")
def set_team_minimum(team_id: int, per_agent: int, session: DbSession, user: QAUser) -> dict[str, Any]:
    """Set it (1 to 5); a supervisor of the team's site or above."""
    return {"team_id": team_id,
            "per_agent": settings.set_team_minimum(session, team_id=team_id, value=per_agent, by=user)}


@router.get("/sampling/coverage")
def coverage(team_id: int, month: str, session: DbSession, user: QAUser) -> dict[str, Any]:
    return assignments.coverage(session, team_id=team_id, month=month, user=user)


@router.get("/queue")
def queue(session: DbSession, user: QAUser, include_unassigned: bool = True) -> dict[str, Any]:
    found = assignments.queue(session, user=user, include_unassigned=include_unassigned)
    return {"data": found, "count": len(found)}


@router.post("/calibrations", status_code=201)
def create_calibration(body: CalibrationIn, session: DbSession, user: QAUser) -> dict[str, Any]:
    created = calibration.create(session, recording_id=body.recording_id, inspector_ids=body.inspector_ids,
                                 expert_id=body.expert_id, by=user, title=body.title, scorecard_id=body.scorecard_id)
    return calibration.describe(created)


@router.post("/calibrations/{calibration_id}/evaluation")
def my_calibration_evaluation(calibration_id: int, session: DbSession, user: QAUser) -> dict[str, Any]:
    return evaluations.describe(calibration.my_evaluation(session, calibration_id=calibration_id, by=user))


@router.get("/calibrations/{calibration_id}/evaluations")
def calibration_evaluations(calibration_id: int, session: DbSession, user: QAUser) -> dict[str, Any]:
    found = calibration.submitted_evaluations(session, calibration_id=calibration_id, user=user)
    return {"data": [evaluations.describe(e) for e in found], "count": len(found)}


@router.get("/calibrations/{calibration_id}/report")
def calibration_report(calibration_id: int, session: DbSession, user: QAUser) -> dict[str, Any]:
    return calibration.report(session, calibration_id=calibration_id, user=user)
