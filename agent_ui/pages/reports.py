"""The reports hub (`/reports`): the reports each role may read, the call figures of a chosen
period (service level, abandonment, calls, handle time per day or week and per team) drawn by
reports-charts.js from `/reports/calls.json` and downloadable as CSV, and the monthly complaint
analysis (`/reports/complaints`). Aggregates only: counts, shares and seconds, never a customer."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from agent_ui import i18n, navigation
from agent_ui.i18n import N_
from agent_ui.templating import is_htmx, render
from core import clock, organisation, permissions
from core.audit import record as audit
from core.auth import ClientIP, DbSession, RequireRole, TeamLeaderUser
from core.db import write_locked
from core.errors import DomainError, PermissionDenied
from core.models import Role, User
from telephony import call_log
from tickets import complaints

router = APIRouter()

PAGE = "reports/page.html"
COMPLAINTS_PAGE = "reports/complaints.html"
DEFAULT_DAYS = 28
WHOLE_CENTER = (Role.center_head.value, Role.admin.value)
ReportReader = Annotated[User, Depends(RequireRole(*(permissions.QA | permissions.TEAM_LEADERS)))]


@dataclass(frozen=True)
class ReportLink:
    key: str
    title: str
    description: str
    path: str
    roles: frozenset[Role]


LINKS = (
    ReportLink("complaints", N_("Monthly complaint analysis"), N_(
        "Complaints by cause, priority and status, reply punctuality, resolution times and the complaint rate."),
        "/reports/complaints", permissions.TEAM_LEADERS),
    ReportLink("customers", N_("Customers and satisfaction"), N_(
        "Members and spending per site, complaint and churn rates, satisfaction, first-contact resolution and the "
        "weekly totals of cases."), "/reports/customers", permissions.TEAM_LEADERS),
    ReportLink("qa_monthly", N_("Monthly QA report"), N_("Scores per agent and per question, with the trend."),
               "/qa/reports/monthly", permissions.QA | permissions.TEAM_LEADERS),
    ReportLink("qa_coverage", N_("QA coverage and trend"), N_("Recordings planned and evaluated per agent."),
               "/qa/coverage", permissions.QA | permissions.TEAM_LEADERS),
    ReportLink("duty_weekly", N_("Weekly duty log"), N_(
        "The day-shift leads' daily figures: system problems, difficult issues and workload."),
        "/duty/weekly", permissions.TEAM_LEADERS),
    ReportLink("calls", N_("Call log"), N_("Every call in your scope, with its outcome and times."), "/calls",
               permissions.AGENTS),
)
MESSAGES = {
    "from": N_("Type the date as YYYY-MM-DD."),
    "to": N_("Type the date as YYYY-MM-DD."),
    "period": N_("The period ends before it starts; choose a later end date."),
    "too_long": N_("Choose a period of at most 366 days."),
    "by": N_("Choose days or weeks."),
    "site": N_("Choose a site from the list."),
    "month": N_("Type the month as YYYY-MM, for example 2025-03."),
}
# The CSV's columns: codes a spreadsheet or a script reads, the same in every language.
CSV_COLUMNS = ("row", "period_start", "team", "calls", "offered", "answered", "abandoned", "left_message",
               "answered_within_target", "service_level", "abandonment_rate", "average_answer_seconds",
               "average_handle_seconds", "callbacks_dialled")


@dataclass
class Period:
    start: str = ""  # "from" in the address
    to: str = ""
    by: str = "day"
    site: str = ""

    def query(self) -> str:
        return urlencode({k: v for k, v in (("from", self.start), ("to", self.to), ("by", self.by),
                                            ("site", self.site)) if v})


def _whole_center(user: User) -> bool:
    return user.role in WHOLE_CENTER


def _read_period(request: Request) -> Period:
    q = request.query_params
    return Period(start=q.get("from", "")[:20], to=q.get("to", "")[:20], by=q.get("by", "day")[:10] or "day",
                  site=q.get("site", "")[:12])


def _day(value: str, name: str, errors: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = MESSAGES[name]
        return None


def _site(session: DbSession, user: User, period: Period, errors: dict[str, str]) -> int | None:
    """The site asked for (center heads and admins choose one or the whole center)."""
    if not period.site:
        return None
    known = {s.id for s in organisation.list_sites(session)}
    if not period.site.isdigit() or int(period.site) not in known or not (
            _whole_center(user) or user.site_id is None or int(period.site) == user.site_id):
        errors["site"] = MESSAGES["site"]
        return None
    return int(period.site)


def _report(session: DbSession, user: User, period: Period) -> tuple[call_log.Report | None, dict[str, str], date,
                                                                          date, str]:
    errors: dict[str, str] = {}
    site_id = _site(session, user, period, errors)
    if "site" not in errors:
        site_id = call_log.report_site(user, site_id)
    zone = organisation.site_timezone(session, site_id)
    today = clock.now().astimezone(ZoneInfo(zone)).date()
    last = (_day(period.to, "to", errors) if period.to else today) or today
    first = (_day(period.start, "from", errors) if period.start else last - timedelta(days=DEFAULT_DAYS - 1)) \
        or last - timedelta(days=DEFAULT_DAYS - 1)
    if period.by not in ("day", "week"):
        errors["by"] = MESSAGES["by"]
    if "from" not in errors and "to" not in errors:
        if last < first:
            errors["to"] = MESSAGES["period"]
        elif (last - first).days >= call_log.MAX_DAYS:
            errors["to"] = MESSAGES["too_long"]
    if errors:
        return None, errors, first, last, zone
    report = call_log.period_report(session, viewer=user, first_day=first, last_day=last, zone=zone,
                                    site_id=site_id, by=period.by)
    return report, errors, first, last, zone


def _links(request: Request, user: User) -> list[ReportLink]:
    return [link for link in LINKS if permissions.allowed(user.role, link.roles)
            and navigation.page_exists(request, link.path)]


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


@router.get("/reports", include_in_schema=False)
def reports_hub(request: Request, session: DbSession, user: ReportReader) -> Response:
    period = _read_period(request)
    report, errors, first, last, zone = _report(session, user, period)
    shown = Period(start=first.isoformat(), to=last.isoformat(), by=period.by if "by" not in errors else "day",
                   site=period.site if "site" not in errors else "")
    context = {
        "links": _links(request, user), "period": period, "shown": shown, "errors": errors, "report": report,
        "first_day": first, "last_day": last, "report_zone": zone,
        "sites": organisation.list_sites(session) if _whole_center(user) else [],
        "site_name": next((s.name for s in organisation.list_sites(session) if report and s.id == report.site_id), ""),
    }
    return render(request, PAGE, context, status_code=422 if errors else 200,
                  block="figures_main" if is_htmx(request) else None)


@router.get("/reports/calls.json", include_in_schema=False)
def calls_json(request: Request, session: DbSession, user: ReportReader) -> Response:
    """What reports-charts.js draws; the same figures as the page's tables."""
    report, errors, _first, _last, _zone = _report(session, user, _read_period(request))
    if report is None:
        return JSONResponse({"errors": errors}, status_code=422, headers={"Cache-Control": "no-store"})
    locale = i18n.locale_for(request)
    periods = report.periods
    return JSONResponse({
        "by": report.by, "zone": report.zone, "target_seconds": report.target_seconds,
        "labels": [p.start.isoformat() for p in periods],
        "calls": [p.calls for p in periods], "answered": [p.answered for p in periods],
        "abandoned": [p.abandoned for p in periods], "left_message": [p.left_message for p in periods],
        "service_level": [_percent(p.service_level) for p in periods],
        "abandonment": [_percent(p.abandonment_rate) for p in periods],
        "handle_seconds": [p.average_handle_seconds for p in periods],
        "answer_seconds": [p.average_answer_seconds for p in periods],
        "teams": [t.name or i18n.gettext(locale, N_("No team of this site")) for t in report.teams],
        "team_answered": [t.answered for t in report.teams],
        "team_handle_seconds": [t.average_handle_seconds for t in report.teams],
    }, headers={"Cache-Control": "no-store"})


