"""Offers of a call to one agent: making one under the locks the router holds, and its end:
answered, declined, timed out or withdrawn. Re-routing afterwards is telephony.routing's job.
Lock order everywhere: the queue entry, then the presence row (an offer changes only under its
entry's lock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from core import clock
from core.db import begin_write
from core.errors import Conflict, NotFound
from core.events import publish
from core.worker import enqueue_named
from telephony import offer_states
from telephony import presence as presence_service
from telephony.models.routing import AgentPresence, Offer, QueueEntry
from telephony.presence import AGENT, AVAILABLE, AWAY, OFFERED, ON_CALL, ROUTER, lock_presence, move

# Called with (session, offer) for every offer made, inside its transaction (the `call.offered`
# event and the ring task are already queued for after commit).
on_offer: list[Callable[[Session, Offer], None]] = []


def also_on_offer(hook: Callable[[Session, Offer], None]) -> None:
    """Call `hook` for every offer made (connected by the composition root; once however often)."""
    if hook not in on_offer:
        on_offer.append(hook)


class OfferNotLive(Conflict):
    """This call is no longer offered to you."""

    code = "offer_not_live"

    def __init__(self, offer: Offer, *, timed_out: bool = False) -> None:
        self.offer = offer
        if timed_out or offer.state == "expired":
            message = "This call is no longer offered to you: it was not answered in time and went to the next agent."
        elif offer.state == "withdrawn":
            message = "This call is no longer offered to you: it was withdrawn."
        elif offer.state == "declined":
            message = "You declined this call; it went to the next agent."
        else:
            message = "This call was already answered."
        super().__init__(message, params={"offer_id": offer.id, "state": offer.state, "reason": offer.reason})


class OfferNotFound(NotFound):
    """There is no such call offer."""


def make(session: Session, entry: QueueEntry, agent: AgentPresence, *, timeout: int) -> Offer:
    """Offer the locked entry to the locked agent; rings them once the transaction commits."""
    now = clock.now()
    offer = Offer(entry_id=entry.id, call_id=entry.call_id, user_id=agent.user_id, skill_code=entry.skill_code,
                  state="pending", offered_at=now, expires_at=now + timedelta(seconds=timeout))
    session.add(offer)
    session.flush()  # the partial unique indexes check here, and the id is needed below
    entry.state = "offered"
    entry.attempts += 1
    move(session, agent, OFFERED, by=ROUTER, reason=f"call {entry.call_id}", current_offer_id=offer.id)
    announce(session, offer)
    return offer


def announce(session: Session, offer: Offer) -> None:
    """What follows every offer made, however it was written: the `call.offered` event and the
    ring task after commit, and the `on_offer` hooks now."""
    publish(session, "call.offered", {"offer_id": offer.id, "call_id": offer.call_id, "user_id": offer.user_id,
                                      "skill_code": offer.skill_code, "expires_at": offer.expires_at.isoformat()},
            user_id=offer.user_id)
    enqueue_named(session, "telephony.ring_agent", offer.id)
    for hook in on_offer:
        hook(session, offer)


def answer(session: Session, *, offer_id: int) -> Offer:
    offer, entry, agent = _lock_offer(session, offer_id)
    if offer.state == "accepted":
        return offer  # a double click
    _require_live(offer)
    if not offer_states.move(session, offer, offer_states.ACCEPTED):
        raise OfferNotLive(offer)
    entry.state = "connected"
    move(session, agent, ON_CALL, by=ROUTER, reason=f"call {offer.call_id}", current_call_id=offer.call_id)
    _ended(session, offer)
    queue_changed(session, entry)
    return offer


def decline(session: Session, *, offer_id: int) -> Offer:
    offer, entry, agent = _lock_offer(session, offer_id)
    if offer.state == "declined":
        return offer
    _require_live(offer)
    if not offer_states.move(session, offer, offer_states.DECLINED, reason="declined by the agent"):
        raise OfferNotLive(offer)
    entry.state = "waiting"
    move(session, agent, AVAILABLE, by=ROUTER, reason="declined an offer", back_of_line=True)
    _ended(session, offer)
    queue_changed(session, entry)
    return offer


def expire_due(session: Session) -> int:
    """Offers past their timeout: the agent goes away, the call back to the queue."""
    begin_write(session)
    now = clock.now()
    due = session.execute(select(Offer.id, Offer.entry_id).where(Offer.state == "pending", Offer.expires_at <= now)
                          .order_by(Offer.expires_at).limit(500)).all()
    expired = 0
    for offer_id, entry_id in due:
        # Skip entries another process holds: it is answering, withdrawing or expiring them.
        entry = lock_entry(session, QueueEntry.id == entry_id, skip_locked=True)
        offer = session.get(Offer, offer_id, populate_existing=True)
        if entry is None or offer is None or offer.state != "pending":
            continue
        agent = lock_presence(session, user_id=offer.user_id)
        if not offer_states.move(session, offer, offer_states.EXPIRED, reason="not answered in time", at=now):
            continue
        entry.state = "waiting"
        if agent.current_offer_id == offer.id:
            move(session, agent, AWAY, by=ROUTER, reason="missed an offered call")
        _ended(session, offer)
        enqueue_named(session, "telephony.end_offer_legs", offer.id)
        queue_changed(session, entry)
        expired += 1
    return expired


def withdraw_for_entry(session: Session, entry: QueueEntry, *, reason: str, agent_state: str) -> bool:
    """Withdraw the locked entry's pending offer; True if an agent was freed."""
    query = select(Offer).where(Offer.entry_id == entry.id, Offer.state == "pending")
    offer = session.scalar(query.execution_options(populate_existing=True))
    if offer is None:
        return False
    agent = lock_presence(session, user_id=offer.user_id)
    if not offer_states.move(session, offer, offer_states.WITHDRAWN, reason=reason):
        return False
    if agent.current_offer_id == offer.id:
        move(session, agent, agent_state, by=ROUTER if agent_state == AVAILABLE else AGENT, reason=reason)
    _ended(session, offer)
    # The agent's phone may still ring for it: stopped, so a stale leg is rarely answered.
    enqueue_named(session, "telephony.end_offer_legs", offer.id)
    return True


