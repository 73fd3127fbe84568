"""Rosters: creating one, generating its shifts with the solver as a background job that reports
progress on its RosterJob row and as `roster.progress` events, and reading the result."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import audit, clock
from core.db import session_scope
from core.directory import list_users
from core.errors import ValidationFailed
from core.events import Event, publish, publish_now
from core.models import Role, User
from scheduling import access
from scheduling import days_off as days_off_service
from scheduling import shifts as shift_service
from scheduling.errors import RosterNotFound, RosterRuleViolated
from scheduling.models import LeaveRequest, Roster, RosterJob, Shift
from scheduling.rules.shifts import schedule_violations, week_of
from scheduling.settings import policy
from scheduling.solver import Agent, Candidate, Progress, RosterProblem, solve

log = logging.getLogger("hotline.scheduling.roster")

MAX_DAYS = 62
PROGRESS_EVERY_SECONDS = 0.5


def create(session: Session, *, site_id: int, first_day: date, last_day: date, by: User,
           team_id: int | None = None) -> Roster:
    access.require_role(by, Role.team_leader, "create rosters")
    access.require_site(by, site_id, "create rosters")
    shift_service.site_of(session, site_id)
    if last_day < first_day or (last_day - first_day).days >= MAX_DAYS:
        raise ValidationFailed("A roster covers 1 to %(days)s days, first day before last.", field="last_day",
                               params={"days": MAX_DAYS})
    roster = Roster(site_id=site_id, team_id=team_id, first_day=first_day, last_day=last_day, created_by_id=by.id)
    session.add(roster)
    session.flush()
    return roster


def get(session: Session, *, roster_id: int) -> Roster:
    roster = session.get(Roster, roster_id)
    if roster is None:
        raise RosterNotFound()
    return roster


def list_rosters(session: Session, *, viewer: User, limit: int = 50) -> list[Roster]:
    """The latest rosters the viewer plans: their own site's, every site's for a center head."""
    query = select(Roster).order_by(Roster.first_day.desc(), Roster.id.desc()).limit(min(limit, 500))
    if not access.at_least(viewer, Role.center_head):
        query = query.where(Roster.site_id == viewer.site_id)
    return list(session.scalars(query))


def latest_job(session: Session, *, roster_id: int) -> RosterJob | None:
    """The roster's most recent solver run (the one its page shows), if any."""
    return session.scalar(select(RosterJob).where(RosterJob.roster_id == roster_id)
                          .order_by(RosterJob.id.desc()).limit(1))


def shifts_of_roster(session: Session, *, roster_id: int) -> list[Shift]:
    return list(session.scalars(select(Shift).where(Shift.roster_id == roster_id)
                                .order_by(Shift.start_at, Shift.user_id)))


def horizon_start(roster: Roster, zone: ZoneInfo) -> datetime:
    return datetime.combine(roster.first_day, dtime(0), tzinfo=zone).astimezone(UTC)


def start_generation(session: Session, *, roster_id: int, demand: Mapping[str, Sequence[int]], slot_minutes: int,
                     by: User, time_limit_seconds: float = 30.0, user_ids: Sequence[int] | None = None) -> RosterJob:
    """Queue a solver run. `demand` maps a skill code ("" for anyone) to the agents needed per slot
    of `slot_minutes` from the roster's first local midnight (a forecast's scheduled agents)."""
    roster = get(session, roster_id=roster_id)
    access.require_role(by, Role.team_leader, "generate rosters")
    access.require_site(by, roster.site_id, "generate rosters")
    if slot_minutes not in (15, 30, 60):
        raise ValidationFailed("Slots are 15, 30 or 60 minutes.", field="slot_minutes")
    if not 1 <= time_limit_seconds <= 600:
        raise ValidationFailed("The time limit is 1 to 600 seconds.", field="time_limit_seconds")
    codes = [code for code in demand if code]
    unknown = sorted(set(codes) - set(shift_service.skill_ids(session)))
    if unknown:
        raise ValidationFailed("The demand names skills the hub does not know.", field="demand",
                               params={"unknown": unknown})
    if any(n < 0 for needs in demand.values() for n in needs):
        raise ValidationFailed("Demand is a count of agents, 0 or more.", field="demand")
    job = RosterJob(roster_id=roster.id, created_by_id=by.id, params={
        "demand": {code: list(map(int, needs)) for code, needs in demand.items()}, "slot_minutes": slot_minutes,
        "time_limit_seconds": time_limit_seconds, "user_ids": list(user_ids) if user_ids is not None else None,
    })
    session.add(job)
    session.flush()
    from core.worker import enqueue
    from scheduling.tasks import solve_roster

    enqueue(session, solve_roster, job.id)
    return job


def get_job(session: Session, *, job_id: int) -> RosterJob:
    job = session.get(RosterJob, job_id)
    if job is None:
        raise RosterNotFound("No such roster job.")
    return job


# Building the problem --------------------------------------------------------------------------

