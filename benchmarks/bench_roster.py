"""Benchmark: a month's roster for 200 agents (4 shift templates, rest, weekly hours, days off)
by CP-SAT, beside pyworkforce's MinRequiredResources on the same coverage. --agents changes the
team, and the calls with it.
Run: .venv/bin/python -m benchmarks.bench_roster [time_limit_seconds] [--agents N]"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np

from scheduling.forecast import Targets, staff_many
from scheduling.solver import Agent, Candidate, RosterProblem, solve

DAYS, SLOT = 30, 30
TEMPLATES = {"early": (6 * 60, 480), "day": (9 * 60, 480), "late": (14 * 60, 480), "night": (22 * 60, 480)}


def demand(scale: float = 1.0) -> list[int]:
    """Agents per 30-minute slot for 30 days from an Erlang C forecast (80/20, occupancy <= 90 %),
    for 200 agents' traffic times `scale`."""
    per_day = 1440 // SLOT
    curve = [max(0.0, math.sin(math.pi * (k - 14) / 30)) ** 1.5 for k in range(per_day)]
    calls = [((300 if d % 7 < 5 else 180) * curve[k] + 20) * scale for d in range(DAYS) for k in range(per_day)]
    out = staff_many(np.array(calls), 240.0, interval_minutes=SLOT, targets=Targets(0.8, 20, max_occupancy=0.9))
    return [int(v) for v in out["scheduled_agents"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("time_limit", nargs="?", type=float, default=60.0, help="seconds for each solver")
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args()
    limit, agent_count = args.time_limit, args.agents
    rng = random.Random(7)
    needs = demand(agent_count / 200)  # the traffic grows with the team
    candidates = [Candidate(d, d * 1440 + s, d * 1440 + s + length, f"w{d // 7}", template_id=i)
                  for d in range(DAYS) for i, (s, length) in enumerate(TEMPLATES.values())]
    agents = [Agent(i, days_off=frozenset(rng.sample(range(DAYS), 2))) for i in range(agent_count)]
    problem = RosterProblem(agents, candidates, SLOT, {None: needs})
    print(f"problem: {agent_count} agents x {DAYS} days x {len(TEMPLATES)} templates; peak demand {max(needs)}, "
          f"{sum(needs)} agent-slots")
    started = time.perf_counter()
    solution = solve(problem, time_limit_seconds=limit)
    elapsed = time.perf_counter() - started
    if solution.objective is None or solution.bound is None or solution.gap is None:
        # A loaded machine can reach the time limit before the first solution: say so.
        print(f"hotline CP-SAT: status {solution.status}, no solution within {limit:g} s "
              f"(time {elapsed:.1f} s, build + solve); give it more time")
    else:
        print(f"hotline CP-SAT: status {solution.status}, objective {solution.objective:.0f} (bound "
              f"{solution.bound:.0f}; staff minutes + a penalty per uncovered agent-slot), gap {solution.gap:.4%}, "
              f"{solution.staff_minutes / 60:.0f} staff hours in {len(solution.assignments)} shifts, uncovered "
              f"agent-slots {solution.uncovered} (day 1 before 06:00 has no night shift from the day before), "
              f"solutions {solution.solutions}, time {elapsed:.1f} s (build + solve)")

    # pyworkforce: head counts per shift and day only (no people, rest, weekly hours or days off),
    # so its cost is a lower bound on ours. Its periods are one day, so the night shift's early
    # hours are folded onto the same day.
    from pyworkforce.scheduling import MinRequiredResources

    per_day = 1440 // SLOT
    coverage = {}
    for name, (start, length) in TEMPLATES.items():
        covered = [0] * per_day
        for k in range(start // SLOT, (start + length) // SLOT):
            covered[k % per_day] = 1
        coverage[name] = covered
    required = [needs[d * per_day:(d + 1) * per_day] for d in range(DAYS)]
    started = time.perf_counter()
    theirs = MinRequiredResources(num_days=DAYS, periods=per_day, shifts_coverage=coverage,
                                  required_resources=required, max_period_concurrency=agent_count,
                                  max_shift_concurrency=agent_count, max_search_time=limit,
                                  num_search_workers=2).solve()
    their_time = time.perf_counter() - started
    shifts = sum(r["resources"] for r in theirs["resources_shifts"])
    print(f"pyworkforce MinRequiredResources: status {theirs['status']}, {shifts} shifts = {shifts * 8} staff hours, "
          f"time {their_time:.1f} s (head counts only: no agents, rest, weekly hours or days off)")


if __name__ == "__main__":
    main()
