"""Property-based: a solved roster never breaks the timing rules, and a swap the rules accept never
leaves either party with back-to-back shifts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.rules import swaps as swap_rules
from scheduling.rules.shifts import ShiftFacts, schedule_violations
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
        requester=swap_rules.Party(1, "A", "hotline_agent", shifts=requester_shifts),
        partner=swap_rules.Party(2, "B", "hotline_agent", shifts=partner_shifts),
        shift=swap_rules.SwapShift(1, 1, target.start, target.end, target.day, "2026-01"), now=NOW)
    if swap_rules.evaluate(facts, DEFAULTS):
        return
    after_partner = partner_shifts + [ShiftFacts(1, 2, target.start, target.end, target.day)]
    after_requester = [s for s in requester_shifts if s.id != 1]
    for schedule in (after_partner, after_requester):
        rules = {v.rule for v in schedule_violations(schedule, DEFAULTS)}
        # The requester's own schedule may have been bad before; the swap must not add to the partner's.
        if schedule is after_partner:
            assert not rules & {"shift.back_to_back", "shift.overlap", "shift.min_rest"} or \
                rules <= {v.rule for v in schedule_violations(partner_shifts, DEFAULTS)}
        else:
            assert rules <= {v.rule for v in schedule_violations(requester_shifts, DEFAULTS)}
