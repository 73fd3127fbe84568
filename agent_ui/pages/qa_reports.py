"""QA pages that read across evaluations: calibration sessions (created with a form, blind until
one's own submission) and their report, the team's coverage and trend charts (Chart.js, fed by a
JSON endpoint), and the monthly report with the team leader's analysis and its CSV and PDF
downloads (aggregates only), and the results per agent for the all-staff meeting. Training plans,
coaching and the briefing are in qa_coaching."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from agent_ui import error_pages, i18n
from agent_ui.form_errors import FormError, describe, describe_all
from agent_ui.i18n import N_
from agent_ui.navigation import role_label
from agent_ui.pages import qa_coaching, reminders
from agent_ui.pages.qa_scoring import PostedForm, names, refusal
from agent_ui.templating import render
from core import clock, directory, permissions
from core.auth import DbSession, QAUser, RequireRole, SupervisorUser
from core.errors import DomainError, PermissionDenied, ValidationFailed
from core.models import Role, User
from core.organisation import Team, list_teams
from qa import assignments, calibration, meeting, reports, settings

router = APIRouter()
router.include_router(qa_coaching.router)

# Team leaders read their team's coverage and report; inspectors and managers any in their scope.
QAOrLeader = Annotated[User, Depends(RequireRole(*(permissions.QA | permissions.TEAM_LEADERS)))]


# Calibration ----------------------------------------------------------------------------------

# The fields of the new calibration form, by the service's names of them.
CALIBRATION_FIELDS = {"recording_id": "recording_id", "inspector_ids": "inspector_ids", "expert_id": "expert_id"}


def _new_calibration(request: Request, session: Session, user: User, *, status_code: int = 200,
                     errors: dict[str, FormError] | None = None, typed: dict[str, Any] | None = None) -> Response:
    typed = typed or {"recording_id": request.query_params.get("recording_id", "")[:12], "title": "",
                      "inspector_ids": [], "expert_id": ""}
    context = {"candidates": calibration.candidates(session, by=user), "errors": errors or {}, "typed": typed,
               "role_word": role_label}
    return render(request, "qa/calibration_new.html", context, status_code=status_code)


@router.get("/qa/calibrations/new", include_in_schema=False)
def new_calibration(request: Request, session: DbSession, user: QAUser) -> Response:
    """The form: a recording, the inspectors invited, and the expert whose evaluation is the reference."""
    return _new_calibration(request, session, user)


@router.post("/qa/calibrations", include_in_schema=False)
def create_calibration(request: Request, session: DbSession, user: QAUser, form: PostedForm) -> Response:
    typed: dict[str, Any] = {"recording_id": str(form.get("recording_id", "")).strip()[:12],
                             "title": str(form.get("title", ""))[:200],
                             "inspector_ids": [str(i) for i in form.getlist("inspector_ids") if str(i).isdigit()],
                             "expert_id": str(form.get("expert_id", "")).strip()}
    try:
        if not typed["recording_id"].isdigit():
            raise ValidationFailed("Type a recording number.", field="recording_id")
        created = calibration.create(session, recording_id=int(typed["recording_id"]),
                                     inspector_ids=[int(i) for i in typed["inspector_ids"]],
                                     expert_id=int(typed["expert_id"]) if typed["expert_id"].isdigit() else None,
                                     by=user, title=typed["title"])
    except DomainError as exc:
        session.rollback()
        # QAUser may run sessions, so a refusal of no field is about the recording (not one they may hear).
        errors = describe_all(exc, fields=CALIBRATION_FIELDS, fallback_field="recording_id")
        return _new_calibration(request, session, user, status_code=422, errors=errors, typed=typed)
    return RedirectResponse(f"/qa/calibrations/{created.id}", status_code=303)


@router.get("/qa/calibrations/{calibration_id}", include_in_schema=False)
def calibration_page(request: Request, session: DbSession, user: QAUser, calibration_id: int) -> Response:
    try:
        found = calibration.get(session, calibration_id=calibration_id, user=user)
        participants = calibration.participants(session, calibration_id=found.id, user=user)
        own = calibration.own_evaluation(session, calibration_id=found.id, user=user)
    except DomainError as exc:
        return refusal(request, exc)
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
    """The teams whose QA `user` reads: a team leader's own, else their site's (all without a site)."""
    if user.role == Role.team_leader.value:
        team = directory.get_team(session, team_id=user.team_id) if user.team_id else None
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


def _coverage_page(request: Request, session: Session, user: User, *, team_id: str, month: str,
                   status_code: int = 200, minimum_error: str = "") -> Response:
    teams, chosen = _team_id(session, user, team_id)
    key = _month(request, month)
    context: dict[str, Any] = {"teams": teams, "team_id": chosen, "month": key, "figures": None, "month_error": "",
                               "may_set_minimum": settings.may_set_minimum(user), "minimum_error": minimum_error,
                               "minimum_range": settings.MINIMUM_RANGE,
                               "reminders": reminders.for_viewer(session, user, locale=i18n.locale_for(request)),
                               "saved": request.query_params.get("saved", "")[:20]}
    if chosen is None:
        return render(request, "qa/coverage.html", context)
    try:
        context["figures"] = assignments.coverage(session, team_id=chosen, month=key, user=user)
    except DomainError as exc:
        if exc.code == "invalid":
            return _invalid_month(request, "qa/coverage.html", context)
        return refusal(request, exc)
    return render(request, "qa/coverage.html", context, status_code=status_code)


@router.get("/qa/coverage", include_in_schema=False)
def coverage_page(request: Request, session: DbSession, user: QAOrLeader, team_id: str = "",
                  month: str = "") -> Response:
    """Planned against evaluated per agent; from the 20th, agents still below the team's
    minimum are flagged. Supervisors set the team's minimum here."""
    return _coverage_page(request, session, user, team_id=team_id, month=month)


