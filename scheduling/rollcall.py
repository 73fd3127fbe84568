"""Roll call from the presence log: staff arrive `arrival_lead_minutes` before their shift; 20
minutes late without leave, or 20 minutes away from the post, is a violation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.errors import ValidationFailed
from core.models import Role, User
from scheduling import access
from scheduling import shifts as shift_service
from scheduling.models import LeaveRequest, RollCallEntry, Shift, SwapRequest
from scheduling.presence_source import OFF_POST, Spell, spells
from scheduling.rules import Violation, violation
from scheduling.settings import Policy, policy

# How early a sign-in can count as arriving for a shift.
ARRIVAL_WINDOW = timedelta(hours=3)
STATUSES = ("on_time", "late", "absent", "on_leave", "excused", "expected")


def assess(shift_start: datetime, shift_end: datetime, presence: list[Spell], *, now: datetime, on_leave: bool,
           rules: Policy) -> tuple[str, datetime | None, int, int, list[Violation]]:
    """(status, arrived_at, minutes_late, longest_away_minutes, violations) from presence spells
    covering [shift_start - ARRIVAL_WINDOW, min(now, shift_end))."""
    if on_leave:
        return "on_leave", None, 0, 0, []
    arrived = next((s.start for s in presence if s.state not in OFF_POST and s.end > shift_start - ARRIVAL_WINDOW),
                   None)
    found: list[Violation] = []
    if arrived is None:
        grace = shift_start + timedelta(minutes=rules.late_violation_minutes)
        if now < grace:
            return "expected", None, 0, 0, []
        return "absent", None, 0, 0, [violation("rollcall.absent")]
    late = max(0, int((arrived - shift_start).total_seconds() // 60))
    status = "on_time" if arrived <= shift_start - timedelta(minutes=rules.arrival_lead_minutes) else "late"
    if late >= rules.late_violation_minutes:
        found.append(violation("rollcall.late", minutes=late, limit=rules.late_violation_minutes))
    longest = 0
    for spell in presence:
        if spell.state not in OFF_POST or spell.end <= arrived:
            continue
        start, end = max(spell.start, arrived, shift_start), min(spell.end, shift_end, now)
        minutes = int((end - start).total_seconds() // 60)
        if minutes <= 0:
            continue
        longest = max(longest, minutes)
        if minutes >= rules.away_violation_minutes:
            found.append(violation("rollcall.left_post", minutes=minutes, start=start.isoformat(),
                                   limit=rules.away_violation_minutes))
    return status, arrived, late, longest, found


def _came(session: Session, user_id: int, shift: Shift, now: datetime) -> bool:
    """Whether the person was at the post at some time from the arrival window to now (or the end)."""
    until = max(min(now, shift.end_at), shift.start_at - ARRIVAL_WINDOW + timedelta(seconds=1))
    return any(s.state not in OFF_POST for s in spells(session, user_id=user_id, start=shift.start_at - ARRIVAL_WINDOW,
                                                       end=until))


def _handed_over_by(session: Session, shift: Shift) -> int | None:
    """Who gave this shift to its owner by a registered swap (or payback), if it came that way."""
    if shift.source not in ("swap", "payback"):
        return None
    return session.scalar(select(SwapRequest.requester_id).where(
        SwapRequest.shift_id == shift.id, SwapRequest.partner_id == shift.user_id,
        SwapRequest.status == "registered").order_by(SwapRequest.id.desc()).limit(1))


def _keep(session: Session, shift: Shift, user_id: int, assessed: tuple[str, datetime | None, int, int,
                                                                        list[Violation]],
          by: User | None) -> RollCallEntry:
    status, arrived, late, away, found = assessed
    entry = session.scalar(select(RollCallEntry).where(RollCallEntry.shift_id == shift.id,
                                                       RollCallEntry.user_id == user_id))
    if entry is None:
        entry = RollCallEntry(shift_id=shift.id, user_id=user_id, status=status)
        session.add(entry)
    if entry.status != "excused":
        entry.status = status
    entry.arrived_at, entry.minutes_late, entry.longest_away_minutes = arrived, late, away
    entry.violations = [v.as_error() for v in found]
    entry.checked_by_id = by.id if by else entry.checked_by_id
    return entry


def check_shift(session: Session, *, shift: Shift, by: User | None = None) -> RollCallEntry:
    """Assess one shift now and keep the result (an entry marked excused by a leader stays so).
    A swapped shift left empty (its owner absent, and the person who handed it over not there
    either) is an absence for both parties of the swap: each gets an entry, and the leader
    excuses whoever was not responsible. Returns the owner's entry."""
    now = clock.now()
    leave = session.scalar(select(LeaveRequest).where(
        LeaveRequest.user_id == shift.user_id, LeaveRequest.status == "approved",
        LeaveRequest.start_at <= shift.start_at, LeaveRequest.end_at > shift.start_at).limit(1))
    # Before the arrival window opens nobody has arrived yet, whatever their presence is now.
    opens = shift.start_at - ARRIVAL_WINDOW
    presence = spells(session, user_id=shift.user_id, start=opens, end=min(now, shift.end_at)) if now > opens else []
    status, arrived, late, away, found = assess(shift.start_at, shift.end_at, presence, now=now,
                                                on_leave=leave is not None, rules=policy(session))
    if leave is not None and leave.counts_as_absence and leave.absence_rule:
        # Leave that counts as absence (a medical certificate overdue): absent, and why.
        due = leave.certificate_due_on.isoformat() if leave.certificate_due_on else ""
        status, found = "absent", [violation(leave.absence_rule, day=due)]
    other = _handed_over_by(session, shift) if status == "absent" else None
    empty = other is not None and not _came(session, other, shift, now)
    if empty and other is not None:
        found = [*found, violation("rollcall.swap_left_empty")]
        _keep(session, shift, other, ("absent", None, 0, 0, [violation("rollcall.swap_left_empty")]), by)
    for stale in session.scalars(select(RollCallEntry).where(  # an earlier assessment no longer true
            RollCallEntry.shift_id == shift.id, RollCallEntry.user_id != shift.user_id,
            RollCallEntry.user_id != (other if empty else None))):
        session.delete(stale)
    entry = _keep(session, shift, shift.user_id, (status, arrived, late, away, found), by)
    session.flush()
    return entry


