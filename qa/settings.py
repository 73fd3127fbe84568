"""QA's numbers (DOMAIN.md's defaults, declared as tunables an administrator may change) as one
frozen value the services read, and each team's own monthly minimum of evaluations per agent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock, permissions, tunables
from core.audit import record as audit
from core.errors import PermissionDenied, ValidationFailed
from core.models import User
from qa import access
from qa.models import SamplingPlan, TeamMinimum

tunables.namespace("qa", title="Quality assurance")
MINIMUM_RANGE = (1, 5)


def _qa(key: str, default: int, low: int, high: int, label: str, unit: str, help: str = "") -> tunables.Tunable:
    return tunables.declare("qa", key, default=default, minimum=low, maximum=high, label=label, unit=unit, help=help)


# Seed 003: each agent is monitored no fewer than 1-5 times a month. This is the minimum of a team
# that has not set its own (TeamMinimum); it is a floor, not a ceiling.
_qa("evaluations_per_agent", 3, *MINIMUM_RANGE, "Evaluations per agent a month (teams without their own minimum)",
    "evaluations", "A minimum, not a ceiling: targeted picks come on top.")
_qa("targeted_per_agent", 2, 0, 50, "Targeted picks per agent a month (complaints, low satisfaction, new agents)",
    "recordings")
# What one inspector evaluates in a month: targeted picks stop there (the minimum never does).
_qa("inspector_monthly_capacity", 300, 1, 100_000, "Evaluations one inspector can do in a month", "evaluations",
    "Targeted picks stop there; the minimum never does.")
_qa("new_agent_days", 90, 0, 366, "An agent counts as new for", "days")
_qa("min_call_seconds", 30, 0, 3_600, "Shorter recordings are not sampled", "seconds")
_qa("short_call_seconds", 60, 0, 3_600, "A call this short or shorter is very short (a targeted pick)", "seconds")
_qa("long_call_seconds", 900, 1, 86_400, "A call this long or longer is very long (a targeted pick)", "seconds")
_qa("low_satisfaction_max", 2, 1, 5, "A satisfaction score up to this is low", "points of 5")
_qa("review_days", 7, 0, 60, "An evaluation assignment is due after its week ends within", "days")
_qa("dispute_window_days", 7, 0, 60, "An agent may dispute an evaluation within", "days")
_qa("coaching_threshold", 80, 0, 100, "A score below this asks for coaching", "points of 100")
_qa("common_problem_percent", 30, 1, 100, "A question is a common problem when this share of evaluations miss it",
    "percent")
_qa("flag_below_minimum_from_day", 20, 1, 28, "Agents below the minimum are flagged from this day of the month",
    "day of the month")
_qa("report_due_day", 22, 1, 28, "The monthly service-quality report is due on this day of the next month",
    "day of the month")
_qa("report_reminder_days", 3, 0, 21, "The team leader is reminded of the report this many days before", "days")
_qa("meeting_day", 25, 1, 28, "The all-staff meeting is held before this day of the next month", "day of the month")
_qa("trend_months", 6, 1, 24, "Months shown in score trends", "months")


@dataclass(frozen=True)
class Policy:
    """QA's numbers in force (see the declarations above for their meaning and bounds);
    its fields are the declared keys: one missing or extra fails at import."""

    evaluations_per_agent: int
    targeted_per_agent: int
    inspector_monthly_capacity: int
    new_agent_days: int  # an agent who joined this few days before a month's end is new in it
    min_call_seconds: int
    short_call_seconds: int
    long_call_seconds: int
    low_satisfaction_max: int
    review_days: int
    dispute_window_days: int
    coaching_threshold: int
    common_problem_percent: int
    flag_below_minimum_from_day: int
    report_due_day: int
    report_reminder_days: int
    meeting_day: int
    trend_months: int


DEFAULTS = Policy(**tunables.defaults("qa"))
KEYS = tuple(f.name for f in fields(Policy))


def policy(session: Session) -> Policy:
    return Policy(**tunables.values(session, "qa"))


def as_dict(rules: Policy) -> dict[str, int]:
    return asdict(rules)


def set_value(session: Session, *, key: str, value: int, by: User | None = None) -> Policy:
    tunables.set_value(session, tunables.find("qa", key), value, by=by)
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