@router.post("/qa/coverage/minimum", include_in_schema=False)
def set_minimum(request: Request, session: DbSession, user: QAOrLeader, team_id: Annotated[str, Form()] = "",
                month: Annotated[str, Form()] = "", per_agent: Annotated[str, Form()] = "") -> Response:
    try:
        if not team_id.isdigit():
            raise PermissionDenied("No such team.")
        value = int(per_agent) if per_agent.strip().isdigit() else 0
        settings.set_team_minimum(session, team_id=int(team_id), value=value, by=user)
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, PermissionDenied):
            return refusal(request, exc)
        return _coverage_page(request, session, user, team_id=team_id, month=month, status_code=422,
                              minimum_error=N_("Choose 1 to 5 evaluations per agent a month."))
    return RedirectResponse(f"/qa/coverage?team_id={team_id}&month={_month(request, month)}&saved=minimum",
                            status_code=303)


@router.get("/qa/coverage/data.json", include_in_schema=False)
def coverage_data(request: Request, session: DbSession, user: QAOrLeader, team_id: int, month: str) -> Response:
    """What qa-charts.js draws: planned against evaluated per agent, and the team's monthly trend."""
    try:
        figures = assignments.coverage(session, team_id=team_id, month=month, user=user)
        report = reports.monthly_report(session, month=month, team_id=team_id, user=user)
    except DomainError as exc:
        return error_pages.respond(request, 422 if exc.code == "invalid" else 403, exc, as_json=True)
    rows = figures["agents"]
    return JSONResponse({
        "agents": [r["agent_name"] for r in rows], "planned": [r["planned"] for r in rows],
        "evaluated": [r["evaluated"] for r in rows],
        "months": [t["month"] for t in report["trend"]], "averages": [t["average"] for t in report["trend"]],
        "threshold": report["threshold"]}, headers={"Cache-Control": "no-store"})


# The monthly report ---------------------------------------------------------------------------

def _may_write_analysis(user: User) -> bool:
    return user.role == Role.team_leader.value or permissions.allowed(user.role, permissions.SUPERVISORS)


