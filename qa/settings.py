"""QA's numbers (DOMAIN.md's defaults, each overridable by an administrator) as one frozen value
the services read, and each team's own monthly minimum of evaluations per agent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock, permissions
from core.audit import record as audit
from core.errors import PermissionDenied, ValidationFailed
from core.models import User
from qa import access
from qa.models import QaSetting, SamplingPlan, TeamMinimum


@dataclass(frozen=True)
class Policy:
    # Seed 003: each agent is monitored no fewer than 1-5 times a month. This is the minimum of a
    # team that has not set its own (TeamMinimum); it is a floor, not a ceiling.
    evaluations_per_agent: int = 3
    targeted_per_agent: int = 2  # complaint, low satisfaction, new agent ... picks on top of the minimum
    # What one inspector evaluates in a month: targeted picks stop there (the minimum never does).
    inspector_monthly_capacity: int = 300
    new_agent_days: int = 90  # an agent who joined this few days before a month's end is new in it
    min_call_seconds: int = 30  # shorter recordings are not worth scoring
    short_call_seconds: int = 60  # at most this long: a "very short" call, targeted
    long_call_seconds: int = 900  # at least this long: a "very long" call, targeted
    low_satisfaction_max: int = 2  # a follow-up satisfaction of 1..this is "low"
    review_days: int = 7  # an assignment is due this many days after its week ends
    dispute_window_days: int = 7
    coaching_threshold: int = 80  # an evaluation or monthly average below this asks for coaching
    common_problem_percent: int = 30  # share of evaluations short of full marks on a question
    flag_below_minimum_from_day: int = 20  # agents below the minimum are flagged from this day of the month
    report_due_day: int = 22  # the team leader's monthly report, the following month
    report_reminder_days: int = 3  # the team leader is reminded this many days before it is due
    meeting_day: int = 25  # the all-staff meeting is held before this day of the following month
    trend_months: int = 6


DEFAULTS = Policy()
KEYS = tuple(f.name for f in fields(Policy))
MINIMUM_RANGE = (1, 5)
_BOUNDS = {"evaluations_per_agent": MINIMUM_RANGE, "targeted_per_agent": (0, 50),
           "inspector_monthly_capacity": (1, 100_000), "new_agent_days": (0, 366),
           "coaching_threshold": (0, 100), "common_problem_percent": (1, 100), "report_due_day": (1, 28),
           "report_reminder_days": (0, 21), "flag_below_minimum_from_day": (1, 28), "meeting_day": (1, 28),
           "trend_months": (1, 24), "low_satisfaction_max": (1, 5)}


def policy(session: Session) -> Policy:
    overrides = {row.key: row.value for row in session.scalars(select(QaSetting)) if row.key in KEYS}
    return replace(DEFAULTS, **overrides) if overrides else DEFAULTS


def as_dict(rules: Policy) -> dict[str, int]:
    return asdict(rules)


def set_value(session: Session, *, key: str, value: int) -> Policy:
    if key not in KEYS:
        raise ValidationFailed("Unknown setting; choose one from the list.", field="key",
                               params={"key": key, "known": list(KEYS)})
    low, high = _BOUNDS.get(key, (0, 10**6))
    if not low <= value <= high:
        raise ValidationFailed("Give a value from %(low)s to %(high)s.", field="value",
                               params={"key": key, "low": low, "high": high})
    row = session.get(QaSetting, key)
    if row is None:
        session.add(QaSetting(key=key, value=value))
    else:
        row.value = value
    session.flush()
    return policy(session)


# Each team's minimum ---------------------------------------------------------------------------

def team_minimums(session: Session, *, team_ids: list[int]) -> dict[int, int]:
    """Each team's minimum evaluations per agent per month: its own, else the default."""
    own = dict(session.execute(select(TeamMinimum.team_id, TeamMinimum.per_agent)
                               .where(TeamMinimum.team_id.in_(team_ids))).all()) if team_ids else {}
    default = policy(session).evaluations_per_agent
    return {team_id: own.get(team_id, default) for team_id in team_ids}


def team_minimum(session: Session, *, team_id: int) -> int:
    return team_minimums(session, team_ids=[team_id])[team_id]


def may_set_minimum(user: User) -> bool:
    """The department's managers set a team's monitoring minimum: supervisors and above."""
    return permissions.allowed(user.role, permissions.SUPERVISORS)


def set_team_minimum(session: Session, *, team_id: int, value: int, by: User) -> int:
    """Set the team's minimum (1 to 5 a month) for the month under way and those after; a
    supervisor of the team's site (or the center head, an admin) decides it. Audited."""
    if not may_set_minimum(by):
        raise PermissionDenied("A supervisor or the center head sets a team's monitoring minimum.")
    team = access.require_team(session, user=by, team_id=team_id, action="set this team's monitoring minimum")
    low, high = MINIMUM_RANGE
    if not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed("A team's minimum is %(low)s to %(high)s evaluations per agent a month.",
                               field="per_agent", params={"low": low, "high": high})
    row = session.get(TeamMinimum, team.id)
    before = row.per_agent if row else None
    if row is None:
        row = TeamMinimum(team_id=team.id, per_agent=value)
        session.add(row)
    row.per_agent, row.set_by_id, row.set_at = value, by.id, clock.now()
    # The month under way (and any planned ahead) samples to the new minimum from its next build.
    this_month = clock.now().astimezone(ZoneInfo(team.site.timezone)).strftime("%Y-%m")
    for plan in session.scalars(select(SamplingPlan).where(SamplingPlan.team_id == team.id,
                                                           SamplingPlan.month >= this_month)):
        plan.per_agent = value
    session.flush()
    audit(session, action="qa.minimum.set", actor_id=by.id, object_type="team", object_id=team.id,
          details={"per_agent": value, "before": before})
    return value
