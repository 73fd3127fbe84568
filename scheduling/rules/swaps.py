"""Shift-swap rules of DOMAIN.md over plain data. A swap hands the requester's shift to the
partner; a payback is a swap the other way that settles an earlier one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from scheduling.rules import Violation, violation
from scheduling.rules.shifts import ShiftFacts, assignment_violations
from scheduling.settings import Policy


@dataclass(frozen=True)
class Party:
    id: int
    name: str
    job_type: str
    skill_levels: Mapping[int, int] = field(default_factory=dict)
    shifts: Sequence[ShiftFacts] = ()  # their shifts around the swapped one
    leave: Sequence[tuple[datetime, datetime]] = ()  # pending or approved leave
    swaps_this_month: int = 0  # other live swaps in the shift's month (paybacks not counted)
    unpaid: Sequence[tuple[int, date]] = ()  # (swap id, day) of live swaps not yet paid back
    team_leaders: Sequence[int] = ()  # the active team leaders of their team: who approves their side


@dataclass(frozen=True)
class SwapShift:
    id: int
    owner_id: int
    start: datetime
    end: datetime
    day: date
    month: str
    skill_id: int | None = None
    skill_code: str | None = None


@dataclass(frozen=True)
class Payback:
    swap_id: int
    requester_id: int  # of the swap being paid back
    partner_id: int
    paid: bool = False


@dataclass(frozen=True)
class SwapFacts:
    requester: Party
    partner: Party
    shift: SwapShift
    now: datetime
    holidays: frozenset[date] = frozenset()
    pays_back: Payback | None = None
    skill_codes: Mapping[int, str] = field(default_factory=dict)  # every skill's code, for the reasons


def not_self(f: SwapFacts, p: Policy) -> list[Violation]:
    return [violation("swap.self")] if f.requester.id == f.partner.id else []


def own_shift(f: SwapFacts, p: Policy) -> list[Violation]:
    return [violation("swap.not_own_shift")] if f.shift.owner_id != f.requester.id else []


def not_started(f: SwapFacts, p: Policy) -> list[Violation]:
    return [violation("swap.in_past")] if f.shift.start <= f.now else []


def monthly_limit(f: SwapFacts, p: Policy) -> list[Violation]:
    if f.pays_back is not None:
        return []  # paying back settles a swap; it is not a new one
    return [violation("swap.max_per_month", person=party.name, count=party.swaps_this_month, month=f.shift.month,
                      limit=p.max_swaps_per_month)
            for party in _parties(f) if party.swaps_this_month + 1 > p.max_swaps_per_month]


def paid_back_first(f: SwapFacts, p: Policy) -> list[Violation]:
    settling = f.pays_back.swap_id if f.pays_back else None
    found = []
    for party in _parties(f):
        owed = [(swap_id, day) for swap_id, day in party.unpaid if swap_id != settling]
        if owed:
            found.append(violation("swap.unpaid", person=party.name, day=owed[0][1].isoformat()))
    return found


def rest_and_hours(f: SwapFacts, p: Policy) -> list[Violation]:
    """The partner takes the shift: no overlap, no back-to-back, enough rest, weekly hours kept.
    (The requester only loses a shift, which cannot create any of these.)"""
    taken = ShiftFacts(f.shift.id, f.partner.id, f.shift.start, f.shift.end, f.shift.day)
    others = [s for s in f.partner.shifts if s.id != f.shift.id]
    return assignment_violations(others, taken, p, prefix="swap", person=f.partner.name)


def job_type(f: SwapFacts, p: Policy) -> list[Violation]:
    if f.requester.job_type != f.partner.job_type:
        return [violation("swap.job_type", requester_job_type=f.requester.job_type,
                          partner_job_type=f.partner.job_type)]
    return []


def skill_level(f: SwapFacts, p: Policy) -> list[Violation]:
    """Comparable skill: the partner holds the shift's skill at a level at most
    `skill_level_tolerance` from the requester's. A shift that names no skill is judged on the
    agents' own levels: each skill the requester holds (the work they were rostered for)."""
    skills = [f.shift.skill_id] if f.shift.skill_id is not None else sorted(f.requester.skill_levels)
    found = []
    for skill in skills:
        mine, theirs = f.requester.skill_levels.get(skill), f.partner.skill_levels.get(skill)
        if theirs is None or (mine is not None and abs(mine - theirs) > p.skill_level_tolerance):
            code = f.shift.skill_code if skill == f.shift.skill_id and f.shift.skill_code else f.skill_codes.get(skill)
            found.append(violation("swap.skill_level", skill=code or skill, requester_level=mine,
                                   partner_level=theirs, tolerance=p.skill_level_tolerance))
    return found


def team_leaders(f: SwapFacts, p: Policy) -> list[Violation]:
    """Both team leaders approve: each party needs a team with a leader to approve their side."""
    return [violation("swap.no_team_leader", person=party.name) for party in _parties(f) if not party.team_leaders]


def no_leave(f: SwapFacts, p: Policy) -> list[Violation]:
    return [violation("swap.on_leave", person=party.name, day=f.shift.day.isoformat()) for party in _parties(f)
            if any(s < f.shift.end and e > f.shift.start for s, e in party.leave)]


def not_holiday(f: SwapFacts, p: Policy) -> list[Violation]:
    return [violation("swap.public_holiday", day=f.shift.day.isoformat())] if f.shift.day in f.holidays else []


def payback_matches(f: SwapFacts, p: Policy) -> list[Violation]:
    if f.pays_back is None:
        return []
    found = []
    if (f.pays_back.requester_id, f.pays_back.partner_id) != (f.partner.id, f.requester.id):
        found.append(violation("swap.payback_mismatch"))
    if f.pays_back.paid:
        found.append(violation("swap.already_paid"))
    return found


def _parties(f: SwapFacts) -> tuple[Party, ...]:
    return (f.requester,) if f.requester.id == f.partner.id else (f.requester, f.partner)


RULES = (not_self, own_shift, not_started, monthly_limit, paid_back_first, rest_and_hours, job_type, skill_level,
         no_leave, not_holiday, payback_matches, team_leaders)


def evaluate(f: SwapFacts, p: Policy) -> list[Violation]:
    """Every rule the swap breaks, in a stable order; empty when it may go ahead."""
    found: list[Violation] = []
    for rule in RULES:
        if rule is rest_and_hours and f.requester.id == f.partner.id:
            continue  # meaningless with oneself; swap.self already says why
        found += rule(f, p)
    return found
