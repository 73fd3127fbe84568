"""Scheduling rules over plain data, one by one and in combination: shifts, leave and swaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from scheduling.rules import leave as leave_rules
from scheduling.rules import swaps as swap_rules
from scheduling.rules.shifts import ShiftFacts, assignment_violations, schedule_violations
from scheduling.settings import DEFAULTS

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def shift(sid: int, user: int, start: datetime, hours: int = 8) -> ShiftFacts:
    return ShiftFacts(sid, user, start, start + hours * H, start.date())


def codes(violations: list) -> list[str]:
    return [v.rule for v in violations]


# Shifts -----------------------------------------------------------------------------------------

def test_overlap_back_to_back_and_rest() -> None:
    day = datetime(2026, 1, 10, 8, tzinfo=UTC)
    existing = [shift(1, 7, day)]
    assert codes(assignment_violations(existing, shift(2, 7, day + 4 * H), DEFAULTS)) == ["shift.overlap"]
    assert codes(assignment_violations(existing, shift(2, 7, day + 8 * H), DEFAULTS)) == [
        "shift.back_to_back", "shift.min_rest"]
    assert codes(assignment_violations(existing, shift(2, 7, day + 16 * H), DEFAULTS)) == ["shift.min_rest"]
    assert assignment_violations(existing, shift(2, 7, day + 19 * H), DEFAULTS) == []


def test_weekly_hours() -> None:
    monday = datetime(2026, 1, 5, 8, tzinfo=UTC)
    week = [shift(i, 7, monday + timedelta(days=i)) for i in range(5)]
    found = assignment_violations(week, shift(9, 7, monday + timedelta(days=5)), DEFAULTS)
    assert codes(found) == ["shift.max_weekly_hours"] and found[0].params["hours"] == 48
    assert schedule_violations(week, DEFAULTS) == []


# Leave ------------------------------------------------------------------------------------------

def leave_facts(**overrides: object) -> leave_rules.LeaveFacts:
    start = datetime(2026, 1, 8, 0, tzinfo=UTC)
    values: dict[str, object] = dict(kind="personal", user_id=1, requested_by_id=1, start=start,
                                     end=start + timedelta(days=1), requested_at=NOW, zone="UTC",
                                     shifts=[leave_rules.LeaveShift(start + 8 * H, start + 16 * H, start.date(), "day")])
    values.update(overrides)
    return leave_rules.LeaveFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"kind": "holiday"}, ["leave.unknown_kind"]),
    ({"end": datetime(2026, 1, 7, tzinfo=UTC)}, ["leave.bad_range"]),
    ({"start": NOW - H, "shifts": []}, ["leave.in_past"]),
    ({"requested_by_id": 2}, ["leave.only_self"]),
    ({"named_shift_owner_id": 2}, ["leave.not_own_shift"]),
    ({"other_leave": [(datetime(2026, 1, 8, 12, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC))]}, ["leave.overlap"]),
    ({"shifts": [leave_rules.LeaveShift(datetime(2026, 1, 8, 22, tzinfo=UTC), datetime(2026, 1, 9, 6, tzinfo=UTC),
                                        date(2026, 1, 8), "night")],
      "start": datetime(2026, 1, 8, 22, tzinfo=UTC), "end": datetime(2026, 1, 9, 6, tzinfo=UTC),
      "requested_at": datetime(2026, 1, 8, 12, 30, tzinfo=UTC)}, ["leave.night_deadline"]),
    ({"holidays": frozenset({date(2026, 1, 8)})}, ["leave.holiday_not_special"]),
    ({"holidays": frozenset({date(2026, 1, 8)}), "holiday_special_case": True,
      "requested_at": datetime(2026, 1, 6, 12, tzinfo=UTC)}, ["leave.holiday_notice"]),
    ({"shifts": [leave_rules.LeaveShift(datetime(2026, 1, 8, 8, tzinfo=UTC), datetime(2026, 1, 8, 16, tzinfo=UTC),
                                        date(2026, 1, 8), "day", "swap")]}, ["leave.swapped_shift"]),
])
def test_each_leave_rule(overrides: dict[str, object], expected: list[str]) -> None:
    assert codes(leave_rules.evaluate(leave_facts(**overrides), DEFAULTS).violations) == expected


def test_leave_rules_in_combination() -> None:
    facts = leave_facts(requested_by_id=2, named_shift_owner_id=3, holidays=frozenset({date(2026, 1, 8)}),
                        requested_at=datetime(2026, 1, 7, tzinfo=UTC))
    assert codes(leave_rules.evaluate(facts, DEFAULTS).violations) == [
        "leave.only_self", "leave.not_own_shift", "leave.holiday_not_special", "leave.holiday_notice"]


def test_sick_leave_by_someone_else_late_notice_and_certificate() -> None:
    sick = leave_rules.evaluate(leave_facts(kind="sick", requested_by_id=2, next_shift_day=date(2026, 1, 10)), DEFAULTS)
    assert sick.violations == [] and sick.certificate_due_on == date(2026, 1, 10)
    assert codes(sick.conditions) == ["leave.certificate_due"]
    late = leave_rules.evaluate(leave_facts(requested_at=datetime(2026, 1, 7, 20, tzinfo=UTC)), DEFAULTS)
    assert late.late and codes(late.conditions) == ["leave.late_notice"] and late.steps == ["supervisor"]
    special = leave_rules.evaluate(leave_facts(kind="special", start=datetime(2026, 1, 8, 8, tzinfo=UTC),
                                               requested_at=datetime(2026, 1, 8, 7, 30, tzinfo=UTC)), DEFAULTS)
    assert special.late  # 30 minutes before the shift: less than the hour's notice
    day = datetime(2026, 1, 8, 8, tzinfo=UTC)
    three_shifts = [leave_rules.LeaveShift(day + timedelta(days=n), day + timedelta(days=n, hours=8),
                                           (day + timedelta(days=n)).date(), "day") for n in range(3)]
    long = leave_rules.evaluate(leave_facts(end=datetime(2026, 1, 11, tzinfo=UTC), shifts=three_shifts), DEFAULTS)
    assert long.steps == ["supervisor", "center_head"]
    # Days are counted by shift: three calendar days with one shift in them are one day of leave.
    one_shift = leave_rules.evaluate(leave_facts(end=datetime(2026, 1, 11, tzinfo=UTC)), DEFAULTS)
    assert one_shift.steps == ["supervisor"]


# Swaps ------------------------------------------------------------------------------------------

SHIFT_START = datetime(2026, 1, 14, 8, tzinfo=UTC)


def party(pid: int, **overrides: object) -> swap_rules.Party:
    values: dict[str, object] = dict(id=pid, name=f"P{pid}", job_type="hotline_agent", skill_levels={5: 3},
                                     team_leaders=(90 + pid,))
    values.update(overrides)
    return swap_rules.Party(**values)  # type: ignore[arg-type]


def swap_facts(requester: swap_rules.Party | None = None, partner: swap_rules.Party | None = None,
               **overrides: object) -> swap_rules.SwapFacts:
    values: dict[str, object] = dict(
        requester=requester or party(1), partner=partner or party(2),
        shift=swap_rules.SwapShift(10, 1, SHIFT_START, SHIFT_START + 8 * H, SHIFT_START.date(), "2026-01", 5, "hotline"),
        now=NOW)
    values.update(overrides)
    return swap_rules.SwapFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("facts", "expected"), [
    (swap_facts(partner=party(1)), ["swap.self"]),
    (swap_facts(requester=party(3)), ["swap.not_own_shift"]),
    (swap_facts(now=SHIFT_START + H), ["swap.in_past"]),
    (swap_facts(partner=party(2, swaps_this_month=2)), ["swap.max_per_month"]),
    (swap_facts(requester=party(1, unpaid=[(4, date(2026, 1, 9))])), ["swap.unpaid"]),
    (swap_facts(partner=party(2, shifts=[ShiftFacts(11, 2, SHIFT_START - 8 * H, SHIFT_START, SHIFT_START.date())])),
     ["swap.back_to_back", "swap.min_rest"]),
    (swap_facts(partner=party(2, shifts=[ShiftFacts(11, 2, SHIFT_START + H, SHIFT_START + 9 * H,
                                                    SHIFT_START.date())])), ["swap.overlap"]),
    (swap_facts(partner=party(2, job_type="qa")), ["swap.job_type"]),
    (swap_facts(partner=party(2, skill_levels={5: 1})), ["swap.skill_level"]),
    (swap_facts(partner=party(2, skill_levels={})), ["swap.skill_level"]),
    (swap_facts(requester=party(1, leave=[(SHIFT_START, SHIFT_START + 8 * H)])), ["swap.on_leave"]),
    (swap_facts(holidays=frozenset({SHIFT_START.date()})), ["swap.public_holiday"]),
    (swap_facts(pays_back=swap_rules.Payback(4, 1, 2)), ["swap.payback_mismatch"]),
    (swap_facts(pays_back=swap_rules.Payback(4, 2, 1, paid=True)), ["swap.already_paid"]),
    (swap_facts(partner=party(2, team_leaders=())), ["swap.no_team_leader"]),
    # A shift naming no skill: the requester's own skills are compared.
    (swap_facts(shift=swap_rules.SwapShift(10, 1, SHIFT_START, SHIFT_START + 8 * H, SHIFT_START.date(), "2026-01"),
                partner=party(2, skill_levels={5: 1})), ["swap.skill_level"]),
    (swap_facts(shift=swap_rules.SwapShift(10, 1, SHIFT_START, SHIFT_START + 8 * H, SHIFT_START.date(), "2026-01"),
                partner=party(2, skill_levels={5: 2, 6: 5})), []),
])
def test_each_swap_rule(facts: swap_rules.SwapFacts, expected: list[str]) -> None:
    assert codes(swap_rules.evaluate(facts, DEFAULTS)) == expected


def test_swap_rules_in_combination_and_messages() -> None:
    facts = swap_facts(requester=party(1, swaps_this_month=2, unpaid=[(4, date(2026, 1, 2))]),
                       partner=party(2, job_type="qa", skill_levels={5: 5}), holidays=frozenset({SHIFT_START.date()}))
    found = swap_rules.evaluate(facts, DEFAULTS)
    assert codes(found) == ["swap.max_per_month", "swap.unpaid", "swap.job_type", "swap.skill_level",
                            "swap.public_holiday"]
    assert found[0].params == {"person": "P1", "count": 2, "month": "2026-01", "limit": 2}
    assert found[0].detail == "P1 already has 2 swaps in 2026-01; at most 2 per month."
    # A payback settles the debt and does not count as a new swap.
    settling = swap_facts(requester=party(1, swaps_this_month=2, unpaid=[(4, date(2026, 1, 2))]),
                          pays_back=swap_rules.Payback(4, 2, 1))
    assert swap_rules.evaluate(settling, DEFAULTS) == []


@pytest.mark.parametrize(("requested", "expected"), [
    (datetime(2026, 1, 8, 10, 59, tzinfo=UTC), []),  # 11:59 in Berlin: before noon of the night shift's day
    (datetime(2026, 1, 8, 11, 0, tzinfo=UTC), ["leave.night_deadline"]),  # 12:00 in Berlin: too late
])
def test_night_shift_leave_is_refused_unless_requested_before_noon_that_day_on_the_sites_clock(
        requested: datetime, expected: list[str]) -> None:
    start, end = datetime(2026, 1, 8, 21, tzinfo=UTC), datetime(2026, 1, 9, 5, tzinfo=UTC)  # 22:00 to 06:00 local
    night = leave_rules.LeaveShift(start, end, date(2026, 1, 8), "night")
    facts = leave_facts(kind="special", start=start, end=end, shifts=[night], requested_at=requested,
                        zone="Europe/Berlin")
    assert codes(leave_rules.evaluate(facts, DEFAULTS).violations) == expected
