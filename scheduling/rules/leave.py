"""Leave rules of DOMAIN.md over plain data: notice periods, who may ask, night shifts, public
holidays, swapped shifts, and which approval steps a request needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.permissions import rank
from scheduling.rules import Violation, violation
from scheduling.settings import Policy

KINDS = ("personal", "sick", "special", "business", "study")
# Business and study leave are the center head's to approve, whatever their length.
CENTER_HEAD_KINDS = ("business", "study")


@dataclass(frozen=True)
class LeaveShift:
    start: datetime
    end: datetime
    day: date
    kind: str  # day | night | custom
    source: str = "roster"  # how its owner got it; swap and payback shifts cannot be taken as leave


@dataclass(frozen=True)
class LeaveFacts:
    kind: str
    user_id: int
    requested_by_id: int
    start: datetime
    end: datetime
    requested_at: datetime
    zone: str
    shifts: Sequence[LeaveShift] = ()  # the person's shifts the leave touches
    named_shift_owner_id: int | None = None  # owner of the shift named in the request, if any
    other_leave: Sequence[tuple[datetime, datetime]] = ()  # the person's pending or approved leave
    holidays: frozenset[date] = frozenset()
    holiday_special_case: bool = False
    next_shift_day: date | None = None  # the person's first shift after the leave ends
    person_role: str = "agent"  # the role of the person on leave (their own rank's step is their superior's)


@dataclass(frozen=True)
class LeaveDecision:
    violations: list[Violation]
    conditions: list[Violation] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    late: bool = False
    certificate_due_on: date | None = None


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def _days(facts: LeaveFacts) -> list[date]:
    first = _local(facts.start, facts.zone).date()
    last = _local(facts.end - timedelta(microseconds=1), facts.zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _minutes(label: int) -> str:
    return f"{label // 60} h" if label % 60 == 0 and label < 1440 else (
        f"{label // 1440} day(s)" if label % 1440 == 0 else f"{label} min")


# The rules, each a small function returning the violations it finds --------------------------

def kind_known(f: LeaveFacts, p: Policy) -> list[Violation]:
    return [] if f.kind in KINDS else [violation("leave.unknown_kind", kind=f.kind)]


def valid_range(f: LeaveFacts, p: Policy) -> list[Violation]:
    return [] if f.end > f.start else [violation("leave.bad_range")]


def not_in_past(f: LeaveFacts, p: Policy) -> list[Violation]:
    return [violation("leave.in_past")] if f.start < f.requested_at else []


def only_self(f: LeaveFacts, p: Policy) -> list[Violation]:
    # Sick leave may be reported by someone else; personal and special leave only by the person.
    if f.kind != "sick" and f.requested_by_id != f.user_id:
        return [violation("leave.only_self")]
    return []


def own_shift(f: LeaveFacts, p: Policy) -> list[Violation]:
    if f.named_shift_owner_id is not None and f.named_shift_owner_id != f.user_id:
        return [violation("leave.not_own_shift")]
    return []


def no_overlap(f: LeaveFacts, p: Policy) -> list[Violation]:
    return [violation("leave.overlap", other_start=s.isoformat(), other_end=e.isoformat())
            for s, e in f.other_leave if s < f.end and e > f.start][:1]


def night_deadline(f: LeaveFacts, p: Policy) -> list[Violation]:
    deadline_minute = p.night_leave_deadline_minute
    for shift in f.shifts:
        if shift.kind != "night":
            continue
        cutoff = datetime.combine(shift.day, time(deadline_minute // 60, deadline_minute % 60),
                                  tzinfo=ZoneInfo(f.zone))
        if f.requested_at >= cutoff:
            return [violation("leave.night_deadline",
                              deadline=f"{deadline_minute // 60:02d}:{deadline_minute % 60:02d}")]
    return []


def public_holiday(f: LeaveFacts, p: Policy) -> list[Violation]:
    days = sorted({s.day for s in f.shifts} or set(_days(f)))
    found = []
    for day in days:
        if day not in f.holidays:
            continue
        if not f.holiday_special_case:
            found.append(violation("leave.holiday_not_special", day=day.isoformat()))
        midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(f.zone))
        if f.requested_at > midnight - timedelta(days=p.holiday_leave_notice_days):
            found.append(violation("leave.holiday_notice", day=day.isoformat(), days=p.holiday_leave_notice_days))
        break
    return found


def swapped_shift(f: LeaveFacts, p: Policy) -> list[Violation]:
    return [violation("leave.swapped_shift", day=s.day.isoformat()) for s in f.shifts
            if s.source in ("swap", "payback")][:1]


RULES = (kind_known, valid_range, not_in_past, only_self, own_shift, no_overlap, night_deadline, public_holiday,
         swapped_shift)


# Conditions: not refusals, but they change how the request is handled ---------------------------

def late_notice(f: LeaveFacts, p: Policy) -> list[Violation]:
    # Business and study leave are planned like personal leave: a day ahead.
    notice = {"personal": p.personal_leave_notice_minutes, "business": p.personal_leave_notice_minutes,
              "study": p.personal_leave_notice_minutes, "special": p.special_leave_notice_minutes}.get(f.kind)
    if notice is None:
        return []
    reference = min([s.start for s in f.shifts if s.end > f.start] or [f.start])
    if f.requested_at > reference - timedelta(minutes=notice):
        return [violation("leave.late_notice", notice=_minutes(notice))]
    return []


def certificate_day(f: LeaveFacts) -> date | None:
    """A full sick day (the whole of one of the person's shifts, or 24 hours when they have none)
    needs a medical certificate on the first day back."""
    if f.kind != "sick":
        return None
    full = any(f.start <= s.start and s.end <= f.end for s in f.shifts) or (
        not f.shifts and f.end - f.start >= timedelta(hours=24))
    if not full:
        return None
    return f.next_shift_day or (_local(f.end - timedelta(microseconds=1), f.zone).date() + timedelta(days=1))


def leave_days(f: LeaveFacts) -> int:
    """Days of leave, counted by shift: each of the person's shifts the leave touches is one day,
    a night shift across midnight (or a month's end) included. With no shift in the period (no
    roster yet), whole local days of the wall clock, a part of a day counting as one."""
    if f.shifts:
        return len({(s.start, s.end) for s in f.shifts})
    wall = (_local(f.end, f.zone).replace(tzinfo=None) - _local(f.start, f.zone).replace(tzinfo=None))
    return max(1, -(-wall // timedelta(days=1)))


def steps_for(f: LeaveFacts, p: Policy) -> list[str]:
    """Level by level, never skipping: the supervisor, then the center head for more than
    `supervisor_leave_max_days` days and for business and study leave. A supervisor's own leave
    goes to their superior, the center head, at once: the supervisor's step is not theirs to take,
    and a center head who took it could not take the next (no one decides two steps), so with one
    supervisor and one center head the request would wait for ever. A center head's own leave is
    decided by another center head."""
    steps = ["supervisor", "center_head"] if (
        f.kind in CENTER_HEAD_KINDS or leave_days(f) > p.supervisor_leave_max_days) else ["supervisor"]
    own = [step for step in steps if rank(step) > rank(f.person_role)]
    return own or ["center_head"]


def evaluate(f: LeaveFacts, p: Policy) -> LeaveDecision:
    found: list[Violation] = []
    for rule in RULES:
        found += rule(f, p)
    if found:
        return LeaveDecision(found)
    conditions = late_notice(f, p)
    due = certificate_day(f)
    if due is not None:
        conditions.append(violation("leave.certificate_due", day=due.isoformat()))
    return LeaveDecision([], conditions, steps_for(f, p), late=bool(late_notice(f, p)), certificate_due_on=due)


# Who may decide a step --------------------------------------------------------------------------

# Why a leave is refused: the approver picks one (a note says more; "other" needs the note).
REFUSAL_REASONS = ("staffing", "notice", "documents", "other")


def approver_violations(*, person_id: int, step: str, approver_id: int, approver_role: str,
                        earlier_approver_ids: Sequence[int] = (), later_steps: Sequence[str] = ()) -> list[Violation]:
    """What stops this person from deciding this step: level by level, each step is decided by
    someone else than the person on leave, of at least the step's rank on the management ladder,
    who has not already approved an earlier step of the same leave, and who is not the rank a
    later step waits for (they decide that step, not this one: a center head who took the
    supervisor's step could not take their own, and with one center head the request would wait
    for ever). An administrator runs the hub; being one does not make anyone an approver."""
    if approver_id == person_id:
        return [violation("leave.approver_self")]
    if approver_role == "admin":
        return [violation("leave.approver_admin")]
    found = []
    if rank(approver_role) < rank(step):
        found.append(violation(f"leave.needs_{step}"))
    if approver_id in earlier_approver_ids:
        found.append(violation("leave.approver_repeated"))
    if any(rank(approver_role) >= rank(later) for later in later_steps):
        found.append(violation("leave.approver_needed_later"))
    return found
