"""A ticket's timeline (TicketEvent rows: who, when, kind, from/to codes) and the bus events
published after commit. Neither ever carries a personal data value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.events import publish
from core.models import User
from tickets.models.tickets import Ticket, TicketEvent

# Fields whose values may be personal data: the timeline says that they changed, not to what.
PRIVATE_FIELDS = frozenset({"subject", "description", "resolution"})


def _text(value: object) -> str | None:
    if value is None:
        return None
    if hasattr(value, "value"):
        value = value.value
    return str(value)[:100]


def record(session: Session, ticket: Ticket, *, kind: str, actor: User | None = None, field: str | None = None,
           from_value: object = None, to_value: object = None, reason: str | None = None,
           actor_id: int | None = None) -> TicketEvent:
    """Append one line to the ticket's timeline (in the caller's transaction). The actor is
    `actor`, or by id alone `actor_id` (a system step that did not load the person)."""
    if field in PRIVATE_FIELDS:
        from_value = to_value = None
    event = TicketEvent(ticket_id=ticket.id, at=clock.now(), actor_id=actor.id if actor is not None else actor_id,
                        kind=kind, field=field, from_value=_text(from_value), to_value=_text(to_value),
                        reason=reason or None)
    session.add(event)
    return event


def events(session: Session, *, ticket_id: int) -> list[TicketEvent]:
    """The whole timeline, oldest first."""
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)))


def payload(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    """What a bus event says about a ticket: ids and codes only."""
    return {
        "ticket_id": ticket.id,
        "number": ticket.number,
        "category": ticket.category,
        "priority": ticket.priority,
        "status": ticket.status,
        "assignee_id": ticket.assignee_id,
        "escalation_level": ticket.escalation_level,
        "sla_state": ticket.sla_state,
        **extra,
    }


def announce(session: Session, topic: str, ticket: Ticket, **extra: Any) -> None:
    """Publish `topic` about the ticket once the transaction commits, scoped to its site and team."""
    publish(session, topic, payload(ticket, **extra), site_id=ticket.site_id, team_id=ticket.team_id)
