"""Ticket facts other packages compose into their own set-based statements (QA's sampling), so
they need not read the tickets' tables: one selectable per need, each over a single table so that
SQLite, too, folds it into the caller's statement rather than materialising it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from tickets.models.customers import CareFollowUp
from tickets.models.tickets import Ticket, TicketEvent

__all__ = ["SUPERVISED_EVENTS", "satisfaction_results", "ticket_flags", "ticket_totals"]

# Timeline events that put a ticket under a superior's supervision (督办).
SUPERVISED_EVENTS = ("escalated", "handed_to_team_leader")


def ticket_flags() -> Select[Any]:
    """Every ticket's (ticket_id, complaint, escalated), the last two 1 or 0. Outer-join it by
    ticket_id; the database folds it into the caller's statement."""
    return select(Ticket.id.label("ticket_id"),
                  case((Ticket.category == "complaint", 1), else_=0).label("complaint"),
                  case((or_(Ticket.escalation_level > 0, Ticket.status == "escalated"), 1), else_=0).label("escalated"))


def satisfaction_results() -> Select[int | None, int | None]:
    """(ticket_id, satisfaction): each ticket's satisfaction follow-up and its result (1 to 5, or
    NULL until the call is made). At most one per ticket (unique ticket and kind), so a caller's
    outer join by ticket_id adds no rows."""
    return (select(CareFollowUp.ticket_id.label("ticket_id"), CareFollowUp.satisfaction.label("satisfaction"))
            .where(CareFollowUp.kind == "satisfaction"))


def ticket_totals(session: Session, *, site_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """A site's tickets from `start` to `end`, the supervisor's weekly totals: accepted (opened),
    supervised (escalated or handed to a team leader), answered (first answered to the customer)
    and followed up (follow-up calls made). Counts of distinct tickets, no personal data."""
    at_site = Ticket.site_id == site_id
    accepted = select(func.count()).where(at_site, Ticket.created_at >= start, Ticket.created_at < end)
    supervised = (select(func.count(func.distinct(TicketEvent.ticket_id)))
                  .join(Ticket, Ticket.id == TicketEvent.ticket_id)
                  .where(at_site, TicketEvent.kind.in_(SUPERVISED_EVENTS), TicketEvent.at >= start,
                         TicketEvent.at < end))
    answered = select(func.count()).where(at_site, Ticket.first_response_at >= start, Ticket.first_response_at < end)
    followed_up = (select(func.count(func.distinct(CareFollowUp.ticket_id)))
                   .join(Ticket, Ticket.id == CareFollowUp.ticket_id)
                   .where(at_site, CareFollowUp.status == "done", CareFollowUp.done_at >= start,
                          CareFollowUp.done_at < end))
    return {name: int(session.scalar(query) or 0) for name, query in (
        ("accepted", accepted), ("supervised", supervised), ("answered", answered), ("followed_up", followed_up))}