def _monthly_page(request: Request, session: Session, user: User, *, month: str, team_id: str, scope: str,
                  status_code: int = 200, error: FormError | None = None, typed: str | None = None) -> Response:
    teams, chosen = _team_id(session, user, team_id)
    key = _month(request, month)
    by_site = scope == "site" and user.role != Role.team_leader.value and user.site_id is not None
    args: dict[str, Any] = {"site_id": user.site_id} if by_site else {"team_id": chosen}
    query = {"month": key, **{k: v for k, v in args.items() if v is not None}}
    context: dict[str, Any] = {"teams": teams, "team_id": chosen, "month": key, "by_site": by_site,
                               "report": None, "month_error": "", "query": query,
                               "can_site": user.role != Role.team_leader.value and user.site_id is not None,
                               "may_write": _may_write_analysis(user), "error": error, "typed": typed,
                               "analysis_limit": reports.MAX_ANALYSIS,
                               "may_see_meeting": permissions.allowed(user.role, permissions.SUPERVISORS),
                               "saved": request.query_params.get("saved", "")[:20],
                               "reminders": reminders.for_viewer(session, user, locale=i18n.locale_for(request))}
    if not by_site and chosen is None:
        return render(request, "qa/monthly.html", context)
    try:
        context["report"] = reports.monthly_report(session, month=key, user=user, **args)
    except DomainError as exc:
        if exc.code == "invalid":
            return _invalid_month(request, "qa/monthly.html", context)
        return refusal(request, exc)
    return render(request, "qa/monthly.html", context, status_code=status_code)


@router.get("/qa/reports/monthly", include_in_schema=False)
def monthly(request: Request, session: DbSession, user: QAOrLeader, month: str = "", team_id: str = "",
            scope: str = "") -> Response:
    """A team's report (a team leader's own team by default), or the site's for inspectors and
    managers (scope=site)."""
    return _monthly_page(request, session, user, month=month, team_id=team_id, scope=scope)


@router.post("/qa/reports/quality", include_in_schema=False)
def quality_report(request: Request, session: DbSession, user: QAOrLeader, team_id: Annotated[str, Form()] = "",
                   month: Annotated[str, Form()] = "", analysis: Annotated[str, Form()] = "",
                   action: Annotated[str, Form()] = "save") -> Response:
    """The team leader's service-quality analysis, saved as a draft or submitted (due by the 22nd)."""
    try:
        if not team_id.isdigit():
            raise PermissionDenied("No such team.")
        report = reports.save_quality_report(session, team_id=int(team_id), month=month, analysis=analysis,
                                             user=user)
        if action == "submit":
            reports.submit_quality_report(session, team_id=int(team_id), month=month, user=user)
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, PermissionDenied):
            return refusal(request, exc)
        if exc.field == "month":
            return _monthly_page(request, session, user, month=month, team_id=team_id, scope="", status_code=422)
        error = describe(exc, fields={"analysis": "analysis"})
        return _monthly_page(request, session, user, month=month, team_id=team_id, scope="",
                             status_code=422 if exc.code == "invalid" else 409, error=error,
                             typed=analysis[:reports.MAX_ANALYSIS + 100])
    saved = "submitted" if action == "submit" else "analysis"
    return RedirectResponse(f"/qa/reports/monthly?team_id={report.team_id}&month={report.month}&saved={saved}"
                            "#analysis", status_code=303)


# The all-staff meeting ------------------------------------------------------------------------

def _last_month(request: Request) -> str:
    zone = i18n.zone_for(getattr(request.state, "viewer", None))
    first = clock.now().astimezone(ZoneInfo(zone)).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


@router.get("/qa/reports/meeting", include_in_schema=False)
def meeting_page(request: Request, session: DbSession, user: SupervisorUser, month: str = "") -> Response:
    """Last month's QA results per agent for the all-staff meeting (before the 25th), with a CSV."""
    key = month[:7] if month else _last_month(request)
    context: dict[str, Any] = {"month": key, "results": None, "month_error": "",
                               "reminders": reminders.for_viewer(session, user, locale=i18n.locale_for(request))}
    try:
        context["results"] = meeting.results(session, month=key, user=user)
        context["meeting_day"] = i18n.format_day(context["results"]["meeting_before"], i18n.locale_for(request))
    except DomainError as exc:
        if exc.code == "invalid":
            return render(request, "qa/meeting.html", {**context, "month_error": N_(
                "Type the month as YYYY-MM, for example 2025-03.")}, status_code=422)
        return refusal(request, exc)
    return render(request, "qa/meeting.html", context)