def entries_of(session: Session, *, shift: Shift) -> list[RollCallEntry]:
    """A shift's roll-call entries: its owner's first, then anyone else assessed for it."""
    return sorted(session.scalars(select(RollCallEntry).where(RollCallEntry.shift_id == shift.id)),
                  key=lambda e: (e.user_id != shift.user_id, e.id or 0))


def roll_call(session: Session, *, site_id: int, start: datetime, by: User,
              window_minutes: int = 60) -> list[tuple[Shift, RollCallEntry]]:
    """Roll call for the shifts at a site starting within `window_minutes` after `start`."""
    access.require_role(by, Role.team_leader, "take roll call")
    access.require_site(by, site_id, "take roll call")
    if not 0 < window_minutes <= 24 * 60:
        raise ValidationFailed("The window is 1 minute to 24 hours.", field="window_minutes")
    found = session.scalars(select(Shift).where(Shift.site_id == site_id, Shift.start_at >= start,
                                                Shift.start_at < start + timedelta(minutes=window_minutes))
                            .order_by(Shift.start_at, Shift.user_id))
    checked = []
    for shift in found:
        check_shift(session, shift=shift, by=by)
        checked += [(shift, entry) for entry in entries_of(session, shift=shift)]
    return checked


def excuse(session: Session, *, shift_id: int, by: User, note: str, user_id: int | None = None) -> RollCallEntry:
    """A leader's judgement (an emergency phoned in, a system outage, who was responsible for a
    swapped shift left empty): the person's entry for the shift (its owner's by default) stays
    excused."""
    shift = shift_service.get(session, shift_id=shift_id)
    access.require_role(by, Role.team_leader, "excuse lateness or absence")
    access.require_site(by, shift.site_id, "excuse lateness or absence")
    if not note.strip():
        raise ValidationFailed("Say why the lateness or absence is excused.", field="note")
    check_shift(session, shift=shift, by=by)
    person = shift.user_id if user_id is None else user_id
    entry = next((e for e in entries_of(session, shift=shift) if e.user_id == person), None)
    if entry is None:
        raise ValidationFailed("That person has nothing to excuse on this shift.", field="user_id")
    entry.status, entry.note = "excused", note.strip()[:500]
    session.flush()
    return entry
