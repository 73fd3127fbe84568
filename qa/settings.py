"""QA's numbers (DOMAIN.md's defaults, each overridable by an administrator) as one frozen value
the services read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from qa.models import QaSetting


@dataclass(frozen=True)
class Policy:
    evaluations_per_agent: int = 3  # random picks per agent per calendar month
    targeted_per_agent: int = 2  # complaint, escalation, ... picks on top of those
    max_per_agent: int = 5  # DOMAIN.md: each agent is monitored 1 to 5 times a month
    min_call_seconds: int = 30  # shorter recordings are not worth scoring
    short_call_seconds: int = 60  # at most this long: a "very short" call, targeted
    long_call_seconds: int = 900  # at least this long: a "very long" call, targeted
    low_satisfaction_max: int = 2  # a follow-up satisfaction of 1..this is "low"
    review_days: int = 7  # an assignment is due this many days after its week ends
    dispute_window_days: int = 7
    coaching_threshold: int = 80  # an evaluation or monthly average below this asks for coaching
    common_problem_percent: int = 30  # share of evaluations short of full marks on a question
    report_due_day: int = 22  # the team leader's monthly report, the following month
    trend_months: int = 6


DEFAULTS = Policy()
KEYS = tuple(f.name for f in fields(Policy))
_BOUNDS = {"evaluations_per_agent": (1, 5), "targeted_per_agent": (0, 5), "max_per_agent": (1, 5),
           "coaching_threshold": (0, 100), "common_problem_percent": (1, 100), "report_due_day": (1, 28),
           "trend_months": (1, 24), "low_satisfaction_max": (1, 5)}


def policy(session: Session) -> Policy:
    overrides = {row.key: row.value for row in session.scalars(select(QaSetting)) if row.key in KEYS}
    return replace(DEFAULTS, **overrides) if overrides else DEFAULTS


def as_dict(rules: Policy) -> dict[str, int]:
    return asdict(rules)


def set_value(session: Session, *, key: str, value: int) -> Policy:
    if key not in KEYS:
        raise ValidationFailed(f"Unknown QA setting {key!r}; known: {', '.join(KEYS)}.", field="key")
    low, high = _BOUNDS.get(key, (0, 10**6))
    if not low <= value <= high:
        raise ValidationFailed(f"{key} must be between {low} and {high}.", field="value")
    row = session.get(QaSetting, key)
    if row is None:
        session.add(QaSetting(key=key, value=value))
    else:
        row.value = value
    session.flush()
    return policy(session)
