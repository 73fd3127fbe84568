"""Property-based: a solved roster never breaks the timing rules, a swap the rules accept never
leaves either party with back-to-back shifts, and leave days are counted by shift across
midnight, month ends and clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.rules import leave as leave_rules
from scheduling.rules import swaps as swap_rules
from scheduling.rules.shifts import ShiftFacts, gap_minutes, schedule_violations
from scheduling.settings import DEFAULTS
from scheduling.solver import Agent, Candidate, RosterProblem, solve

ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)


@st.composite
def problems(draw: st.DrawFn) -> RosterProblem:
    days = draw(st.integers(2, 5))
    starts = draw(st.lists(st.sampled_from([0, 6 * 60, 8 * 60, 14 * 60, 22 * 60]), min_size=1, max_size=3,
                           unique=True))
    lengths = draw(st.sampled_from([360, 480, 600]))
    candidates = [Candidate(d, d * 1440 + s, d * 1440 + s + lengths, f"w{d // 7}") for d in range(days)
                  for s in sorted(starts)]
    agents = [Agent(i, days_off=frozenset(draw(st.sets(st.integers(0, days - 1), max_size=1))))
              for i in range(draw(st.integers(1, 5)))]
    demand = draw(st.lists(st.integers(0, 3), min_size=days * 24, max_size=days * 24))
    return RosterProblem(agents, candidates, 60, {None: demand})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_a_solved_roster_never_has_back_to_back_shifts(problem: RosterProblem) -> None:
    solution = solve(problem, time_limit_seconds=5, workers=1)
    assert solution.objective is not None
    shifts = [ShiftFacts(n, agent, ORIGIN + timedelta(minutes=problem.candidates[i].start),
                         ORIGIN + timedelta(minutes=problem.candidates[i].end),
                         (ORIGIN + timedelta(minutes=problem.candidates[i].start)).date())
              for n, (agent, i) in enumerate(solution.assignments)]
    assert schedule_violations(shifts, DEFAULTS) == []
    per_day = {(a, problem.candidates[i].day) for a, i in solution.assignments}
    assert len(per_day) == len(solution.assignments)  # at most one shift a day
    for agent in problem.agents:
        assert not any(a == agent.id and problem.candidates[i].day in agent.days_off for a, i in solution.assignments)


NOW = datetime(2026, 1, 5, tzinfo=UTC)


def _shift(sid: int, user: int, offset_hours: int, hours: int) -> ShiftFacts:
    start = NOW + timedelta(hours=offset_hours)
    return ShiftFacts(sid, user, start, start + timedelta(hours=hours), start.date())


@settings(max_examples=200, deadline=None)
@given(mine=st.lists(st.tuples(st.integers(24, 300), st.sampled_from([4, 8, 10])), max_size=6),
       theirs=st.lists(st.tuples(st.integers(24, 300), st.sampled_from([4, 8, 10])), max_size=6),
       swapped=st.tuples(st.integers(24, 300), st.sampled_from([4, 8, 10])))
def test_an_accepted_swap_never_leaves_back_to_back_shifts(mine: list, theirs: list, swapped: tuple) -> None:
    target = _shift(1, 1, *swapped)
    requester_shifts = [target] + [_shift(100 + i, 1, o, h) for i, (o, h) in enumerate(mine)]
    partner_shifts = [_shift(200 + i, 2, o, h) for i, (o, h) in enumerate(theirs)]
    facts = swap_rules.SwapFacts(
        requester=swap_rules.Party(1, "A", "hotline_agent", shifts=requester_shifts, team_leaders=(9,)),
        partner=swap_rules.Party(2, "B", "hotline_agent", shifts=partner_shifts, team_leaders=(9,)),
        shift=swap_rules.SwapShift(1, 1, target.start, target.end, target.day, "2026-01"), now=NOW)
    if swap_rules.evaluate(facts, DEFAULTS):
        return
    # The partner's new shift neither overlaps nor touches any of theirs, and leaves the rest.
    taken = ShiftFacts(1, 2, target.start, target.end, target.day)
    for own in partner_shifts:
        assert gap_minutes(own, taken) > DEFAULTS.back_to_back_gap_minutes
        assert gap_minutes(own, taken) >= DEFAULTS.min_rest_minutes
    # The requester only loses a shift: nothing new can be wrong with what they keep.
    after_requester = [s for s in requester_shifts if s.id != 1]
    assert {v.rule for v in schedule_violations(after_requester, DEFAULTS)} <= {
        v.rule for v in schedule_violations(requester_shifts, DEFAULTS)}


# Leave days, counted by shift (DOMAIN.md: "a night shift across midnight is one day") -------------

ZONES = ["Europe/Berlin", "Asia/Shanghai", "America/New_York", "Australia/Sydney", "UTC"]


@st.composite
def local_days(draw: st.DrawFn) -> date:
    """Any day of 2025-2027, often one of a month's last two days (or a DST change's eve)."""
    year, month = draw(st.integers(2025, 2027)), draw(st.integers(1, 12))
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, draw(st.one_of(st.sampled_from([last - 1, last]), st.integers(1, last))))


def _local(day: date, minute: int, zone: str) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _leave(start: datetime, end: datetime, zone: str, shifts: list) -> leave_rules.LeaveFacts:  # type: ignore[type-arg]
    return leave_rules.LeaveFacts(kind="personal", user_id=1, requested_by_id=1, start=start, end=end,
                                  requested_at=start - timedelta(days=30), zone=zone, shifts=shifts)


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), day=local_days(), start=st.integers(0, 1439), minutes=st.integers(60, 14 * 60))
def test_one_shift_is_one_day_of_leave_across_midnight_and_month_ends(zone: str, day: date, start: int,
                                                                       minutes: int) -> None:
    begin = _local(day, start, zone)
    shift = leave_rules.LeaveShift(begin, begin + timedelta(minutes=minutes), day, "night" if start >= 1200 else "day")
    facts = _leave(shift.start, shift.end, zone, [shift])
    assert leave_rules.leave_days(facts) == 1
    assert leave_rules.steps_for(facts, DEFAULTS) == ["supervisor"]


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), day=local_days(), nights=st.integers(1, 6), start=st.integers(20 * 60, 23 * 60),
       minutes=st.integers(6 * 60, 10 * 60))
def test_consecutive_night_shifts_count_one_day_each(zone: str, day: date, nights: int, start: int,
                                                     minutes: int) -> None:
    shifts = [leave_rules.LeaveShift(_local(day + timedelta(days=n), start, zone),
                                     _local(day + timedelta(days=n), start, zone) + timedelta(minutes=minutes),
                                     day + timedelta(days=n), "night") for n in range(nights)]
    facts = _leave(shifts[0].start, shifts[-1].end, zone, shifts)
    assert leave_rules.leave_days(facts) == nights
    expected = ["supervisor"] if nights <= DEFAULTS.supervisor_leave_max_days else ["supervisor", "center_head"]
    assert leave_rules.steps_for(facts, DEFAULTS) == expected


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), day=local_days(), days=st.integers(1, 40), start=st.integers(0, 1439),
       length=st.integers(1, 23 * 60))
def test_without_shifts_leave_counts_whole_local_days(zone: str, day: date, days: int, start: int,
                                                      length: int) -> None:
    # Midnight to midnight: exactly that many days, whatever the month ends or clock changes between.
    assert leave_rules.leave_days(_leave(_local(day, 0, zone), _local(day + timedelta(days=days), 0, zone),
                                         zone, [])) == days
    # Less than a day of the wall clock (up to 23 h, so a clock change cannot make it 24), even
    # across midnight or a month's end: one day.
    begin = _local(day, start, zone)
    assert leave_rules.leave_days(_leave(begin, begin + timedelta(minutes=length), zone, [])) == 1
