"""An agent's leg and the offer it belongs to: a leg acts only on its own offer (the offer the
caller accepted), and the database keeps an agent on one live customer call at most (the
partial unique index `uq_calls_agent_live_leg`: one answered, unfinished agent leg per agent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from telephony import call_states
from telephony.models import Call, Offer

__all__ = ["agent_identity", "live_leg_of", "mark_answered", "owns_call"]


def agent_identity(user_id: int) -> str:
    """The agent's browser phone, as Twilio's client identity (`client:agent_<id>`)."""
    return f"agent_{user_id}"


def live_leg_of(session: Session, *, agent_id: int | None, besides: int | None = None) -> Call | None:
    """The agent's answered leg that has not ended, if any (other than `besides`)."""
    if agent_id is None:
        return None
    query = select(Call).where(Call.leg == "agent", Call.agent_id == agent_id, Call.status == "in-progress")
    if besides is not None:
        query = query.where(Call.id != besides)
    return session.scalars(query.limit(1)).first()


def mark_answered(session: Session, leg: Call) -> bool:
    """The leg was answered: in-progress, unless its agent is on another live leg. False if
    refused. The database is the guard (the partial unique index `uq_calls_agent_live_leg`: a
    second live leg of one agent fails its UPDATE, inside a savepoint), so a race of two answers
    and the plain case are one path, with no read beforehand. The caller holds the leg's row
    lock in this transaction (call_states.lock, lock_by_sid), so `leg` is the row as it is."""
    if leg.status == "in-progress" or not call_states.can_move(leg.status, "in-progress"):
        return True  # already answered, or over: nothing to guard
    try:
        with session.begin_nested():
            call_states.advance(session, leg, "in-progress", locked=True)
            session.flush()
    except IntegrityError:
        session.refresh(leg)
        return False
    return True


def owns_call(leg: Call, caller: Call, offer: Offer | None) -> bool:
    """Whether this agent leg is the one that took the caller's call: the leg of the offer the
    caller accepted last. A stale leg (withdrawn, expired, or superseded by a transfer) is not.
    A leg dialled without an offer (a transfer to a named person) owns the call once the call
    is its agent's."""
    if leg.offer_id is None:
        return leg.agent_id is not None and caller.agent_id == leg.agent_id
    return (offer is not None and offer.id == leg.offer_id and caller.offer_id == leg.offer_id
            and offer.state == "accepted")
