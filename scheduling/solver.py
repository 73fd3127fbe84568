"""The roster as a CP-SAT model over plain data: which agent works which candidate shift, covering
the forecast with the fewest staff hours under the rest, weekly-hours, skill and day-off rules.
Progress (objective, bound, solutions, time) goes to a callback while it solves."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

__all__ = ["Agent", "Candidate", "Progress", "RosterProblem", "RosterSolution", "solve"]


@dataclass(frozen=True)
class Agent:
    id: int
    skills: frozenset[int] = frozenset()
    job_type: str = "hotline_agent"
    days_off: frozenset[int] = frozenset()  # day indexes the agent asked to have off
    fixed: frozenset[int] = frozenset()  # candidate indexes already worked (kept as they are)


@dataclass(frozen=True)
class Candidate:
    """A shift that could be worked: times in minutes from the start of the horizon (UTC), so a
    DST day simply has its candidates an hour nearer or further apart."""

    day: int
    start: int
    end: int
    week: str
    template_id: int | None = None
    skill_id: int | None = None
    job_type: str = "hotline_agent"

    @property
    def minutes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class RosterProblem:
    agents: Sequence[Agent]
    candidates: Sequence[Candidate]
    slot_minutes: int
    # Agents needed per slot (slot k covers [k·slot, (k+1)·slot) from the horizon start), by the
    # skill the agents must have (None: anyone on a shift counts).
    demand: dict[int | None, Sequence[int]]
    min_rest_minutes: int = 11 * 60
    max_weekly_minutes: int = 40 * 60
    # Staff minutes one uncovered agent-slot costs: above any shift, so covering always wins.
    shortage_penalty: int = 0
    # Weekly minutes each agent keeps free below `max_weekly_minutes`, so a colleague's shift can
    # be taken in a swap without breaking the weekly rule (shifts already worked still count).
    weekly_headroom_minutes: int = 0


@dataclass(frozen=True)
class Progress:
    objective: float
    bound: float
    solutions: int
    elapsed_seconds: float

    @property
    def gap(self) -> float:
        return _gap(self.objective, self.bound)


@dataclass
class RosterSolution:
    status: str
    objective: float | None
    bound: float | None
    solutions: int
    elapsed_seconds: float
    assignments: list[tuple[int, int]] = field(default_factory=list)  # (agent id, candidate index)
    staff_minutes: int = 0
    uncovered: int = 0  # agent-slots of demand left uncovered

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return _gap(self.objective, self.bound)


def _gap(objective: float, bound: float) -> float:
    return 0.0 if objective == bound else abs(objective - bound) / max(1.0, abs(objective))


class _Callback(cp_model.CpSolverSolutionCallback):
    def __init__(self, report: Callable[[Progress], None] | None, unit: int) -> None:
        super().__init__()
        self.unit = unit
        self.report = report
        self.count = 0
        self.started = time.monotonic()

    def on_solution_callback(self) -> None:
        self.count += 1
        if self.report is not None:
            self.report(Progress(self.objective_value * self.unit, self.best_objective_bound * self.unit, self.count,
                                 time.monotonic() - self.started))


def _conflicts(candidates: Sequence[Candidate], min_rest: int) -> list[tuple[int, int]]:
    """Pairs one person cannot both work: overlapping, or less than the minimum rest apart."""
    order = sorted(range(len(candidates)), key=lambda i: candidates[i].start)
    pairs = []
    for pos, i in enumerate(order):
        for j in order[pos + 1:]:
            if candidates[j].start >= candidates[i].end + min_rest:
                break
            pairs.append((i, j))
    # A long shift can reach past a later-starting short one; the sweep above already covers it
    # because it compares each shift with every later start until the rest window closes.
    return pairs


def _eligible(agent: Agent, candidate: Candidate) -> bool:
    if candidate.day in agent.days_off:
        return False
    if candidate.skill_id is not None and candidate.skill_id not in agent.skills:
        return False
    return candidate.job_type == agent.job_type


def build_model(problem: RosterProblem) -> tuple[cp_model.CpModel, dict[tuple[int, int], cp_model.IntVar],
                                                  list[cp_model.IntVar], int]:
    """The model, its assignment variables, the shortage variables and the objective's unit
    (minutes per objective point: the gcd of the shift lengths, to keep coefficients small)."""
    model = cp_model.CpModel()
    cands = problem.candidates
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for a, agent in enumerate(problem.agents):
        for i, cand in enumerate(cands):
            if i in agent.fixed:
                var = model.new_bool_var(f"x{a}_{i}")
                model.add(var == 1)
                x[a, i] = var
            elif _eligible(agent, cand):
                x[a, i] = model.new_bool_var(f"x{a}_{i}")
    by_agent_day: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
    by_agent_week: dict[tuple[int, str], list[tuple[cp_model.IntVar, int]]] = defaultdict(list)
    fixed_minutes: dict[tuple[int, str], int] = defaultdict(int)
    for (a, i), var in x.items():
        by_agent_day[a, cands[i].day].append(var)
        by_agent_week[a, cands[i].week].append((var, cands[i].minutes))
        if i in problem.agents[a].fixed:
            fixed_minutes[a, cands[i].week] += cands[i].minutes
    for group in by_agent_day.values():
        if len(group) > 1:
            model.add_at_most_one(group)
    cap = max(0, problem.max_weekly_minutes - problem.weekly_headroom_minutes)
    for key, weekly in by_agent_week.items():
        limit = min(problem.max_weekly_minutes, max(cap, fixed_minutes[key]))
        if sum(m for _, m in weekly) > limit:
            model.add(sum(var * m for var, m in weekly) <= limit)
    for i, j in _conflicts(cands, problem.min_rest_minutes):
        if cands[i].day == cands[j].day:
            continue  # already at most one per day
        for a in range(len(problem.agents)):
            if (a, i) in x and (a, j) in x:
                model.add_bool_or([x[a, i].Not(), x[a, j].Not()])
    # Coverage with slack: an unreachable demand leaves a shortage instead of an infeasible model.
    # Coverage is stated on per-candidate head counts, which gives the LP relaxation the
    # aggregate structure (agents are nearly interchangeable) and so a much tighter bound.
    heads: dict[int, cp_model.IntVar] = {}
    per_candidate: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for (_, i), var in x.items():
        per_candidate[i].append(var)
    for i, group in per_candidate.items():
        heads[i] = model.new_int_var(0, len(group), f"n{i}")
        model.add(heads[i] == sum(group))
    slot = problem.slot_minutes
    covering: dict[int, list[int]] = defaultdict(list)
    for i, cand in enumerate(cands):
        if i not in heads:
            continue
        for k in range(-(-cand.start // slot), -(-cand.end // slot)):
            covering[k].append(i)  # the shift spans the slot's start
    unit = math.gcd(*(c.minutes for c in cands)) if cands else 1
    penalty = problem.shortage_penalty or (max((c.minutes for c in cands), default=60) * 4)
    shortages: list[cp_model.IntVar] = []
    for skill, needs in problem.demand.items():
        for k, need in enumerate(needs):
            if need <= 0:
                continue
            terms = [heads[i] for i in covering.get(k, ()) if skill is None or cands[i].skill_id == skill]
            short = model.new_int_var(0, need, f"short{skill}_{k}")
            shortages.append(short)
            model.add(sum(terms) + short >= need)
    model.minimize(sum(heads[i] * (cands[i].minutes // unit) for i in heads)
                   + max(1, penalty // unit) * sum(shortages))
    return model, x, shortages, unit


def solve(problem: RosterProblem, *, time_limit_seconds: float = 30.0, workers: int = 0,
          relative_gap: float = 0.0, on_progress: Callable[[Progress], None] | None = None) -> RosterSolution:
    """Solve to optimality or until the time limit (or `relative_gap`), reporting each solution."""
    model, x, shortages, unit = build_model(problem)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_seconds
    if workers:
        solver.parameters.num_workers = workers
    if relative_gap:
        solver.parameters.relative_gap_limit = relative_gap
    callback = _Callback(on_progress, unit)
    started = time.monotonic()
    status = solver.solve(model, callback)
    elapsed = time.monotonic() - started
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return RosterSolution(name, None, None, callback.count, elapsed)
    assignments = [(problem.agents[a].id, i) for (a, i), var in x.items() if solver.boolean_value(var)]
    return RosterSolution(
        status=name, objective=solver.objective_value * unit, bound=solver.best_objective_bound * unit,
        solutions=callback.count,
        elapsed_seconds=elapsed, assignments=sorted(assignments),
        staff_minutes=sum(problem.candidates[i].minutes for _, i in assignments),
        uncovered=int(sum(solver.value(s) for s in shortages)),
    )
