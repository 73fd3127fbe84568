"""Staffing changes for a handover, from scheduling's own records: approved leave, registered swaps
and paybacks, and what roll call found (late, absent, excused, away from the post). Ids, kinds and
times only: the page names the people and says it in the reader's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import directory
from scheduling.models import LeaveRequest, RollCallEntry, Shift, SwapRequest

NOTEWORTHY = ("late", "absent", "excused")


def changes(session: Session, *, site_id: int, team_id: int | None, start: datetime, end: datetime,
            now: datetime) -> list[dict[str, Any]]:
    """What changed in who works from `start` to `end` at the site (or the team), for the people
    of it: leave approved over that time, swaps registered for shifts in it, and the roll call of
    the shifts that have begun by `now`. In time order."""
    people = {u.id for u in (directory.list_users(session, team_id=team_id) if team_id is not None
                             else directory.list_users(session, site_id=site_id))}
    if not people:
        return []
    items: list[dict[str, Any]] = []
    for leave in session.scalars(select(LeaveRequest).where(
            LeaveRequest.user_id.in_(people), LeaveRequest.status == "approved",
            LeaveRequest.start_at < end, LeaveRequest.end_at > start).order_by(LeaveRequest.start_at)):
        items.append({"kind": "leave", "user_id": leave.user_id, "leave_kind": leave.kind,
                      "start": leave.start_at.isoformat(), "end": leave.end_at.isoformat(),
                      "absence": leave.counts_as_absence})
    for swap, shift in session.execute(select(SwapRequest, Shift).join(Shift, Shift.id == SwapRequest.shift_id).where(
            SwapRequest.status == "registered", Shift.site_id == site_id, Shift.start_at < end, Shift.end_at > start,
            SwapRequest.partner_id.in_(people) | SwapRequest.requester_id.in_(people)).order_by(Shift.start_at)):
        items.append({"kind": "swap", "from_id": swap.requester_id, "to_id": swap.partner_id,
                      "payback": swap.pays_back_id is not None, "start": shift.start_at.isoformat(),
                      "end": shift.end_at.isoformat()})
    for entry, shift in session.execute(select(RollCallEntry, Shift).join(Shift, Shift.id == RollCallEntry.shift_id)
                                        .where(Shift.site_id == site_id, Shift.start_at >= start,
                                               Shift.start_at < min(end, now), RollCallEntry.user_id.in_(people))
                                        .order_by(Shift.start_at, RollCallEntry.user_id)):
        if entry.status in NOTEWORTHY or entry.violations:
            items.append({"kind": "rollcall", "user_id": entry.user_id, "status": entry.status,
                          "minutes_late": entry.minutes_late, "start": shift.start_at.isoformat(),
                          "end": shift.end_at.isoformat(), "rules": [v.get("rule") for v in entry.violations or []]})
    return sorted(items, key=lambda item: item["start"])
