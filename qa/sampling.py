"""Monthly sampling per team, as set-based SQL: each agent's random picks, the team's monthly
minimum, are ranked by a seeded hash of the recording id and dealt round-robin over the month's
weeks (window functions), then targeted extras (complaints, escalations, low satisfaction, new
agents, very long or short calls) are added on top, as far as the inspectors' capacity allows.
Building again tops the plan up as weeks complete; the stored seed makes it reproducible."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock, directory
from core.audit import record as audit
from core.db import UTCDateTime, table_of
from core.errors import ValidationFailed
from core.models import Role, User
from core.organisation import Team, list_teams
from qa import access, sources
from qa.models import Assignment, Evaluation, SamplingPlan
from qa.settings import Policy, policy, team_minimum, team_minimums

__all__ = ["REASONS", "BuildResult", "build_all", "build_due", "build_month", "capacity", "month_bounds",
           "parse_month", "seeded_hash", "seeded_hash_sql", "week_edges"]

# A multiplicative hash with a squaring step, in integer arithmetic that PostgreSQL and SQLite
# compute alike without overflowing 64 bits: every operand stays below 2**31 before a product.
PRIME = 2147483629
MUL_1, MUL_2 = 48271, 69621
WEEKS = 4  # days 1-7, 8-14, 15-21, 22 to the end: every month has the same four buckets
REASONS = ("complaint", "escalation", "low_satisfaction", "new_agent", "long_call", "short_call")


def seeded_hash(number: int, seed: int) -> int:
    """The Python twin of `seeded_hash_sql`, for tests and previews."""
    x = (number % PRIME * MUL_1 + seed % PRIME) % PRIME
    y = (x * x % PRIME + (seed * 7 + 13) % PRIME) % PRIME
    return (y * MUL_2 + x) % PRIME


def seeded_hash_sql(expr: Any, seed: Any) -> ColumnElement[int]:
    """`seeded_hash` in SQL; `seed` is a number or a column (each plan has its own)."""
    big = cast(expr, BigInteger)
    x = (big % PRIME * MUL_1 + seed % PRIME) % PRIME
    y = (x * x % PRIME + (seed * 7 + 13) % PRIME) % PRIME
    return (y * MUL_2 + x) % PRIME


def parse_month(month: str | date) -> tuple[int, int]:
    if isinstance(month, date):
        return month.year, month.month
    try:
        year, number = (int(part) for part in str(month).split("-"))
        date(year, number, 1)
    except ValueError:
        raise ValidationFailed("A month is written YYYY-MM.", field="month") from None
    return year, number


def month_bounds(month: str | date, zone: str) -> tuple[datetime, datetime]:
    edges = week_edges(month, zone)
    return edges[0], edges[-1]


def week_edges(month: str | date, zone: str) -> list[datetime]:
    """The five instants (UTC) bounding the month's four week buckets in the site's time zone."""
    year, number = parse_month(month)
    tz = ZoneInfo(zone)
    following = date(year + number // 12, number % 12 + 1, 1)
    days = [date(year, number, 1), date(year, number, 8), date(year, number, 15), date(year, number, 22), following]
    return [datetime.combine(d, time(0), tz).astimezone(ZoneInfo("UTC")) for d in days]


@dataclass(frozen=True)
class BuildResult:
    plan: SamplingPlan
    added_random: int
    added_targeted: int
    weeks_complete: int


def _plan(session: Session, team: Team, key: str, seed: int | None, by: User | None, rules: Policy,
          minimum: int) -> SamplingPlan:
    """The team's plan for the month, made on first use with the team's minimum and the settings
    in force (targeted picks come on top of the minimum: it is a floor, not a ceiling)."""
    plan = session.scalar(select(SamplingPlan).where(SamplingPlan.team_id == team.id, SamplingPlan.month == key))
    if plan is not None:
        return plan
    plan = SamplingPlan(team_id=team.id, month=key, seed=seed or secrets.randbelow(PRIME - 1) + 1,
                        per_agent=minimum, targeted_per_agent=rules.targeted_per_agent,
                        min_seconds=rules.min_call_seconds, short_seconds=rules.short_call_seconds,
                        long_seconds=rules.long_call_seconds, low_satisfaction_max=rules.low_satisfaction_max,
                        new_agent_days=rules.new_agent_days, review_days=rules.review_days,
                        created_by_id=by.id if by else None, weeks_built=0)
    try:
        with session.begin_nested():
            session.add(plan)
    except IntegrityError:  # built at the same moment by another worker: use theirs
        plan = session.scalar(select(SamplingPlan).where(SamplingPlan.team_id == team.id, SamplingPlan.month == key))
        assert plan is not None
    return plan


def _week_of(started_at: Any, edges: list[datetime]) -> ColumnElement[int]:
    return case((started_at < edges[1], 0), (started_at < edges[2], 1), (started_at < edges[3], 2), else_=3)


def _due(week: Any, edges: list[datetime], zone: str, review_days: int) -> ColumnElement[date]:
    tz = ZoneInfo(zone)
    dues = [(edges[w + 1].astimezone(tz).date() - timedelta(days=1)) + timedelta(days=review_days)
            for w in range(WEEKS)]
    return case(*[(week == w, literal(d, Date)) for w, d in enumerate(dues[:-1])], else_=literal(dues[-1], Date))


@dataclass(frozen=True)
class _Batch:
    """Plans of one month built in one pass: same time zone (so the same weeks) and review days."""

    plans: list[SamplingPlan]
    edges: list[datetime]
    complete: int
    zone: str
    now: datetime
    agent_ids: list[int] | None = None  # given for a single team
    budgets: dict[int, int] = field(default_factory=dict)  # plan id: targeted picks the inspectors can still take

    @property
    def ids(self) -> list[int]:
        return [p.id for p in self.plans]

    @property
    def team_ids(self) -> list[int]:
        return [p.team_id for p in self.plans]


def _candidates(batch: _Batch) -> Any:
    """Eligible recordings of the batch's agents not yet evaluated nor picked, with their plan's
    parameters, week and seeded hash."""
    # One team: its agents' ids as literals, so the database starts from the calls' agent index;
    # many teams: one pass over the month's calls for all of them.
    staff = directory.staff().subquery("staff")
    agents: Any = batch.agent_ids if batch.agent_ids is not None else select(staff.c.user_id).where(
        staff.c.team_id.in_(batch.team_ids), staff.c.role == Role.agent.value, staff.c.is_active.is_(True))
    base = sources.sampling_candidates(agents=agents, start=batch.edges[0], end=batch.edges[batch.complete],
                                       min_seconds=min(p.min_seconds for p in batch.plans)).subquery("base")
    plans = select(SamplingPlan).where(SamplingPlan.id.in_(batch.ids)).subquery("pl")
    evaluated = exists().where(Evaluation.recording_id == base.c.recording_id, Evaluation.calibration_id.is_(None))
    picked = exists().where(Assignment.recording_id == base.c.recording_id)
    # New in the month: joined fewer than the plan's `new_agent_days` before the month's end.
    joined_since = case(*[(plans.c.id == p.id, literal(batch.edges[-1] - timedelta(days=p.new_agent_days),
                                                        UTCDateTime())) for p in batch.plans])
    new_agent = case((staff.c.joined_at >= joined_since, 1), else_=0)
    return (select(base, plans.c.id.label("plan_id"), plans.c.team_id, plans.c.seed, plans.c.per_agent,
                   plans.c.targeted_per_agent, plans.c.short_seconds, plans.c.long_seconds,
                   plans.c.low_satisfaction_max, new_agent.label("new_agent"),
                   _week_of(base.c.started_at, batch.edges).label("week"),
                   seeded_hash_sql(base.c.recording_id, plans.c.seed).label("h"))
            .select_from(base).join(staff, staff.c.user_id == base.c.agent_id)
            .join(plans, plans.c.team_id == staff.c.team_id)
            .where(~evaluated, ~picked, base.c.duration > plans.c.min_seconds).subquery("cand"))


def _already(batch: _Batch, kind: str, *by: str) -> Any:
    columns = [getattr(Assignment, name) for name in by]
    return (select(*columns, func.count().label("n"))
            .where(Assignment.plan_id.in_(batch.ids), Assignment.kind == kind).group_by(*columns).subquery())


def _insert(session: Session, batch: _Batch, picks: Any, *, kind: str, reason: Any, rank: Any, order: Any) -> None:
    """Insert the picks, each given an inspector of its team in rotation (continuing the plan's)."""
    review_days = batch.plans[0].review_days
    existing = (select(Assignment.plan_id, func.count().label("n")).where(Assignment.plan_id.in_(batch.ids))
                .group_by(Assignment.plan_id).subquery("existing"))
    rotated = (select(picks, reason.label("reason_value"), rank.label("rank_value"),
                      (func.row_number().over(partition_by=picks.c.plan_id, order_by=[picks.c.agent_id, order])
                       + func.coalesce(existing.c.n, 0)).label("rot"))
               .select_from(picks).outerjoin(existing, existing.c.plan_id == picks.c.plan_id).subquery("rotated"))
    teams, staff = directory.team_places().subquery("teams"), directory.staff().subquery("staff")
    inspectors = (select(teams.c.team_id, staff.c.user_id.label("inspector_id"),
                         (func.row_number().over(partition_by=teams.c.team_id, order_by=staff.c.user_id) - 1)
                         .label("idx"), func.count().over(partition_by=teams.c.team_id).label("n"))
                  .select_from(teams)
                  .join(staff, and_(staff.c.role == Role.qa_inspector.value, staff.c.is_active.is_(True),
                                    or_(staff.c.team_id == teams.c.team_id, staff.c.site_id == teams.c.site_id)))
                  .where(teams.c.team_id.in_(batch.team_ids)).subquery("inspectors"))
    rows = (select(rotated.c.plan_id, rotated.c.team_id, rotated.c.agent_id, rotated.c.recording_id,
                   rotated.c.call_id, inspectors.c.inspector_id, rotated.c.week, literal(kind, String),
                   rotated.c.reason_value, rotated.c.rank_value, _due(rotated.c.week, batch.edges, batch.zone,
                                                                      review_days),
                   literal("open", String), literal(batch.now, UTCDateTime()))
            .select_from(rotated).outerjoin(inspectors, and_(inspectors.c.team_id == rotated.c.team_id,
                                                             inspectors.c.idx == rotated.c.rot % inspectors.c.n)))
    columns = ["plan_id", "team_id", "agent_id", "recording_id", "call_id", "inspector_id", "week", "kind", "reason",
               "rank", "due_on", "status", "created_at"]
    session.execute(insert(table_of(Assignment)).from_select(columns, rows))


def _add_random(session: Session, batch: _Batch) -> None:
    cand = _candidates(batch)
    per_week, per_agent = _already(batch, "random", "agent_id", "week"), _already(batch, "random", "agent_id")
    ranked = (select(cand.c.plan_id, cand.c.team_id, cand.c.agent_id, cand.c.recording_id, cand.c.call_id,
                     cand.c.week, ((cand.c.per_agent * batch.complete + WEEKS - 1) / WEEKS).label("target"),
                     (func.row_number().over(partition_by=[cand.c.agent_id, cand.c.week],
                                             order_by=[cand.c.h, cand.c.recording_id])
                      + func.coalesce(per_week.c.n, 0)).label("wrank"),
                     seeded_hash_sql(cand.c.agent_id * WEEKS + cand.c.week, cand.c.seed + 1).label("wkey"))
              .select_from(cand).outerjoin(per_week, and_(per_week.c.agent_id == cand.c.agent_id,
                                                          per_week.c.week == cand.c.week)).subquery("ranked"))
    # Round-robin over the weeks: every week's best pick before any week's second best; the
    # seeded week key decides which weeks get the extra picks when they do not divide evenly.
    dealt = (select(ranked, func.row_number().over(partition_by=ranked.c.agent_id,
                                                   order_by=[ranked.c.wrank, ranked.c.wkey, ranked.c.recording_id])
                    .label("arank"), func.coalesce(per_agent.c.n, 0).label("already"))
             .select_from(ranked).outerjoin(per_agent, per_agent.c.agent_id == ranked.c.agent_id).subquery("dealt"))
    picks = select(dealt).where(dealt.c.arank <= dealt.c.target - dealt.c.already).subquery("picks")
    _insert(session, batch, picks, kind="random", reason=literal("random", String),
            rank=picks.c.already + picks.c.arank, order=picks.c.arank)


def _add_targeted(session: Session, batch: _Batch) -> None:
    cand = _candidates(batch)
    reason_rank = case((cand.c.complaint == 1, 1), (cand.c.escalated == 1, 2),
                       (cand.c.satisfaction <= cand.c.low_satisfaction_max, 3), (cand.c.new_agent == 1, 4),
                       (cand.c.duration >= cand.c.long_seconds, 5), (cand.c.duration <= cand.c.short_seconds, 6),
                       else_=None)
    flagged = select(cand, reason_rank.label("rr")).subquery("flagged")
    per_reason, per_agent = _already(batch, "targeted", "agent_id", "reason"), _already(batch, "targeted", "agent_id")
    label = case(*[(flagged.c.rr == i + 1, name) for i, name in enumerate(REASONS)])
    ranked = (select(flagged, label.label("reason"),
                     (func.row_number().over(partition_by=[flagged.c.agent_id, flagged.c.rr],
                                             order_by=[flagged.c.h, flagged.c.recording_id])
                      + func.coalesce(per_reason.c.n, 0)).label("rrank"))
              .select_from(flagged)
              .outerjoin(per_reason, and_(per_reason.c.agent_id == flagged.c.agent_id, per_reason.c.reason == label))
              .where(flagged.c.rr.is_not(None)).subquery("ranked"))
    # One pick per reason before a second of any reason, so the extras cover different risks.
    dealt = (select(ranked, func.row_number().over(partition_by=ranked.c.agent_id,
                                                   order_by=[ranked.c.rrank, ranked.c.rr, ranked.c.recording_id])
                    .label("trank"), func.coalesce(per_agent.c.n, 0).label("already"))
             .select_from(ranked).outerjoin(per_agent, per_agent.c.agent_id == ranked.c.agent_id).subquery("dealt"))
    wanted = select(dealt).where(dealt.c.trank <= dealt.c.targeted_per_agent - dealt.c.already).subquery("wanted")
    # No ceiling per agent beyond the plan's extras; the team's are bounded by what its inspectors
    # can still take, dealt one per agent before a second to anyone.
    budget = case(*[(wanted.c.plan_id == plan_id, left) for plan_id, left in batch.budgets.items()], else_=0)
    ranked_in_plan = select(wanted, func.row_number().over(
        partition_by=wanted.c.plan_id, order_by=[wanted.c.trank, wanted.c.rr, wanted.c.h, wanted.c.recording_id])
        .label("prank"), budget.label("budget")).subquery("in_plan")
    picks = select(ranked_in_plan).where(ranked_in_plan.c.prank <= ranked_in_plan.c.budget).subquery("picks")
    _insert(session, batch, picks, kind="targeted", reason=picks.c.reason, rank=picks.c.already + picks.c.trank,
            order=picks.c.trank)


def capacity(session: Session, *, team_ids: list[int]) -> dict[int, int]:
    """What the inspectors serving each team can evaluate in a month: `inspector_monthly_capacity`
    each, an inspector of a site shared evenly among the site's teams (the teams they are
    assigned picks of)."""
    per_inspector = policy(session).inspector_monthly_capacity
    sites = {row.team_id: row.site_id for row in session.execute(directory.team_places())}
    staff = directory.staff().subquery()
    shares: dict[int, float] = dict.fromkeys(team_ids, 0.0)
    for inspector in session.execute(select(staff.c.site_id, staff.c.team_id).where(
            staff.c.role == Role.qa_inspector.value, staff.c.is_active.is_(True))):
        served = [team for team, site in sites.items()
                  if team == inspector.team_id or (inspector.site_id is not None and site == inspector.site_id)]
        for team in served:
            if team in shares:
                shares[team] += per_inspector / len(served)
    return {team: int(share + 1e-9) for team, share in shares.items()}


def _budgets(session: Session, plans: list[SamplingPlan], counts: dict[tuple[int, str], int]) -> dict[int, int]:
    """Targeted picks each plan may still add: its team's capacity less the whole month's minimum
    for its agents (always reserved) and the targeted picks already made."""
    team_ids = [p.team_id for p in plans]
    staff = directory.staff().subquery()
    agents: dict[int | None, int] = dict(session.execute(select(staff.c.team_id, func.count()).where(
        staff.c.team_id.in_(team_ids), staff.c.role == Role.agent.value, staff.c.is_active.is_(True))
        .group_by(staff.c.team_id)).all())
    capacities = capacity(session, team_ids=team_ids)
    return {p.id: max(0, capacities[p.team_id] - p.per_agent * agents.get(p.team_id, 0)
                      - counts.get((p.id, "targeted"), 0)) for p in plans}


def _counts(session: Session, ids: list[int]) -> dict[tuple[int, str], int]:
    rows = session.execute(select(Assignment.plan_id, Assignment.kind, func.count())
                           .where(Assignment.plan_id.in_(ids)).group_by(Assignment.plan_id, Assignment.kind))
    return {(plan_id, kind): n for plan_id, kind, n in rows}


def _build(session: Session, plans: list[SamplingPlan], key: str, zone: str,
           by: User | None) -> dict[int, BuildResult]:
    """Pick for plans of one month and time zone, in one pass per kind and review period."""
    now = clock.now()
    edges = week_edges(key, zone)
    complete = sum(1 for edge in edges[1:] if edge <= now)
    before = _counts(session, [p.id for p in plans])
    if complete:
        for review_days in sorted({p.review_days for p in plans}):
            group = [p for p in plans if p.review_days == review_days]
            agent_ids = None if len(group) > 1 else [
                u.id for u in directory.list_users(session, team_id=group[0].team_id, role=Role.agent)]
            batch = _Batch(group, edges, complete, zone, now, agent_ids, _budgets(session, group, before))
            _add_random(session, batch)
            if any(p.targeted_per_agent > 0 for p in batch.plans):
                _add_targeted(session, batch)
    after = _counts(session, [p.id for p in plans])
    results = {}
    for plan in plans:
        added = {k: after.get((plan.id, k), 0) - before.get((plan.id, k), 0) for k in ("random", "targeted")}
        if complete:
            plan.last_built_at, plan.weeks_built = now, complete
        results[plan.team_id] = BuildResult(plan, added["random"], added["targeted"], complete)
        if added["random"] or added["targeted"]:
            audit(session, action="qa.sampling.built", actor_id=by.id if by else None,
                  actor_name=by.username if by else None, object_type="qa_sampling_plan", object_id=plan.id,
                  details={"team_id": plan.team_id, "month": key, "seed": plan.seed, "weeks_complete": complete,
                           "random": added["random"], "targeted": added["targeted"]})
    session.flush()
    return results


def build_month(session: Session, *, team_id: int, month: str | date, by: User | None = None,
                seed: int | None = None) -> BuildResult:
    """Create the team's plan for the month (or reuse it) and pick the recordings due by now:
    the random quota grows with each completed week, targeted extras come on top up to the
    plan's cap. Idempotent: building again adds only what newly completed weeks allow."""
    team = access.require_team(session, user=by, team_id=team_id) if by else access.team_of(session, team_id)
    year, number = parse_month(month)
    key = f"{year:04d}-{number:02d}"
    plan = _plan(session, team, key, seed, by, policy(session), team_minimum(session, team_id=team.id))
    return _build(session, [plan], key, team.site.timezone, by)[team.id]


def build_all(session: Session, *, month: str | date, teams: list[Team] | None = None,
              by: User | None = None) -> dict[int, BuildResult]:
    """`build_month` for many teams at once (all by default): one pass over the month's calls per
    time zone instead of one per team. Returns each team's result."""
    year, number = parse_month(month)
    key = f"{year:04d}-{number:02d}"
    rules = policy(session)
    teams = teams if teams is not None else sorted(list_teams(session), key=lambda t: t.id)
    minimums = team_minimums(session, team_ids=[t.id for t in teams])
    by_zone: dict[str, list[SamplingPlan]] = {}
    for team in teams:
        by_zone.setdefault(team.site.timezone, []).append(_plan(session, team, key, None, by, rules, minimums[team.id]))
    results: dict[int, BuildResult] = {}
    for zone, plans in sorted(by_zone.items()):
        results.update(_build(session, plans, key, zone, by))
    return results


def build_due(session: Session) -> int:
    """The sweep's work: every team's current month, and the previous month until its last week
    has been built. Returns the number of recordings picked."""
    now = clock.now()
    due: dict[str, list[Team]] = {}
    for team in sorted(list_teams(session), key=lambda t: t.id):
        local = now.astimezone(ZoneInfo(team.site.timezone)).date().replace(day=1)
        previous = (local - timedelta(days=1)).replace(day=1)
        for month in (previous, local):
            key = f"{month.year:04d}-{month.month:02d}"
            weeks = session.scalar(select(SamplingPlan.weeks_built).where(SamplingPlan.team_id == team.id,
                                                                          SamplingPlan.month == key))
            if weeks is None or weeks < WEEKS:
                due.setdefault(key, []).append(team)
    picked = 0
    for key, teams in sorted(due.items()):
        for result in build_all(session, month=key, teams=teams).values():
            picked += result.added_random + result.added_targeted
    return picked
