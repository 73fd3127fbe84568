"""Monthly QA figures: per agent (average, trend over the last months, by question) for a team, a
site or the whole center, and the team leader's service-quality analysis report due by the 22nd
of the following month. Aggregates only: no customer or call detail."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock, directory, organisation, permissions
from core.config import get_settings
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import Role, User
from core.organisation import Team, list_teams
from qa import access, stats
from qa.errors import WrongState
from qa.models import QualityReport
from qa.sampling import month_bounds, parse_month
from qa.settings import policy
from tickets import escalation

__all__ = ["describe_quality_report", "monthly_report", "quality_report", "remind_due", "save_quality_report",
           "submit_quality_report"]

MAX_ANALYSIS = 20_000
BUCKETS = ((0, 60), (60, 70), (70, 80), (80, 90), (90, 100.01))


def _key(year: int, number: int) -> str:
    return f"{year:04d}-{number:02d}"


def _previous(year: int, number: int, count: int) -> list[str]:
    keys = []
    for _ in range(count):
        keys.append(_key(year, number))
        year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    return list(reversed(keys))


def _scope(session: Session, user: User, team_id: int | None, site_id: int | None) -> tuple[dict[str, Any], str, str]:
    """The filter, the time zone and a label for the report's scope, if `user` may read it."""
    if team_id is not None:
        team = access.require_team(session, user=user, team_id=team_id, action="read this team's QA report")
        return {"team_id": team.id}, team.site.timezone, f"team:{team.id}"
    if site_id is not None:
        try:
            site = organisation.get_site(session, site_id=site_id)
        except NotFound:
            site = None
        if user.role in (Role.center_head.value, Role.admin.value):
            allowed = True
        elif user.role in (Role.supervisor.value, Role.qa_inspector.value):
            allowed = user.site_id == site_id or (user.role == Role.supervisor.value and user.site_id is None)
        else:
            allowed = False
        if site is None or not allowed:
            raise PermissionDenied("You may not read this site's QA report.")
        return {"site_id": site.id}, site.timezone, f"site:{site.id}"
    if user.role not in (Role.center_head.value, Role.admin.value) and not (
            user.role == Role.supervisor.value and user.site_id is None):
        raise PermissionDenied("The whole center's QA report is for the center head; choose a site or a team.")
    return {}, get_settings().timezone, "center"


def monthly_report(session: Session, *, month: str | date, user: User, team_id: int | None = None,
                   site_id: int | None = None) -> dict[str, Any]:
    """Per agent: evaluations, average, lowest, highest, auto-fails, the trend over the last
    months and the average by question; for the scope: the same figures, the distribution of
    scores, the weakest questions and who is below the threshold."""
    scope, zone, label = _scope(session, user, team_id, site_id)
    year, number = parse_month(month)
    key = _key(year, number)
    rules = policy(session)
    start, end = month_bounds(key, zone)
    months = [(k, *month_bounds(k, zone)) for k in _previous(year, number, rules.trend_months)]
    averages = stats.agent_averages(session, start, end, **scope)
    by_question = stats.agent_question_averages(session, start, end, **scope)
    trend = stats.monthly_series(session, months, by_agent=True, **scope)
    overall_trend = stats.monthly_series(session, months, by_agent=False, **scope).get("all", {})
    questions = stats.question_averages(session, start, end, **scope)
    ids = set(averages)
    agents = []
    for agent_id, name, agent_team in session.execute(_agents_in(scope)):
        ids.discard(agent_id)
        agents.append(_agent_row(agent_id, name, agent_team, averages, by_question, trend, months))
    for agent_id in sorted(ids):  # evaluated in the scope but moved or no longer an agent
        agents.append(_agent_row(agent_id, None, None, averages, by_question, trend, months))
    scores = [(a["average"], a["evaluations"]) for a in agents if a["average"] is not None]
    total = sum(n for _avg, n in scores)
    distribution = {f"{low:g}-{min(high, 100):g}": sum(1 for a, _n in scores if low <= a < high)
                    for low, high in BUCKETS}
    report = {
        "month": key, "scope": label, "time_zone": zone, "threshold": rules.coaching_threshold,
        "evaluations": total, "agents": agents, "agents_evaluated": len(scores),
        "average": round(sum(a * n for a, n in scores) / total, 2) if total else None,
        "auto_fails": sum(a["auto_fails"] for a in agents),
        "distribution": distribution,
        "trend": [{"month": k, **overall_trend.get(k, {"evaluations": 0, "average": None})} for k, *_ in months],
        "questions": questions,
        "below_threshold": [a["agent_id"] for a in agents
                            if a["average"] is not None and a["average"] < rules.coaching_threshold],
    }
    if "team_id" in scope:
        found = session.scalar(select(QualityReport).where(QualityReport.team_id == scope["team_id"],
                                                           QualityReport.month == key))
        report["quality_report"] = describe_quality_report(found) if found else {
            "status": "missing", "due_on": _due(session, year, number).isoformat()}
    return report


