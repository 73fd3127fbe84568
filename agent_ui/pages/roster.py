"""Rosters (`/shifts/rosters`): the calendar by team (a week or a month), hand edits with every
rule re-checked, generation by the solver with its progress polled every second, and the
forecast against the roster (agents needed and scheduled per hour, drawn by roster-chart.js)."""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from agent_ui.pages import scheduling as common
from agent_ui.templating import is_htmx, render
from core.auth import DbSession, TeamLeaderUser
from core.directory import list_users
from core.errors import DomainError, ValidationFailed
from core.models import Role, User
from core.organisation import list_teams
from scheduling import access, history_source
from scheduling import roster as roster_service
from scheduling import shifts as shift_service
from scheduling.forecast import Targets, forecast, interval_starts, staff_interval

router = APIRouter()

LIST, CALENDAR, PROGRESS = "scheduling/rosters.html", "scheduling/roster.html", "scheduling/_progress.html"
# A weekday's calls per hour, from 00:00, for the generation form's first value.
TYPICAL_CALLS = "0,0,0,0,0,0,0,10,30,40,40,35,30,35,40,35,30,25,15,10,5,0,0,0"
# The forecast from call history works on half-hours (the solver's slots then are half-hours too).
HISTORY_SLOT = 30
# What the chart forecasts with before any generation: 80 % in 20 s, 30 % shrinkage.
DEFAULT_TARGETS = Targets(level=0.8, seconds=20, shrinkage=0.3)


def _rosters(session: DbSession, user: User) -> list[Any]:
    return roster_service.list_rosters(session, viewer=user)


def _latest_job(session: DbSession, roster_id: int) -> Any:
    return roster_service.latest_job(session, roster_id=roster_id)


def _roster(session: DbSession, user: User, roster_id: int) -> Any:
    roster = roster_service.get(session, roster_id=roster_id)
    access.require_site(user, roster.site_id, "see rosters")
    return roster


def _period(request: Request, roster: Any) -> tuple[str, date, list[date]]:
    view = "month" if request.query_params.get("view") == "month" else "week"
    start = common.parse_day(request.query_params.get("start"), roster.first_day)
    if view == "month":
        first = start.replace(day=1)
        days = [first + timedelta(days=i) for i in range(calendar.monthrange(first.year, first.month)[1])]
    else:
        first = start - timedelta(days=start.weekday())
        days = [first + timedelta(days=i) for i in range(7)]
    return view, first, days


def _calendar(request: Request, session: DbSession, user: User, roster: Any) -> dict[str, Any]:
    view, first, days = _period(request, roster)
    team_param = request.query_params.get("team", "")
    team_id = roster.team_id or (int(team_param) if team_param.isdigit() else None)
    people = [u for u in list_users(session, site_id=roster.site_id, team_id=team_id) if u.role == Role.agent.value]
    ids = {u.id for u in people}
    cells: dict[tuple[int, date], list[Any]] = {}
    for shift in shift_service.shifts_at_site(session, site_id=roster.site_id, first_day=days[0], last_day=days[-1]):
        if shift.user_id in ids:
            cells.setdefault((shift.user_id, shift.day), []).append(shift)
    # Shifts already given keep a template taken out of use (its name still shows); only those in
    # use are offered for new shifts.
    templates = shift_service.list_templates(session, site_id=roster.site_id, include_inactive=True)
    if view == "month":
        following = (first + timedelta(days=32)).replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
    else:
        following, previous = first + timedelta(days=7), first - timedelta(days=7)
    job = _latest_job(session, roster.id)
    zone = shift_service.site_of(session, roster.site_id).timezone
    basis = history_source.profile_for_site(session, site_id=roster.site_id, today=common.today(zone),
                                            interval_minutes=HISTORY_SLOT)
    return {"roster": roster, "basis": basis, "view": view, "first": first, "days": days, "people": people,
            "cells": cells,
            "templates": {t.id: t for t in templates}, "offered": [t for t in templates if t.active],
            "teams": list_teams(session, site_id=roster.site_id),
            "team_id": team_id, "previous": previous, "following": following, "job": job,
            "status_words": common.STATUS, "typical_calls": TYPICAL_CALLS, "shift_kinds": common.SHIFT_KINDS,
            "query": f"view={view}&start={first.isoformat()}" + (f"&team={team_id}" if team_id else "")}


