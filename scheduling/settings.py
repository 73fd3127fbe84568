"""Scheduling's numbers (DOMAIN.md's defaults, each overridable by an administrator) as one frozen
value the rules read, so rule functions never touch the database."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from scheduling.models import SchedulingSetting


@dataclass(frozen=True)
class Policy:
    min_rest_minutes: int = 11 * 60
    # Two shifts this close (or closer) are back to back: continuous duty, a double shift.
    back_to_back_gap_minutes: int = 60
    max_weekly_minutes: int = 40 * 60
    max_swaps_per_month: int = 2
    skill_level_tolerance: int = 1
    arrival_lead_minutes: int = 10
    late_violation_minutes: int = 20
    away_violation_minutes: int = 20
    personal_leave_notice_minutes: int = 24 * 60
    special_leave_notice_minutes: int = 60
    night_leave_deadline_minute: int = 12 * 60  # local 12:00 on the night shift's day
    holiday_leave_notice_days: int = 2
    supervisor_leave_max_days: int = 1
    # The outgoing and incoming leads and their supervisors are reminded of a handover not
    # accepted this long after the shift change.
    handover_accept_minutes: int = 30


DEFAULTS = Policy()
KEYS = tuple(f.name for f in fields(Policy))


def policy(session: Session) -> Policy:
    overrides = {row.key: row.value for row in session.scalars(select(SchedulingSetting)) if row.key in KEYS}
    return replace(DEFAULTS, **overrides) if overrides else DEFAULTS


def set_value(session: Session, *, key: str, value: int) -> Policy:
    if key not in KEYS:
        raise ValidationFailed("Unknown setting; choose one from the list.", field="key",
                               params={"key": key, "known": list(KEYS)})
    if value < 0:
        raise ValidationFailed("Scheduling settings are whole numbers of at least 0.", field="value")
    row = session.get(SchedulingSetting, key)
    if row is None:
        session.add(SchedulingSetting(key=key, value=value))
    else:
        row.value = value
    session.flush()
    return policy(session)
