"""Ticket facts other packages compose into their own set-based statements (QA's sampling), so
they need not read the tickets' tables: one selectable per need, each over a single table so that
SQLite, too, folds it into the caller's statement rather than materialising it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, or_, select

from tickets.models.customers import CareFollowUp
from tickets.models.tickets import Ticket

__all__ = ["satisfaction_results", "ticket_flags"]


def ticket_flags() -> Select[Any]:
    """Every ticket's (ticket_id, complaint, escalated), the last two 1 or 0. Outer-join it by
    ticket_id; the database folds it into the caller's statement."""
    return select(Ticket.id.label("ticket_id"),
                  case((Ticket.category == "complaint", 1), else_=0).label("complaint"),
                  case((or_(Ticket.escalation_level > 0, Ticket.status == "escalated"), 1), else_=0).label("escalated"))


def satisfaction_results() -> Select[Any]:
    """(ticket_id, satisfaction): each ticket's satisfaction follow-up and its result (1 to 5, or
    NULL until the call is made). At most one per ticket (unique ticket and kind), so a caller's
    outer join by ticket_id adds no rows."""
    return (select(CareFollowUp.ticket_id.label("ticket_id"), CareFollowUp.satisfaction.label("satisfaction"))
            .where(CareFollowUp.kind == "satisfaction"))
