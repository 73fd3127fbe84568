"""Forecast, shift templates, rosters (generate as a job, watch progress, edit), adherence."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from pydantic import BaseModel, Field

from core import clock
from core.auth import AdminUser, AgentUser, DbSession, TeamLeaderUser
from scheduling import adherence, roster, settings, shifts
from scheduling.forecast import Targets, staff_interval

DAY_SECONDS = 86_400

router = APIRouter()


class ForecastIn(BaseModel):
    """Bounded to what a hotline can mean: a larger number is a typing error, not a plan (and
    an unbounded float reaches infinity in the queueing models)."""

    calls: list[Annotated[float, Field(ge=0, le=100_000)]] = Field(min_length=1, max_length=2_976)  # a month of 15 min
    aht_seconds: float = Field(gt=0, le=DAY_SECONDS)
    interval_minutes: int = 30
    target_percent: float = Field(default=80.0, gt=0, lt=100)
    target_seconds: float = Field(default=20.0, ge=0, le=DAY_SECONDS)
    shrinkage_percent: float = Field(default=0.0, ge=0, lt=100)
    max_occupancy_percent: float = Field(default=100.0, ge=50, le=100)
    patience_seconds: float | None = Field(default=None, gt=0, le=DAY_SECONDS)


@router.post("/forecast")
def forecast(body: ForecastIn, _user: AgentUser) -> dict[str, Any]:
    targets = Targets(level=body.target_percent / 100, seconds=body.target_seconds,
                      shrinkage=body.shrinkage_percent / 100, max_occupancy=body.max_occupancy_percent / 100,
                      patience_seconds=body.patience_seconds)
    rows = [staff_interval(n, interval_minutes=body.interval_minutes, aht_seconds=body.aht_seconds,
                           targets=targets).as_dict() for n in body.calls]
    for row in rows:
        row.pop("start")
    return {"data": rows, "count": len(rows), "model": "erlang_a" if body.patience_seconds else "erlang_c"}


@router.get("/forecast/history")
def forecast_from_history(session: DbSession, user: TeamLeaderUser, site_id: int, start: date, days: int = 7,
                          weeks: int = 8, interval_minutes: int = 30, target_percent: float = 80.0,
                          target_seconds: float = 20.0, shrinkage_percent: float = 0.0,
                          max_occupancy_percent: float = 100.0, with_abandons: bool = False) -> dict[str, Any]:
    """Staffing per interval of `days` local days from `start`, from the site's last `weeks` weeks
    of calls; Erlang A with the measured patience when `with_abandons` (and anyone abandoned)."""
    from core.errors import ValidationFailed
    from core.organisation import site_timezone
    from scheduling import access
    from scheduling.forecast import forecast as run_forecast
    from scheduling.history_source import profile_for_site

    access.require_site(user, site_id, "forecast")
    if not 1 <= days <= 62:
        raise ValidationFailed("A forecast covers 1 to 62 days.", field="days")
    today = clock.now().astimezone(ZoneInfo(site_timezone(session, site_id))).date()
    basis = profile_for_site(session, site_id=site_id, today=today, weeks=weeks, interval_minutes=interval_minutes)
    patience = basis.patience_seconds if with_abandons else None
    targets = Targets(level=target_percent / 100, seconds=target_seconds, shrinkage=shrinkage_percent / 100,
                      max_occupancy=max_occupancy_percent / 100, patience_seconds=patience)
    rows = [r.as_dict() for r in run_forecast(basis.profile, start=start, days=days, targets=targets)]
    return {"data": rows, "count": len(rows), "model": "erlang_a" if patience else "erlang_c",
            "history": {"first_day": basis.first_day.isoformat(), "last_day": basis.last_day.isoformat(),
                        "offered": basis.offered, "answered": basis.answered, "abandoned": basis.abandoned,
                        "mean_handle_seconds": basis.mean_handle_seconds, "patience_seconds": basis.patience_seconds}}


@router.get("/settings")
def read_settings(session: DbSession, _user: AgentUser) -> dict[str, Any]:
    """The scheduling rules' numbers in force (DOMAIN.md's defaults unless an admin changed them)."""
    return asdict(settings.policy(session))


@router.put("/settings/{key}")
def change_setting(key: str, value: int, session: DbSession, _user: AdminUser) -> dict[str, Any]:
    return asdict(settings.set_value(session, key=key, value=value, by=_user))


class TemplateIn(BaseModel):
    site_id: int
    name: str
    start: str
    length_minutes: int
    kind: str = "day"
    skill_code: str | None = None
    job_type: str = "hotline_agent"


def _template(t: Any) -> dict[str, Any]:
    return {"id": t.id, "site_id": t.site_id, "name": t.name, "kind": t.kind,
            "start": f"{t.start_minute // 60:02d}:{t.start_minute % 60:02d}", "length_minutes": t.length_minutes,
            "skill_id": t.skill_id, "job_type": t.job_type}


def shift_out(s: Any) -> dict[str, Any]:
    return {"id": s.id, "user_id": s.user_id, "site_id": s.site_id, "roster_id": s.roster_id, "day": s.day.isoformat(),
            "kind": s.kind, "start_at": s.start_at.isoformat(), "end_at": s.end_at.isoformat(),
            "template_id": s.template_id, "source": s.source}


@router.post("/templates", status_code=201)
def create_template(body: TemplateIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _template(shifts.create_template(session, by=user, **body.model_dump()))


@router.get("/templates")
def list_templates(site_id: int, session: DbSession, _user: AgentUser) -> dict[str, Any]:
    data = [_template(t) for t in shifts.list_templates(session, site_id=site_id)]
    return {"data": data, "count": len(data)}


@router.get("/shifts/mine")
def my_shifts(first_day: date, last_day: date, session: DbSession, user: AgentUser) -> dict[str, Any]:
    from datetime import UTC, datetime, time, timedelta

    start = datetime.combine(first_day, time(0), tzinfo=UTC) - timedelta(days=1)
    end = datetime.combine(last_day, time(0), tzinfo=UTC) + timedelta(days=2)
    data = [shift_out(s) for s in shifts.shifts_of(session, user_id=user.id, start=start, end=end)
            if first_day <= s.day <= last_day]
    return {"data": data, "count": len(data)}


class RosterIn(BaseModel):
    site_id: int
    first_day: date
    last_day: date
    team_id: int | None = None


def _roster(r: Any) -> dict[str, Any]:
    return {"id": r.id, "site_id": r.site_id, "team_id": r.team_id, "first_day": r.first_day.isoformat(),
            "last_day": r.last_day.isoformat(), "status": r.status}


@router.post("/rosters", status_code=201)
def create_roster(body: RosterIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _roster(roster.create(session, by=user, **body.model_dump()))


@router.get("/rosters/{roster_id}")
def get_roster(roster_id: int, session: DbSession, _user: TeamLeaderUser) -> dict[str, Any]:
    data = _roster(roster.get(session, roster_id=roster_id))
    data["shifts"] = [shift_out(s) for s in roster.shifts_of_roster(session, roster_id=roster_id)]
    return data


class GenerateIn(BaseModel):
    demand: dict[str, list[int]]
    slot_minutes: int = 30
    time_limit_seconds: float = 30.0
    user_ids: list[int] | None = None


def _job(j: Any) -> dict[str, Any]:
    return {"id": j.id, "roster_id": j.roster_id, "status": j.status, "objective": j.objective, "bound": j.bound,
            "gap": j.gap, "solutions": j.solutions, "elapsed_seconds": j.elapsed_seconds,
            "solver_status": j.solver_status, "uncovered": j.uncovered, "message": j.message}


@router.post("/rosters/{roster_id}/jobs", status_code=202)
def generate(roster_id: int, body: GenerateIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _job(roster.start_generation(session, roster_id=roster_id, by=user, **body.model_dump()))


@router.get("/roster-jobs/{job_id}")
def job_progress(job_id: int, session: DbSession, _user: TeamLeaderUser) -> dict[str, Any]:
    return _job(roster.get_job(session, job_id=job_id))


class AssignIn(BaseModel):
    user_id: int
    day: date
    template_id: int


@router.post("/rosters/{roster_id}/shifts", status_code=201)
def assign(roster_id: int, body: AssignIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return shift_out(roster.assign(session, roster_id=roster_id, by=user, **body.model_dump()))


@router.delete("/rosters/{roster_id}/shifts/{shift_id}", status_code=204)
def unassign(roster_id: int, shift_id: int, session: DbSession, user: TeamLeaderUser) -> None:
    roster.unassign(session, roster_id=roster_id, shift_id=shift_id, by=user)


@router.post("/rosters/{roster_id}/publish")
def publish_roster(roster_id: int, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _roster(roster.publish_roster(session, roster_id=roster_id, by=user))


@router.get("/adherence")
def adherence_report(user_id: int, first_day: date, last_day: date, session: DbSession,
                     viewer: TeamLeaderUser) -> dict[str, Any]:
    from core.users import get as get_user
    from scheduling import access

    access.require_site(viewer, get_user(session, user_id=user_id).site_id, "read adherence")
    data = [d.as_dict() for d in adherence.for_team(session, user_ids=[user_id], first=first_day, last=last_day)]
    return {"data": data, "count": len(data)}
