"""What an agent's desk shows from telephony: their presence, the call offered to them, the call
they are on (or wrapping up), read in one place for the agent desktop. Ids and codes, plus the
caller's number already masked: the full number never leaves the server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from core.phones import mask_phone
from telephony import presence as presence_service
from telephony.models import Call, Offer
from telephony.presence import OFFERED, ON_CALL, WRAP_UP

__all__ = ["AgentDesk", "DeskCall", "agent_desk"]


@dataclass(frozen=True)
class DeskCall:
    """A caller's call as the desk shows it: offered (with its timeout), on, or in wrap-up."""

    call_id: int
    offer_id: int | None
    ticket_id: int | None
    customer_id: int | None
    tier: str | None
    category: str | None
    masked_number: str | None
    offered_at: datetime | None = None
    expires_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class AgentDesk:
    state: str
    since: datetime
    wrap_up_until: datetime | None
    offer: DeskCall | None  # the pending offer, while `state` is offered
    call: DeskCall | None  # the call on, or the one just ended while in wrap-up


def _masked(call: Call) -> str | None:
    if not call.from_number or call.from_number.startswith("client:"):
        return None
    try:
        return mask_phone(call.from_number)
    except ValueError:
        return None


def _desk_call(call: Call, offer: Offer | None) -> DeskCall:
    return DeskCall(call_id=call.id, offer_id=offer.id if offer else None, ticket_id=call.ticket_id,
                    customer_id=call.customer_id, tier=call.tier, category=call.category or call.menu_choice,
                    masked_number=_masked(call), offered_at=offer.offered_at if offer else None,
                    expires_at=offer.expires_at if offer else None,
                    answered_at=offer.resolved_at if offer and offer.state == "accepted" else call.answered_at,
                    ended_at=offer.ended_at if offer else call.ended_at)


# The caller's number is deferred on every other load of a call; the desk masks it.
_WITH_NUMBER = [undefer(Call.from_number)]


def _last_answered(session: Session, user_id: int) -> Offer | None:
    return session.scalars(select(Offer).where(Offer.user_id == user_id, Offer.state == "accepted")
                           .order_by(Offer.resolved_at.desc(), Offer.id.desc()).limit(1)).first()


def agent_desk(session: Session, *, user_id: int) -> AgentDesk:
    """The agent's presence with the offer or call it concerns. In wrap-up the call is the one
    last answered, so the desk keeps its ticket open until wrap-up ends."""
    presence = presence_service.get_presence(session, user_id=user_id)
    offer_view = call_view = None
    if presence.state == OFFERED and presence.current_offer_id is not None:
        offer = session.get(Offer, presence.current_offer_id)
        call = session.get(Call, offer.call_id, options=_WITH_NUMBER) if offer is not None else None
        if offer is not None and call is not None and offer.state == "pending":
            offer_view = _desk_call(call, offer)
    elif presence.state in (ON_CALL, WRAP_UP):
        offer = _last_answered(session, user_id)
        call_id = presence.current_call_id if presence.state == ON_CALL else None
        call_id = call_id or (offer.call_id if offer is not None else None)
        call = session.get(Call, call_id, options=_WITH_NUMBER) if call_id is not None else None
        if call is not None:
            call_view = _desk_call(call, offer if offer is not None and offer.call_id == call.id else None)
    return AgentDesk(state=presence.state, since=presence.since, wrap_up_until=presence.wrap_up_until,
                     offer=offer_view, call=call_view)
