"""An agent's callbacks: their callback authorisations with the state of each (live, not yet
started, expired, revoked) and the callback requests assigned to them still waiting for one.
Customers appear as masked cards only; the number is dialled by the server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core import clock
from core.models import User
from tickets.models.customers import CallbackGrant
from tickets.models.tickets import Ticket
from tickets.visibility import masked_cards
from tickets.workflow import DONE, Category

__all__ = ["Callback", "callbacks_of", "grant_state"]

LIVE, SCHEDULED, EXPIRED, REVOKED, WAITING = "live", "scheduled", "expired", "revoked", "waiting"
_ORDER = {LIVE: 0, SCHEDULED: 1, WAITING: 2, EXPIRED: 3, REVOKED: 4}

@dataclass(frozen=True)
class Callback:
    state: str  # live, scheduled, waiting (no authorisation yet), expired, revoked
    grant_id: int | None
    customer_id: int | None
    ticket_id: int | None
    ticket_number: str | None
    starts_at: datetime | None
    expires_at: datetime | None
    due_at: datetime | None  # when the customer expects the call
    display_name: str  # initials: a masked card's name
    tier: str | None

    @property
    def can_dial(self) -> bool:
        return self.state == LIVE


def grant_state(grant: CallbackGrant, now: datetime) -> str:
    if grant.revoked_at is not None:
        return REVOKED
    if now >= grant.expires_at:
        return EXPIRED
    return LIVE if grant.starts_at <= now else SCHEDULED


def callbacks_of(session: Session, *, agent: User, ended_within: timedelta = timedelta(hours=12),
                 limit: int = 30) -> list[Callback]:
    """The agent's authorisations that are live, yet to start, or ended within `ended_within`, and
    their open callback requests without one; live ones first, soonest to expire first."""
    now = clock.now()
    grants = list(session.scalars(
        select(CallbackGrant).where(
            CallbackGrant.agent_id == agent.id,
            or_(CallbackGrant.expires_at > now - ended_within, CallbackGrant.revoked_at > now - ended_within))
        .order_by(CallbackGrant.expires_at).limit(limit)))
    covered = {g.customer_id for g in grants if grant_state(g, now) in (LIVE, SCHEDULED)}
    waiting = list(session.scalars(
        select(Ticket).where(Ticket.assignee_id == agent.id, Ticket.category == Category.callback_request.value,
                             Ticket.status.not_in([s.value for s in DONE]))
        .order_by(Ticket.callback_due_at, Ticket.id).limit(limit)))
    ticket_ids = {g.ticket_id for g in grants if g.ticket_id} | {t.id for t in waiting}
    rows = session.execute(select(Ticket.id, Ticket.number, Ticket.callback_due_at)
                           .where(Ticket.id.in_(ticket_ids))).all() if ticket_ids else []
    numbers = {row.id: row.number for row in rows}
    due = {row.id: row.callback_due_at for row in rows}
    customers = masked_cards(session, customer_ids={g.customer_id for g in grants}
                             | {t.customer_id for t in waiting if t.customer_id})
    found: list[Callback] = []
    for grant in grants:
        card = customers.get(grant.customer_id)
        found.append(Callback(state=grant_state(grant, now), grant_id=grant.id, customer_id=grant.customer_id,
                              ticket_id=grant.ticket_id, ticket_number=numbers.get(grant.ticket_id),
                              starts_at=grant.starts_at, expires_at=grant.expires_at,
                              due_at=due.get(grant.ticket_id), display_name=card.display_name if card else "",
                              tier=card.tier if card else None))
    for ticket in waiting:
        if ticket.customer_id in covered:
            continue
        card = customers.get(ticket.customer_id) if ticket.customer_id else None
        found.append(Callback(state=WAITING, grant_id=None, customer_id=ticket.customer_id, ticket_id=ticket.id,
                              ticket_number=ticket.number, starts_at=None, expires_at=None,
                              due_at=ticket.callback_due_at, display_name=card.display_name if card else "",
                              tier=ticket.tier))
    found.sort(key=lambda c: (_ORDER[c.state], c.expires_at or c.due_at or now))
    return found[:limit]

