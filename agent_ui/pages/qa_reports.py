"""QA pages that read across evaluations: calibration sessions (blind until one's own submission)
and their report, the team's coverage and trend charts (Chart.js, fed by a JSON endpoint), and
the monthly report with its CSV and PDF downloads (aggregates only)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from agent_ui import i18n
from agent_ui.i18n import N_
from agent_ui.pages.qa_scoring import names, refusal
from agent_ui.templating import render
from core import clock, permissions
from core.auth import DbSession, QAUser, RequireRole
from core.errors import DomainError
from core.models import Role, Team, User
from core.organisation import list_teams
from qa import assignments, calibration, reports
from qa.models import CalibrationParticipant, CalibrationSession, Evaluation

router = APIRouter()

# Team leaders read their team's coverage and report; inspectors and managers any in their scope.
QAOrLeader = Annotated[User, Depends(RequireRole(*(permissions.QA | permissions.TEAM_LEADERS)))]


def calibrations_for(session: Session, *, user: User) -> list[CalibrationSession]:
    """Sessions `user` scores in or created, newest first (for the queue page)."""
    mine = select(CalibrationParticipant.calibration_id).where(CalibrationParticipant.user_id == user.id)
    return list(session.scalars(select(CalibrationSession).where(
        or_(CalibrationSession.id.in_(mine), CalibrationSession.created_by_id == user.id))
        .order_by(CalibrationSession.id.desc()).limit(50)))


# Calibration ----------------------------------------------------------------------------------

@router.get("/qa/calibrations/{calibration_id}", include_in_schema=False)
def calibration_page(request: Request, session: DbSession, user: QAUser, calibration_id: int) -> Response:
    try:
        found = calibration.get(session, calibration_id=calibration_id, user=user)
    except DomainError as exc:
        return refusal(request, exc)
    participants = list(session.scalars(select(CalibrationParticipant)
                                        .where(CalibrationParticipant.calibration_id == found.id)))
    own = session.scalar(select(Evaluation).where(Evaluation.calibration_id == found.id,
                                                  Evaluation.inspector_id == user.id))
    context = {"calibration": found, "participants": participants, "own": own,
               "is_participant": any(p.user_id == user.id for p in participants),
               "unblinded": calibration.may_see_others(session, calibration_id=found.id, user=user),
               "people": names(session, [p.user_id for p in participants])}
    return render(request, "qa/calibration.html", context)


@router.post("/qa/calibrations/{calibration_id}/evaluation", include_in_schema=False)
def calibration_evaluation(request: Request, session: DbSession, user: QAUser, calibration_id: int) -> Response:
    try:
        own = calibration.my_evaluation(session, calibration_id=calibration_id, by=user)
    except DomainError as exc:
        session.rollback()
        return refusal(request, exc)
    return RedirectResponse(f"/qa/evaluations/{own.id}", status_code=303)


@router.get("/qa/calibrations/{calibration_id}/report", include_in_schema=False)
def calibration_report(request: Request, session: DbSession, user: QAUser, calibration_id: int) -> Response:
    try:
        found = calibration.report(session, calibration_id=calibration_id, user=user)
    except DomainError as exc:
        return refusal(request, exc)
    people = names(session, [i["inspector_id"] for i in found["inspectors"]] + [found["calibration"]["expert_id"]])
    return render(request, "qa/calibration_report.html", {"report": found, "people": people})


# Coverage and trend ---------------------------------------------------------------------------

def _month(request: Request, month: str) -> str:
    if month:
        return month[:7]
    zone = i18n.zone_for(getattr(request.state, "viewer", None))
    return clock.now().astimezone(ZoneInfo(zone)).strftime("%Y-%m")


def _teams(session: Session, user: User) -> list[Team]:
    if user.role == Role.team_leader.value:
        team = session.get(Team, user.team_id) if user.team_id else None
        return [team] if team else []
    if user.site_id is not None:
        return list_teams(session, site_id=user.site_id)
    return list_teams(session)


def _team_id(session: Session, user: User, team_id: str) -> tuple[list[Team], int | None]:
    teams = _teams(session, user)
    if team_id.isdigit():
        return teams, int(team_id)
    return teams, (user.team_id or (teams[0].id if teams else None))


def _invalid_month(request: Request, template: str, context: dict[str, Any]) -> Response:
    return render(request, template, {**context, "month_error": N_("Type the month as YYYY-MM, for example "
                                                                   "2025-03.")}, status_code=422)


@router.get("/qa/coverage", include_in_schema=False)
def coverage_page(request: Request, session: DbSession, user: QAOrLeader, team_id: str = "",
                  month: str = "") -> Response:
    teams, chosen = _team_id(session, user, team_id)
    key = _month(request, month)
    context: dict[str, Any] = {"teams": teams, "team_id": chosen, "month": key, "figures": None, "month_error": ""}
    if chosen is None:
        return render(request, "qa/coverage.html", context)
    try:
        context["figures"] = assignments.coverage(session, team_id=chosen, month=key, user=user)
    except DomainError as exc:
        if exc.code == "invalid":
            return _invalid_month(request, "qa/coverage.html", context)
        return refusal(request, exc)
    return render(request, "qa/coverage.html", context)


@router.get("/qa/coverage/data.json", include_in_schema=False)
def coverage_data(request: Request, session: DbSession, user: QAOrLeader, team_id: int, month: str) -> Response:
    """What qa-charts.js draws: planned against evaluated per agent, and the team's monthly trend."""
    try:
        figures = assignments.coverage(session, team_id=team_id, month=month, user=user)
        report = reports.monthly_report(session, month=month, team_id=team_id, user=user)
    except DomainError as exc:
        return JSONResponse({"detail": exc.message}, status_code=422 if exc.code == "invalid" else 403)
    rows = figures["agents"]
    return JSONResponse({
        "agents": [r["agent_name"] for r in rows], "planned": [r["planned"] for r in rows],
        "evaluated": [r["evaluated"] for r in rows],
        "months": [t["month"] for t in report["trend"]], "averages": [t["average"] for t in report["trend"]],
        "threshold": report["threshold"]}, headers={"Cache-Control": "no-store"})


# The monthly report ---------------------------------------------------------------------------

@router.get("/qa/reports/monthly", include_in_schema=False)
def monthly(request: Request, session: DbSession, user: QAOrLeader, month: str = "", team_id: str = "",
            scope: str = "") -> Response:
    """A team's report (a team leader's own team by default), or the site's for inspectors and
    managers (scope=site)."""
    teams, chosen = _team_id(session, user, team_id)
    key = _month(request, month)
    by_site = scope == "site" and user.role != Role.team_leader.value and user.site_id is not None
    args: dict[str, Any] = {"site_id": user.site_id} if by_site else {"team_id": chosen}
    query = {"month": key, **{k: v for k, v in args.items() if v is not None}}
    context: dict[str, Any] = {"teams": teams, "team_id": chosen, "month": key, "by_site": by_site,
                               "report": None, "month_error": "", "query": query,
                               "can_site": user.role != Role.team_leader.value and user.site_id is not None}
    if not by_site and chosen is None:
        return render(request, "qa/monthly.html", context)
    try:
        context["report"] = reports.monthly_report(session, month=key, user=user, **args)
    except DomainError as exc:
        if exc.code == "invalid":
            return _invalid_month(request, "qa/monthly.html", context)
        return refusal(request, exc)
    return render(request, "qa/monthly.html", context)