def _page(request: Request, session: DbSession, user: User, roster_id: int, *, status_code: int = 200,
          errors: dict[str, Any] | None = None, **extra: Any) -> Response:
    roster = _roster(session, user, roster_id)
    context = _calendar(request, session, user, roster)
    context.update(errors=errors or {}, note=common.take_flash(request), **extra)
    response = render(request, CALENDAR, context, status_code=status_code,
                      block="roster_main" if is_htmx(request) else None)
    return common.finish(request, response)


def _done(request: Request, session: DbSession, user: User, roster_id: int, key: str, query: str) -> Response:
    if is_htmx(request):
        return _page(request, session, user, roster_id, note_now=common.DONE[key])
    return common.done(request, f"/shifts/rosters/{roster_id}" + (f"?{query}" if query else ""), key)


def _refused(request: Request, session: DbSession, user: User, roster_id: int, where: str, exc: DomainError,
             **typed: Any) -> Response:
    session.rollback()
    return _page(request, session, user, roster_id, status_code=common.status_for(exc),
                 errors={where: common.refusal(request, exc)}, **typed)


@router.get("/shifts/rosters", include_in_schema=False)
def rosters(request: Request, session: DbSession, user: TeamLeaderUser) -> Response:
    context = {"rosters": _rosters(session, user), "teams": list_teams(session, site_id=user.site_id)
               if user.site_id else [], "status_words": common.STATUS, "errors": {},
               "note": common.take_flash(request)}
    return common.finish(request, render(request, LIST, context))


@router.post("/shifts/rosters", include_in_schema=False)
def create_roster(request: Request, session: DbSession, user: TeamLeaderUser,
                  first_day: Annotated[str, Form()] = "", last_day: Annotated[str, Form()] = "",
                  team_id: Annotated[str, Form()] = "") -> Response:
    first: date | None
    last: date | None
    try:
        first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
    except ValueError:
        first = last = None
    try:
        if first is None or last is None or user.site_id is None:
            raise ValidationFailed("Give the first and the last day.", field="first_day")
        roster = roster_service.create(session, site_id=user.site_id, first_day=first, last_day=last, by=user,
                                       team_id=int(team_id) if team_id.isdigit() else None)
    except DomainError as exc:
        session.rollback()
        context = {"rosters": _rosters(session, user), "teams": list_teams(session, site_id=user.site_id)
                   if user.site_id else [], "status_words": common.STATUS,
                   "errors": {"create": common.refusal(request, exc)},
                   "typed": {"first_day": first_day, "last_day": last_day}}
        return render(request, LIST, context, status_code=common.status_for(exc))
    session.commit()
    return common.done(request, f"/shifts/rosters/{roster.id}", "roster")


@router.get("/shifts/rosters/{roster_id}", include_in_schema=False)
def roster_page(request: Request, session: DbSession, user: TeamLeaderUser, roster_id: int) -> Response:
    return _page(request, session, user, roster_id)


@router.post("/shifts/rosters/{roster_id}/assign", include_in_schema=False)
def assign(request: Request, session: DbSession, user: TeamLeaderUser, roster_id: int,
           user_id: Annotated[str, Form()] = "", day: Annotated[str, Form()] = "",
           template_id: Annotated[str, Form()] = "") -> Response:
    typed: dict[str, Any] = {"user_id": int(user_id) if user_id.isdigit() else None, "day": day,
             "template_id": int(template_id) if template_id.isdigit() else None}
    try:
        if typed["user_id"] is None or typed["template_id"] is None:
            raise ValidationFailed("Choose a person and a shift.", field="user_id")
        try:
            on = date.fromisoformat(day)
        except ValueError:
            raise ValidationFailed("Give the day.", field="day") from None
        roster_service.assign(session, roster_id=roster_id, user_id=typed["user_id"], day=on,
                              template_id=typed["template_id"], by=user)
    except DomainError as exc:
        return _refused(request, session, user, roster_id, "assign", exc, assign_form=typed)
    return _done(request, session, user, roster_id, "assigned", request.url.query)