def _csv(report: call_log.Report) -> str:
    """One row per day or week, the period's total, then one per team; a BOM so spreadsheet
    programs read UTF-8 (team names may be Chinese)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)

    def cell(value: Any) -> Any:
        return "" if value is None else value

    def period_row(kind: str, p: call_log.PeriodFigures) -> list[Any]:
        return [cell(v) for v in (kind, p.start.isoformat(), "", p.calls, p.offered, p.answered, p.abandoned,
                                  p.left_message, p.within_target, _percent(p.service_level),
                                  _percent(p.abandonment_rate), p.average_answer_seconds, p.average_handle_seconds,
                                  p.callbacks)]

    for p in report.periods:
        writer.writerow(period_row(report.by, p))
    writer.writerow(period_row("total", report.total))
    for t in report.teams:
        writer.writerow([cell(v) for v in ("team", report.first_day.isoformat(), t.name or "(no team of this site)",
                                           "", "", t.answered, "", "", t.within_target, "", "",
                                           t.average_answer_seconds, t.average_handle_seconds, "")])
    return out.getvalue()


@router.get("/reports/calls.csv", include_in_schema=False)
def calls_csv(request: Request, session: DbSession, user: ReportReader, ip: ClientIP) -> Response:
    write_locked(session)  # the export is audited: this read ends with a write
    period = _read_period(request)
    report, errors, first, last, _zone = _report(session, user, period)
    if report is None:
        return reports_hub(request, session, user)
    audit(session, action="report.calls.exported", actor_id=user.id, actor_name=user.username,
          object_type="call_report", object_id=f"site:{report.site_id}" if report.site_id else "center",
          source_ip=ip, details={"from": first.isoformat(), "to": last.isoformat(), "by": report.by})
    scope = f"site-{report.site_id}" if report.site_id else "center"
    name = f"calls-{scope}-{first.isoformat()}-{last.isoformat()}-{report.by}.csv"
    return Response(_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# The monthly complaint analysis ----------------------------------------------------------------

def month_and_site(session: DbSession, user: User, month: str,
                   site: str) -> tuple[Period, dict[str, str], str, int | None]:
    """A monthly report's site (the viewer's, or one a whole-center viewer picked) and month
    (`YYYY-MM`, this month in the site's zone by default), with errors beside the fields."""
    errors: dict[str, str] = {}
    period = Period(site=site[:12])
    site_id = _site(session, user, period, errors)
    if "site" not in errors:
        try:
            site_id = call_log.report_site(user, site_id)
        except PermissionDenied:
            errors["site"] = MESSAGES["site"]
    zone = organisation.site_timezone(session, site_id)
    key = month.strip()[:7] or clock.now().astimezone(ZoneInfo(zone)).strftime("%Y-%m")
    return period, errors, key, site_id


@router.get("/reports/complaints", include_in_schema=False)
def complaint_report(request: Request, session: DbSession, user: TeamLeaderUser, month: str = "",
                     site: str = "") -> Response:
    period, errors, key, site_id = month_and_site(session, user, month, site)
    analysis = None
    if not errors:
        try:
            analysis = complaints.complaint_analysis(session, site_id=site_id, month=key)
        except DomainError:
            errors["month"] = MESSAGES["month"]
    context = {"analysis": analysis, "month": key, "errors": errors, "site": period.site,
               "sites": organisation.list_sites(session) if _whole_center(user) else [],
               "site_name": next((s.name for s in organisation.list_sites(session) if s.id == site_id), "")}
    return render(request, COMPLAINTS_PAGE, context, status_code=422 if errors else 200)
