"""Rules over one person's shifts: overlap, back-to-back, rest between shifts and weekly hours.
Shifts are plain `ShiftFacts`; weeks are ISO weeks of the local day the shift starts on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from scheduling.rules import Violation, violation
from scheduling.settings import Policy


@dataclass(frozen=True)
class ShiftFacts:
    id: int | None
    user_id: int
    start: datetime
    end: datetime
    day: date  # local date of the start

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


def gap_minutes(first: ShiftFacts, second: ShiftFacts) -> int:
    """Minutes from the end of the earlier shift to the start of the later (negative: overlap)."""
    a, b = sorted((first, second), key=lambda s: s.start)
    return int((b.start - a.end).total_seconds() // 60)


def pair_violations(first: ShiftFacts, second: ShiftFacts, policy: Policy, *, prefix: str = "shift",
                    **extra: object) -> list[Violation]:
    """What is wrong with one person working both shifts."""
    gap = gap_minutes(first, second)
    if gap < 0:
        other = min(first, second, key=lambda s: s.start)
        if prefix == "shift":
            return [violation("shift.overlap", other_start=other.start.isoformat(), other_end=other.end.isoformat())]
        return [violation(f"{prefix}.overlap", **extra)]
    found = []
    if gap <= policy.back_to_back_gap_minutes:
        found.append(violation(f"{prefix}.back_to_back", gap_minutes=gap, **extra))
    if gap < policy.min_rest_minutes:
        found.append(violation(f"{prefix}.min_rest", gap_minutes=gap, min_minutes=policy.min_rest_minutes, **extra))
    return found


def week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_minutes(shifts: Iterable[ShiftFacts]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for shift in shifts:
        totals[week_of(shift.day)] += shift.minutes
    return dict(totals)


def assignment_violations(existing: Sequence[ShiftFacts], new: ShiftFacts, policy: Policy, *,
                          prefix: str = "shift", **extra: object) -> list[Violation]:
    """Every rule broken by giving `new` to the person who already works `existing`."""
    found: list[Violation] = []
    for shift in existing:
        if shift.id is not None and shift.id == new.id:
            continue
        if abs((shift.start - new.start).total_seconds()) > 3 * 86400:
            continue  # too far apart to interact
        found += pair_violations(shift, new, policy, prefix=prefix, **extra)
    week = week_of(new.day)
    total = new.minutes + sum(s.minutes for s in existing
                              if week_of(s.day) == week and not (s.id is not None and s.id == new.id))
    if total > policy.max_weekly_minutes:
        found.append(violation(f"{prefix}.max_weekly_hours", hours=round(total / 60, 1), week=week,
                               max_hours=round(policy.max_weekly_minutes / 60, 1), **extra))
    return found


def schedule_violations(shifts: Sequence[ShiftFacts], policy: Policy) -> list[Violation]:
    """Every rule broken anywhere in a set of shifts (a roster), person by person."""
    by_user: dict[int, list[ShiftFacts]] = defaultdict(list)
    for shift in shifts:
        by_user[shift.user_id].append(shift)
    found: list[Violation] = []
    for own in by_user.values():
        own.sort(key=lambda s: s.start)
        for index, shift in enumerate(own):
            for later in own[index + 1:]:
                if (later.start - shift.end).total_seconds() > policy.min_rest_minutes * 60:
                    break
                found += pair_violations(shift, later, policy)
        for week, minutes in weekly_minutes(own).items():
            if minutes > policy.max_weekly_minutes:
                found.append(violation("shift.max_weekly_hours", hours=round(minutes / 60, 1), week=week,
                                       max_hours=round(policy.max_weekly_minutes / 60, 1)))
    return found