def _agents(session: Session, roster: Roster, user_ids: Sequence[int] | None) -> list[User]:
    people = list_users(session, site_id=roster.site_id, team_id=roster.team_id, role=Role.agent)
    wanted = set(user_ids) if user_ids is not None else None
    return sorted((u for u in people if wanted is None or u.id in wanted), key=lambda u: u.id)


def build_problem(session: Session, roster: Roster, params: Mapping[str, Any]) -> tuple[RosterProblem, list]:
    """The solver's plain-data problem, and for each candidate the (template, day) it stands for.
    Shifts people already have in the period (outside this roster) are kept as fixed candidates."""
    zone = shift_service.site_zone(session, roster.site_id)
    origin = horizon_start(roster, zone)
    days = (roster.last_day - roster.first_day).days + 1
    slot = int(params["slot_minutes"])
    templates = shift_service.list_templates(session, site_id=roster.site_id)
    candidates: list[Candidate] = []
    meaning: list[tuple[object, date]] = []

    def minutes(moment: datetime) -> int:
        return int((moment - origin).total_seconds() // 60)

    for offset in range(days):
        day = roster.first_day + timedelta(days=offset)
        for template in templates:
            start, end = shift_service.shift_window(day, template.start_minute, template.length_minutes, zone)
            candidates.append(Candidate(offset, minutes(start), minutes(end), week_of(day), template.id,
                                        template.skill_id, template.job_type))
            meaning.append((template, day))
    users = _agents(session, roster, params.get("user_ids"))
    window_start, window_end = origin, origin + timedelta(days=days + 1)
    agents = []
    for user in users:
        fixed = set()
        for shift in shift_service.shifts_of(session, user_id=user.id, start=window_start - timedelta(days=7),
                                             end=window_end + timedelta(days=7)):
            if shift.roster_id == roster.id and shift.source == "roster" and shift.start_at > clock.now():
                continue  # this roster's own future shifts are what the solver redoes
            candidates.append(Candidate((shift.day - roster.first_day).days, minutes(shift.start_at),
                                        minutes(shift.end_at), week_of(shift.day), None, None, user.job_type))
            meaning.append((shift, shift.day))
            fixed.add(len(candidates) - 1)
        days_off = {(row.day - roster.first_day).days for row in days_off_service.days_off_of(
            session, user_id=user.id, first=roster.first_day, last=roster.last_day)}
        for leave in session.scalars(select(LeaveRequest).where(
                LeaveRequest.user_id == user.id, LeaveRequest.status == "approved",
                LeaveRequest.start_at < window_end, LeaveRequest.end_at > window_start)):
            day = leave.start_at.astimezone(zone).date()
            while day <= leave.end_at.astimezone(zone).date():
                days_off.add((day - roster.first_day).days)
                day += timedelta(days=1)
        agents.append(Agent(user.id, frozenset(shift_service.skill_levels(session, user_id=user.id)), user.job_type,
                            frozenset(days_off), frozenset(fixed)))
    skills = shift_service.skill_ids(session)
    demand: dict[int | None, Sequence[int]] = {(skills[code] if code else None): [int(n) for n in needs]
              for code, needs in dict(params["demand"]).items()}
    rules = policy(session)
    # Room for one more of the longest shift each week, so swaps stay within the weekly hours.
    headroom = max((t.length_minutes for t in templates), default=0) if params.get("swap_headroom", True) else 0
    problem = RosterProblem(agents, candidates, slot, demand, rules.min_rest_minutes, rules.max_weekly_minutes,
                            weekly_headroom_minutes=headroom)
    return problem, meaning


# Why a job failed: stable codes the pages put in words (agent_ui.labels.roster_failure).
NO_TEMPLATES, NO_AGENTS = "roster.no_templates", "roster.no_agents"
NO_SOLUTION, TIME_LIMIT, SOLVER_ERROR = "roster.no_solution", "roster.time_limit", "roster.solver_error"


def _cannot_start(problem: RosterProblem) -> str | None:
    if not any(c.template_id is not None for c in problem.candidates):
        return NO_TEMPLATES
    if not problem.agents:
        return NO_AGENTS
    return None


# Running a job ----------------------------------------------------------------------------------

class _ProgressWriter:
    """Writes the solver's progress to the job row (its own short transactions, at most twice a
    second) and publishes `roster.progress` for live pages."""

    def __init__(self, job_id: int, site_id: int) -> None:
        self.job_id, self.site_id = job_id, site_id
        self.last = 0.0

    def __call__(self, progress: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        with session_scope() as session:
            job = session.get(RosterJob, self.job_id)
            if job is None:
                return
            job.objective, job.bound, job.gap = progress.objective, progress.bound, progress.gap
            job.solutions, job.elapsed_seconds = progress.solutions, round(progress.elapsed_seconds, 3)
        publish_now(Event(topic="roster.progress", site_id=self.site_id, payload={
            "job_id": self.job_id, "objective": progress.objective, "bound": progress.bound,
            "gap": progress.gap, "solutions": progress.solutions, "elapsed_seconds": round(progress.elapsed_seconds, 3),
        }))


def run_job(job_id: int) -> str:
    """The task's body, safe to run twice: a finished job is left alone; a job whose worker died
    mid-run is solved again from the start."""
    with session_scope() as session:
        job = session.get(RosterJob, job_id)
        if job is None or job.status in ("done", "failed"):
            return job.status if job else "missing"
        job.status, job.started_at = "running", clock.now()
        roster = get(session, roster_id=job.roster_id)
        site_id, params = roster.site_id, dict(job.params)
    # The problem is read, and the solver run, outside any write transaction: the job row
    # already says "running", and progress goes to it in short transactions of their own.
    try:
        with session_scope(reader=True) as session:
            problem, meaning = build_problem(session, get(session, roster_id=roster.id), params)
        reason = _cannot_start(problem)
        if reason is not None:
            return _failed(job_id, reason)
        writer = _ProgressWriter(job_id, site_id)
        solution = solve(problem, time_limit_seconds=float(params.get("time_limit_seconds", 30)), on_progress=writer)
    except Exception:  # noqa: BLE001 - a failed solve is recorded on the job for the planner
        log.exception("roster job %s failed", job_id)
        return _failed(job_id, SOLVER_ERROR)
    with session_scope() as session:
        job = session.get(RosterJob, job_id)
        if job is None:  # its roster was deleted while the solver ran
            return "missing"
        roster = get(session, roster_id=job.roster_id)
        if solution.objective is None:
            job.status, job.message = "failed", TIME_LIMIT if solution.status == "UNKNOWN" else NO_SOLUTION
        else:
            _apply(session, roster, problem, meaning, solution.assignments)
            job.status = "done"
            job.objective, job.bound, job.gap = solution.objective, solution.bound, solution.gap
            job.uncovered = solution.uncovered
        job.solutions, job.elapsed_seconds = solution.solutions, round(solution.elapsed_seconds, 3)
        job.solver_status, job.finished_at = solution.status, clock.now()
        publish(session, "roster.finished", {"job_id": job.id, "roster_id": roster.id, "status": job.status,
                                             "uncovered": job.uncovered}, site_id=roster.site_id)
        return job.status


def _failed(job_id: int, reason: str) -> str:
    with session_scope() as session:
        job = session.get(RosterJob, job_id)
        if job is not None:
            job.status, job.message, job.finished_at = "failed", reason, clock.now()
            roster = session.get(Roster, job.roster_id)
            publish(session, "roster.finished", {"job_id": job.id, "roster_id": job.roster_id, "status": "failed",
                                                 "reason": reason}, site_id=roster.site_id if roster else None)
    return "failed"


def _apply(session: Session, roster: Roster, problem: RosterProblem, meaning: list,
           assignments: Sequence[tuple[int, int]]) -> None:
    now = clock.now()
    session.execute(delete(Shift).where(Shift.roster_id == roster.id, Shift.source == "roster", Shift.start_at > now))
    zone = shift_service.site_zone(session, roster.site_id)
    for user_id, index in assignments:
        what, day = meaning[index]
        if isinstance(what, Shift):
            continue  # a fixed shift that already exists
        start, end = shift_service.shift_window(day, what.start_minute, what.length_minutes, zone)
        if start <= now:
            continue
        session.add(Shift(roster_id=roster.id, template_id=what.id, site_id=roster.site_id, user_id=user_id, day=day,
                          kind=what.kind, start_at=start, end_at=end, skill_id=what.skill_id,
                          job_type=what.job_type, source="roster"))
    session.flush()
    audit.record(session, action="roster.generated", object_type="roster", object_id=roster.id,
                 details={"shifts": len(assignments)})


def publish_roster(session: Session, *, roster_id: int, by: User) -> Roster:
    roster = get(session, roster_id=roster_id)
    access.require_role(by, Role.team_leader, "publish rosters")
    access.require_site(by, roster.site_id, "publish rosters")
    # The rules are checked again as a whole: they may have changed since the shifts were made.
    found = schedule_violations([shift_service.facts(s) for s in shifts_of_roster(session, roster_id=roster.id)],
                                policy(session))
    if found:
        raise RosterRuleViolated(found)
    roster.status = "published"
    session.flush()
    publish(session, "roster.published", {"roster_id": roster.id}, site_id=roster.site_id)
    return roster


def assign(session: Session, *, roster_id: int, user_id: int, day: date, template_id: int, by: User) -> Shift:
    """A hand edit: every rule is checked again (see scheduling.shifts.assign)."""
    roster = get(session, roster_id=roster_id)
    if not roster.first_day <= day <= roster.last_day:
        raise ValidationFailed("The day is outside the roster's period.", field="day")
    return shift_service.assign(session, user_id=user_id, day=day, template_id=template_id, by=by, roster_id=roster.id)


def unassign(session: Session, *, roster_id: int, shift_id: int, by: User) -> None:
    shift = shift_service.get(session, shift_id=shift_id)
    if shift.roster_id != roster_id:
        raise RosterNotFound("That shift is not part of this roster.")
    shift_service.unassign(session, shift_id=shift_id, by=by)
