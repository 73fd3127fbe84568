"""Scheduling's numbers (DOMAIN.md's defaults, declared as tunables an administrator may change) as
one frozen value the rules read, so rule functions never touch the database."""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy.orm import Session

from core import tunables
from core.models import User

tunables.namespace("scheduling", title="Shifts, leave and swaps")
_DAY = 24 * 60


def _rule(key: str, default: int, low: int, high: int, label: str, unit: str, help: str = "") -> tunables.Tunable:
    return tunables.declare("scheduling", key, default=default, minimum=low, maximum=high, label=label, unit=unit,
                            help=help)


_rule("min_rest_minutes", 11 * 60, 0, _DAY, "Rest between two shifts of one person, at least", "minutes")
# Two shifts this close (or closer) are back to back: continuous duty, a double shift.
_rule("back_to_back_gap_minutes", 60, 0, _DAY, "Two shifts this close or closer are back to back", "minutes")
_rule("max_weekly_minutes", 40 * 60, 60, 7 * _DAY, "Working time of one person a week, at most", "minutes")
_rule("max_swaps_per_month", 2, 0, 31, "Shift swaps per person a calendar month, at most", "swaps")
_rule("skill_level_tolerance", 1, 0, 10, "Skill levels two people who swap may differ by, at most", "levels")
_rule("arrival_lead_minutes", 10, 0, 120, "Staff arrive before their shift by", "minutes")
_rule("late_violation_minutes", 20, 1, _DAY, "Late by this much without leave is a violation", "minutes")
_rule("away_violation_minutes", 20, 1, _DAY, "Away from the post this long is a violation", "minutes")
_rule("personal_leave_notice_minutes", _DAY, 0, 30 * _DAY, "Personal leave is asked for ahead by", "minutes")
_rule("special_leave_notice_minutes", 60, 0, 30 * _DAY, "Special leave is asked for before the shift by", "minutes")
_rule("night_leave_deadline_minute", 12 * 60, 0, _DAY - 1,
      "Night-shift leave is asked for before this time of that day", "minutes after midnight",
      "720 is 12:00.")
_rule("holiday_leave_notice_days", 2, 0, 60, "Leave on a public holiday is asked for ahead by", "days")
_rule("supervisor_leave_max_days", 1, 0, 30, "The supervisor approves leave up to; the center head above", "days")
# The outgoing and incoming leads and their supervisors are reminded of a handover not accepted
# this long after the shift change.
_rule("handover_accept_minutes", 30, 1, _DAY, "A handover not accepted this long after the shift change is reminded",
      "minutes")


@dataclass(frozen=True)
class Policy:
    """Scheduling's numbers in force (see the declarations above for their meaning and bounds);
    its fields are the declared keys: one missing or extra fails at import."""

    min_rest_minutes: int
    back_to_back_gap_minutes: int
    max_weekly_minutes: int
    max_swaps_per_month: int
    skill_level_tolerance: int
    arrival_lead_minutes: int
    late_violation_minutes: int
    away_violation_minutes: int
    personal_leave_notice_minutes: int
    special_leave_notice_minutes: int
    night_leave_deadline_minute: int  # local time of the night shift's day, in minutes
    holiday_leave_notice_days: int
    supervisor_leave_max_days: int
    handover_accept_minutes: int


DEFAULTS = Policy(**tunables.defaults("scheduling"))
KEYS = tuple(f.name for f in fields(Policy))


def policy(session: Session) -> Policy:
    return Policy(**tunables.values(session, "scheduling"))


def set_value(session: Session, *, key: str, value: int, by: User | None = None) -> Policy:
    tunables.set_value(session, tunables.find("scheduling", key), value, by=by)
    return policy(session)
