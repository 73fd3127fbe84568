"""What the hub itself knows for handovers and duty logs, read through tickets' service functions:
open escalations, complaints and tickets due during the next shift, ticket counts by category.
Ids, numbers and deadlines only: a handover is not the place for customers' personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.models import User
from tickets import search as ticket_search

ACTIVE = ("new", "open", "waiting_on_customer", "escalated")
LIMIT = 200


def _item(ticket: Any, due: datetime | None) -> dict[str, Any]:
    return {"ticket_id": ticket.id, "number": ticket.number, "category": ticket.category,
            "priority": ticket.priority, "status": ticket.status, "escalation_level": ticket.escalation_level,
            "due_at": due.isoformat() if due else None}


def open_escalations(session: Session, *, site_id: int, viewer: User) -> list[dict[str, Any]]:
    page = ticket_search.search(session, viewer=viewer, site_id=site_id, status="escalated", limit=LIMIT,
                                with_count=False)
    return [_item(t, t.sla_due_at) for t in page.items]


def complaints_due(session: Session, *, site_id: int, viewer: User, until: datetime) -> list[dict[str, Any]]:
    """Open complaints whose reply (or phone follow-up) is due before `until`, overdue ones too."""
    page = ticket_search.search(session, viewer=viewer, site_id=site_id, category="complaint", status=list(ACTIVE),
                                limit=LIMIT, with_count=False)
    items = []
    for ticket in page.items:
        dues = [d for d in (ticket.reply_due_at if not ticket.replied_at else None, ticket.phone_followup_due_at)
                if d is not None and d < until]
        if dues:
            items.append(_item(ticket, min(dues)))
    return sorted(items, key=lambda i: i["due_at"])


def tickets_due(session: Session, *, site_id: int, viewer: User, until: datetime) -> list[dict[str, Any]]:
    """Tickets whose running SLA deadline falls before `until` (overdue ones first)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while len(items) < LIMIT:
        page = ticket_search.search(session, viewer=viewer, site_id=site_id, status=list(ACTIVE), sort="due",
                                    limit=100, cursor=cursor, with_count=False)
        for ticket in page.items:
            due = ticket.sla_due_at
            if due is None:  # the search sorted by due returns running deadlines only
                continue
            if due >= until:
                return items
            items.append(_item(ticket, due))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return items


def ticket_counts(session: Session, *, site_id: int, viewer: User, start: datetime, end: datetime) -> dict[str, int]:
    """Tickets opened from `start` to `end` per category (the duty log's workload figures)."""
    counts = {}
    for category in ("inquiry", "complaint", "suggestion", "callback_request", "other"):
        page = ticket_search.search(session, viewer=viewer, site_id=site_id, category=category, created_from=start,
                                    created_to=end, limit=1, with_count=True)
        counts[category] = int(page.count or 0)
    return counts