@router.post("/shifts/rosters/{roster_id}/shifts/{shift_id}/remove", include_in_schema=False)
def unassign(request: Request, session: DbSession, user: TeamLeaderUser, roster_id: int, shift_id: int) -> Response:
    try:
        roster_service.unassign(session, roster_id=roster_id, shift_id=shift_id, by=user)
    except DomainError as exc:
        return _refused(request, session, user, roster_id, "assign", exc)
    return _done(request, session, user, roster_id, "removed", request.url.query)


@router.post("/shifts/rosters/{roster_id}/publish", include_in_schema=False)
def publish(request: Request, session: DbSession, user: TeamLeaderUser, roster_id: int) -> Response:
    try:
        roster_service.publish_roster(session, roster_id=roster_id, by=user)
    except DomainError as exc:
        return _refused(request, session, user, roster_id, "assign", exc)
    return _done(request, session, user, roster_id, "published", request.url.query)


def _demand(roster: Any, zone: str, calls: list[float], aht: float, targets: Targets) -> list[int]:
    """Agents to schedule per hour from the roster's first local midnight, each local hour getting
    the staffing of its hour of the typical day (a DST day has 23 or 25 hours)."""
    per_hour = [staff_interval(n, interval_minutes=60, aht_seconds=aht, targets=targets).scheduled_agents
                for n in calls]
    needs: list[int] = []
    tz = ZoneInfo(zone)
    day = roster.first_day
    while day <= roster.last_day:
        needs += [per_hour[m.astimezone(tz).hour] for m in interval_starts(day, interval_minutes=60, zone=zone)]
        day += timedelta(days=1)
    return needs