def _agents_in(scope: dict[str, Any]) -> Any:
    """(user_id, display_name, team_id) of the scope's agents (a site's: those of its teams), by name."""
    staff = directory.staff().subquery()
    people = select(staff.c.user_id, staff.c.display_name, staff.c.team_id).where(staff.c.role == Role.agent.value)
    if "team_id" in scope:
        people = people.where(staff.c.team_id == scope["team_id"])
    elif "site_id" in scope:
        places = directory.team_places().subquery()
        people = people.where(staff.c.team_id.in_(select(places.c.team_id).where(places.c.site_id == scope["site_id"])))
    return people.order_by(staff.c.display_name, staff.c.user_id)


def _agent_row(agent_id: int, name: str | None, team_id: int | None, averages: dict[int, dict[str, Any]],
               by_question: dict[int, dict[str, Any]], trend: dict[Any, dict[str, dict[str, Any]]],
               months: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    figures = averages.get(agent_id, {"evaluations": 0, "average": None, "min": None, "max": None, "auto_fails": 0,
                                      "with_bonus": 0})
    series = trend.get(agent_id, {})
    return {"agent_id": agent_id, "agent_name": name, "team_id": team_id, **figures,
            "trend": [{"month": k, "average": series.get(k, {}).get("average")} for k, *_ in months],
            "by_question": by_question.get(agent_id, {})}


# The team leader's service-quality analysis report ---------------------------------------------

def _due(session: Session, year: int, number: int) -> date:
    """Due on the report day (the 22nd) of the following month, before the all-staff meeting."""
    following = (year + 1, 1) if number == 12 else (year, number + 1)
    return date(*following, policy(session).report_due_day)


def _leader_of(session: Session, user: User, team_id: int) -> Team:
    team = access.require_team(session, user=user, team_id=team_id, action="write this team's quality report")
    if user.role != Role.team_leader.value and not permissions.allowed(user.role, permissions.SUPERVISORS):
        raise PermissionDenied("The team leader writes the monthly service-quality analysis report.")
    return team


def quality_report(session: Session, *, team_id: int, month: str, user: User) -> QualityReport:
    """The team's report for the month, created as a draft on first use."""
    team = _leader_of(session, user, team_id)
    year, number = parse_month(month)
    key = _key(year, number)
    report = session.scalar(select(QualityReport).where(QualityReport.team_id == team.id, QualityReport.month == key))
    if report is None:
        report = QualityReport(team_id=team.id, month=key, due_on=_due(session, year, number), author_id=user.id)
        session.add(report)
        session.flush()
    return report


def save_quality_report(session: Session, *, team_id: int, month: str, analysis: str, user: User) -> QualityReport:
    report = quality_report(session, team_id=team_id, month=month, user=user)
    if report.status != "draft":
        raise WrongState("This report is submitted; it can no longer be edited.")
    if len(analysis) > MAX_ANALYSIS:
        raise ValidationFailed("Keep the analysis under %(limit)s characters.", field="analysis",
                               params={"limit": MAX_ANALYSIS})
    report.analysis, report.author_id = analysis, user.id
    session.flush()
    return report


def submit_quality_report(session: Session, *, team_id: int, month: str, user: User) -> QualityReport:
    report = quality_report(session, team_id=team_id, month=month, user=user)
    if report.status != "draft":
        raise WrongState("This report is already submitted.")
    if not report.analysis.strip():
        raise ValidationFailed("Write the analysis before submitting.", field="analysis")
    report.status, report.submitted_at = "submitted", clock.now()
    session.flush()
    escalation.settle(session, key_prefix=f"qa.report_due:{report.team_id}:{report.month}:")
    return report


def remind_due(session: Session) -> int:
    """The sweep's work: from `report_reminder_days` before the report day (the 22nd) until it,
    the team leaders of every team whose report on last month is not submitted are reminded,
    once (each team's site calendar). Returns how many teams were reminded for the first time."""
    rules = policy(session)
    now = clock.now()
    reminded = 0
    for team in list_teams(session):
        today = now.astimezone(ZoneInfo(team.site.timezone)).date()
        due = today.replace(day=rules.report_due_day)
        if not 0 <= (due - today).days <= rules.report_reminder_days:
            continue
        last = (today.replace(day=1) - timedelta(days=1))
        key = _key(last.year, last.month)
        found = session.scalar(select(QualityReport.status).where(QualityReport.team_id == team.id,
                                                                  QualityReport.month == key))
        if found == "submitted":
            continue
        leaders = directory.list_users(session, team_id=team.id, role=Role.team_leader)
        made = escalation.remind(session, user_ids=[u.id for u in leaders], kind="qa.report_due",
                                 key=f"qa.report_due:{team.id}:{key}",
                                 params={"team_id": team.id, "month": key, "due_on": due.isoformat()})
        reminded += 1 if made else 0
    return reminded


def describe_quality_report(report: QualityReport) -> dict[str, Any]:
    submitted = report.submitted_at
    return {"id": report.id, "team_id": report.team_id, "month": report.month, "due_on": report.due_on.isoformat(),
            "status": report.status, "analysis": report.analysis, "author_id": report.author_id,
            "submitted_at": submitted.isoformat() if submitted else None,
            "late": (submitted.date() if submitted else clock.now().date()) > report.due_on}