def withdraw_for_agent(session: Session, *, user_id: int, state: str, reason: str) -> AgentPresence:
    """The agent leaves (to `state`) while a call is offered to them; the call goes back."""
    presence = presence_service.get_presence(session, user_id=user_id)
    if AGENT not in presence_service.TRANSITIONS.get((OFFERED, state), frozenset()):
        raise presence_service.InvalidPresenceTransition(OFFERED, state)
    offer = session.get(Offer, presence.current_offer_id) if presence.current_offer_id else None
    entry = lock_entry(session, QueueEntry.id == offer.entry_id) if offer is not None else None
    presence = lock_presence(session, user_id=user_id)
    if offer is None or entry is None or presence.current_offer_id != offer.id:
        raise presence_service.PresenceRefused("Your presence changed meanwhile; please try again.")
    withdraw_for_entry(session, entry, reason=reason, agent_state=state)
    entry.state = "waiting"
    queue_changed(session, entry)
    return presence


def lock_entry(session: Session, condition: ColumnElement[bool], *, skip_locked: bool = False) -> QueueEntry | None:
    query = select(QueueEntry).where(condition).with_for_update(skip_locked=skip_locked)
    return session.scalars(query.execution_options(populate_existing=True)).first()


def queue_changed(session: Session, entry: QueueEntry) -> None:
    publish(session, "queue.changed", {"call_id": entry.call_id, "skill_code": entry.skill_code, "state": entry.state})


def _lock_offer(session: Session, offer_id: int) -> tuple[Offer, QueueEntry, AgentPresence]:
    begin_write(session)
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise OfferNotFound(params={"offer_id": offer_id})
    entry = lock_entry(session, QueueEntry.id == offer.entry_id)
    assert entry is not None  # offers are deleted with their entries
    session.refresh(offer)
    return offer, entry, lock_presence(session, user_id=offer.user_id)


def _require_live(offer: Offer) -> None:
    if offer.state != "pending":
        raise OfferNotLive(offer)
    if not offer.is_live(clock.now()):
        raise OfferNotLive(offer, timed_out=True)


def ended(session: Session, offer: Offer) -> None:
    """Publish that the offer is over (its state says how)."""
    _ended(session, offer)


def _ended(session: Session, offer: Offer) -> None:
    publish(session, "call.offer_ended", {"offer_id": offer.id, "call_id": offer.call_id, "user_id": offer.user_id,
                                          "state": offer.state, "reason": offer.reason}, user_id=offer.user_id)


__all__ = ["OfferNotFound", "OfferNotLive", "also_on_offer", "announce", "answer", "decline", "ended", "expire_due",
           "lock_entry", "make", "on_offer", "queue_changed", "withdraw_for_agent", "withdraw_for_entry"]