def _number(value: str, field: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValidationFailed("Use numbers only.", field=field) from None


def _history_demand(session: DbSession, roster: Any, weeks: int, targets: Targets,
                    with_abandons: bool) -> tuple[int, list[int]]:
    """(slot minutes, agents to schedule per slot from the roster's first local midnight) from
    the site's call history: the weekday × half-hour profile of the last `weeks` weeks."""
    zone = shift_service.site_of(session, roster.site_id).timezone
    basis = history_source.profile_for_site(session, site_id=roster.site_id, today=common.today(zone), weeks=weeks,
                                            interval_minutes=HISTORY_SLOT)
    if basis.offered == 0:
        raise ValidationFailed("There are no calls in that history to forecast from; type the calls per hour "
                               "instead.", field="weeks")
    if with_abandons and basis.patience_seconds is not None:
        targets = replace(targets, patience_seconds=basis.patience_seconds)
    days = (roster.last_day - roster.first_day).days + 1
    rows = forecast(basis.profile, start=roster.first_day, days=days, targets=targets)
    return HISTORY_SLOT, [row.scheduled_agents for row in rows]


@router.post("/shifts/rosters/{roster_id}/generate", include_in_schema=False)
def generate(request: Request, session: DbSession, user: TeamLeaderUser, roster_id: int,
             source: Annotated[str, Form()] = "", weeks: Annotated[str, Form()] = "8",
             with_abandons: Annotated[str, Form()] = "",
             calls: Annotated[str, Form()] = "", aht_seconds: Annotated[str, Form()] = "240",
             target_percent: Annotated[str, Form()] = "80", target_seconds: Annotated[str, Form()] = "20",
             shrinkage_percent: Annotated[str, Form()] = "30", time_limit: Annotated[str, Form()] = "10") -> Response:
    """Demand from the site's call history (the default), or from 24 typed hourly call counts."""
    source = source or ("typed" if calls.strip() else "history")
    typed = {"source": source, "weeks": weeks, "with_abandons": bool(with_abandons), "calls": calls,
             "aht_seconds": aht_seconds, "target_percent": target_percent, "target_seconds": target_seconds,
             "shrinkage_percent": shrinkage_percent, "time_limit": time_limit}
    try:
        roster = _roster(session, user, roster_id)
        if source not in ("history", "typed"):
            raise ValidationFailed("Choose where the demand comes from.", field="source")
        level, seconds = _number(target_percent, "target_percent"), _number(target_seconds, "target_seconds")
        shrinkage, limit = _number(shrinkage_percent, "shrinkage_percent"), _number(time_limit, "time_limit")
        targets = Targets(level=level / 100, seconds=seconds, shrinkage=shrinkage / 100)
        if source == "history":
            if not weeks.strip().isdigit():
                raise ValidationFailed("Give 1 to 26 weeks of history.", field="weeks")
            slot, demand = _history_demand(session, roster, int(weeks), targets, bool(with_abandons))
        else:
            try:
                hourly = [float(x) for x in calls.replace(";", ",").split(",") if x.strip()]
            except ValueError:
                raise ValidationFailed("Use numbers only.", field="calls") from None
            if len(hourly) != 24 or any(n < 0 for n in hourly):
                raise ValidationFailed("Give 24 numbers of calls, one per hour from 00:00.", field="calls")
            aht = _number(aht_seconds, "aht_seconds")
            if aht <= 0:
                raise ValidationFailed("Handle time must be positive.", field="aht_seconds")
            zone = shift_service.site_of(session, roster.site_id).timezone
            slot, demand = 60, _demand(roster, zone, hourly, aht, targets)
        roster_service.start_generation(session, roster_id=roster.id, by=user, slot_minutes=slot,
                                        demand={"": demand}, time_limit_seconds=limit)
    except DomainError as exc:
        return _refused(request, session, user, roster_id, "generate", exc, generate_form=typed)
    session.commit()  # the job is sent to the worker once committed; its progress is polled
    return _done(request, session, user, roster_id, "generating", request.url.query)


@router.get("/shifts/rosters/{roster_id}/jobs/{job_id}", include_in_schema=False)
def progress(request: Request, session: DbSession, user: TeamLeaderUser, roster_id: int, job_id: int) -> Response:
    """The progress fragment htmx polls every second while the solver works."""
    roster = _roster(session, user, roster_id)
    job = roster_service.get_job(session, job_id=job_id)
    if job.roster_id != roster.id:
        return RedirectResponse(f"/shifts/rosters/{roster.id}", status_code=303)
    if not is_htmx(request):
        return RedirectResponse(f"/shifts/rosters/{roster.id}", status_code=303)
    return render(request, PROGRESS, {"roster": roster, "job": job, "status_words": common.STATUS})


@router.get("/shifts/rosters/{roster_id}/coverage.json", include_in_schema=False)
def coverage(request: Request, session: DbSession, user: TeamLeaderUser, roster_id: int) -> JSONResponse:
    """Agents needed and scheduled (this roster's shifts) per slot of the shown days, labelled in
    the site's time. Needed is the latest generation's demand; before any generation, the
    forecast from the last eight weeks of the site's calls at the default targets."""
    roster = _roster(session, user, roster_id)
    _view, _first, days = _period(request, roster)
    zone = shift_service.site_of(session, roster.site_id).timezone
    tz = ZoneInfo(zone)
    job = _latest_job(session, roster.id)
    shifts = roster_service.shifts_of_roster(session, roster_id=roster.id)
    labels, needed, scheduled = [], [], []
    source: str | None
    if job is not None:
        source, slot = "generation", int((job.params or {}).get("slot_minutes", 60))
        demand = list(((job.params or {}).get("demand") or {}).get("", []))
        origin = roster_service.horizon_start(roster, tz)
        moments = [m for day in days for m in interval_starts(day, interval_minutes=slot, zone=zone)]
        for moment in moments:
            index = int((moment - origin).total_seconds() // (slot * 60))
            needed.append(demand[index] if 0 <= index < len(demand) else None)
    else:
        slot = HISTORY_SLOT
        basis = history_source.profile_for_site(session, site_id=roster.site_id, today=common.today(zone),
                                                interval_minutes=slot)
        rows = forecast(basis.profile, start=days[0], days=len(days), targets=DEFAULT_TARGETS) if basis.offered else []
        source = "history" if rows else None
        moments = [m for day in days for m in interval_starts(day, interval_minutes=slot, zone=zone)]
        needed = [row.scheduled_agents for row in rows] if rows else [None] * len(moments)
    for moment in moments:
        labels.append(moment.astimezone(tz).strftime("%m-%d %H:%M"))
        scheduled.append(sum(1 for s in shifts if s.start_at <= moment < s.end_at))
    return JSONResponse({"labels": labels, "needed": needed, "scheduled": scheduled, "source": source,
                         "slot_minutes": slot}, headers={"Cache-Control": "no-store"})
