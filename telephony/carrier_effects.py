"""What the hub asks Twilio to do to a routed call, each effect once: ring the offered agent,
move the answered caller into the agent's conference, hang up an agent leg. Each goes in three
steps: claim it in a short write transaction (a lease on its row, committed at once), ask
Twilio with no transaction open (on SQLite a write transaction blocks every writer for as long
as Twilio takes; on PostgreSQL it holds the call's row lock), then record the answer in a second
short write transaction, under the state machines. A second delivery of a task, or the repair
sweep beside it, finds the claim held and leaves the effect alone (taking the agent who handed
a call over out of its conference is claimed as their leg's hang-up); a claim whose worker died
lapses, and the repair sweep takes it then (lost_rings, lost_connects, lost_leg_ends). Each
function commits as it goes: call it with no unit of work of your own pending (the tasks and
the sweep give each effect a session of its own)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock
from core.config import get_settings
from core.db import affected_rows, insert_unless_present, table_of
from core.worker import enqueue_named
from telephony import bridge, call_states, calls, reconcile, routing
from telephony.controls import conference_key
from telephony.gateway import GatewayError, get_gateway
from telephony.ivr import webhook_url
from telephony.legs import agent_identity
from telephony.models import TERMINAL_STATUSES, Call, Offer, QueueEntry
from telephony.offers import lock_entry
from telephony.reconcile import GRACE

__all__ = ["CONNECT_LEASE", "HANGUP_LEASE", "RING_LEASE", "RingOrder", "claim_connect", "claim_hangup", "claim_ring",
           "connect_caller", "end_leg", "end_offer_legs", "leave_conference", "lost_connects", "lost_leg_ends",
           "lost_rings", "release_hangup", "ring_agent"]

log = logging.getLogger("hotline.telephony.carrier_effects")

# How long one worker holds an effect: longer than its REST call can take while the worker
# lives (a 10 s HTTP timeout; 429s and, for a request safe to repeat, 5xx retried with backoff),
# so a live worker's effect is not done twice. Ringing is held shorter: an offer lasts 15 s by
# default, and a ring repaired after the offer has timed out rings nobody.
RING_LEASE = timedelta(seconds=20)
CONNECT_LEASE = timedelta(seconds=45)
HANGUP_LEASE = timedelta(seconds=45)
_RINGING = ("queued", "initiated", "ringing")


# Ringing the agent ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RingOrder:
    """What the worker that claimed an offer's ring asks Twilio for, and what it writes after:
    the offer's queue entry (locked then) and the caller's details the agent's leg carries."""

    offer_id: int
    user_id: int
    caller_id: int
    caller_sid: str
    from_: str
    ring_for: int
    check_caller: bool  # the caller has been silent too long: ask Twilio whether they are there
    entry_id: int = 0
    details: tuple[tuple[str, object], ...] = ()  # (column, value) the leg copies from the caller


# What the agent's leg copies from its caller's row; read with the claim.
_LEG_DETAILS = ("language", "site_id", "ticket_id", "customer_id")


def claim_ring(session: Session, *, offer_id: int) -> RingOrder | None:
    """Claim ringing the agent of a live offer not yet rung, for RING_LEASE (committed at once):
    None if the offer is over, already rung, its caller gone, or another worker holds it. Two
    statements: the claim returns the offer's columns, one read gives the caller's and their
    last webhook's time."""
    now = clock.now()
    rung = select(Call.id).where(Call.offer_id == Offer.id, Call.leg == "agent").exists()
    claimed = session.execute(
        update(Offer).where(Offer.id == offer_id, Offer.state == "pending", Offer.expires_at > now, ~rung,
                            or_(Offer.ring_claimed_at.is_(None), Offer.ring_claimed_at <= now - RING_LEASE))
        .values(ring_claimed_at=now).returning(Offer.user_id, Offer.call_id, Offer.entry_id, Offer.expires_at)
        .execution_options(synchronize_session=False)).first()
    caller = session.execute(
        select(Call.call_sid, Call.status, Call.to_number, Call.updated_at, Call.last_checked_at, Call.started_at,
               reconcile.last_webhook(Call.id).label("heard"), *(getattr(Call, name) for name in _LEG_DETAILS))
        .where(Call.id == claimed.call_id)).first() if claimed is not None else None
    order = None
    if claimed is not None and caller is not None and caller.status not in TERMINAL_STATUSES:
        last_sign = max(t for t in (caller.heard, caller.updated_at, caller.last_checked_at, caller.started_at)
                        if t is not None)
        silent = now - last_sign > timedelta(seconds=get_settings().queue_alive_seconds)
        order = RingOrder(offer_id=offer_id, user_id=claimed.user_id, caller_id=claimed.call_id,
                          caller_sid=caller.call_sid,
                          from_=caller.to_number or get_settings().twilio_caller_id or "hotline",
                          ring_for=max(5, int((claimed.expires_at - now).total_seconds())), check_caller=silent,
                          entry_id=claimed.entry_id,
                          details=tuple((name, getattr(caller, name)) for name in _LEG_DETAILS))
    session.commit()
    return order


def ring_agent(session: Session, *, offer_id: int) -> int | None:
    """Ring the offered agent's browser phone, once (the ring task runs this after the offer
    commits; the repair sweep when the task was lost). A caller silent longer than
    HOTLINE_QUEUE_ALIVE_SECONDS is asked about first: one Twilio says has hung up is ended as
    their callback would have, the offer is withdrawn with it, and the agent is never rung (nor
    set away for not answering). Returns the agent's leg's id, or None."""
    order = claim_ring(session, offer_id=offer_id)
    if order is None:
        return None
    if order.check_caller:
        answer = reconcile.ask_call(order.caller_sid)
        reconcile.apply_call_answer(session, call_id=order.caller_id, answer=answer)
        offer = session.get(Offer, offer_id, populate_existing=True)
        session.commit()
        if offer is None or offer.state != "pending":
            log.info("offer %s withdrawn: caller %s hung up unheard", offer_id, order.caller_id)
            return None
    identity = agent_identity(order.user_id)
    try:
        sid = get_gateway().create_call(
            to=f"client:{identity}", from_=order.from_,
            url=webhook_url("/twilio/agent/answer", offer=offer_id),
            status_callback=webhook_url("/twilio/status", leg="agent", offer=offer_id),
            status_callback_event=bridge.LEG_EVENTS, timeout=order.ring_for)
    except GatewayError as exc:
        _ring_failed(session, order, exc)
        return None
    leg_id, orphan = _rung(session, order, sid)
    session.commit()
    if orphan:
        _hang_up_unrecorded(sid)  # its caller's row is gone: nothing to write the leg against
    return leg_id


def _ring_failed(session: Session, order: RingOrder, exc: GatewayError) -> None:
    """The agent's phone cannot be rung: they are away, and the call goes to the next agent now
    rather than when the offer times out (unless the offer ended meanwhile)."""
    log.warning("could not ring agent %s for offer %s: %s", order.user_id, order.offer_id, exc.message)
    offer = session.get(Offer, order.offer_id)
    if offer is not None and lock_entry(session, QueueEntry.id == offer.entry_id) is not None:
        session.refresh(offer)
        if offer.state == "pending":
            routing.agent_disconnected(session, user_id=order.user_id)
    session.commit()


def _rung(session: Session, order: RingOrder, sid: str) -> tuple[int | None, bool]:
    """Record the leg Twilio made, under the queue entry's lock (the one every change of the
    offer takes): if the offer was withdrawn, timed out or declined, or the caller left, while
    Twilio was asked, the leg is hung up at once; nobody's phone rings for a call that is gone.
    Two statements: the leg's row, then the entry's lock with the offer's and caller's state.
    Returns the live leg's id (or None), and whether the leg could not be written at all (its
    caller's row is gone)."""
    # The leg's row before the entry's lock: the lock order every writer keeps (the leg, the
    # caller, the queue entry; bridge.agent_answered). The agent's answer may have written the
    # leg and not committed yet; waiting for it while holding the entry, which the answer
    # locks next, was a deadlock on PostgreSQL (seen in the loopback deployment test).
    try:
        leg_id = _leg_row(session, order, sid)
    except IntegrityError:  # the caller's row is gone (the leg's parent): nothing to write it against
        session.rollback()
        log.warning("offer %s: its caller is gone; leg %s hung up", order.offer_id, sid)
        return None, True
    # The entry's lock and the offer's and caller's state as it holds them, in one statement.
    state = session.execute(select(Offer.state, Call.status).select_from(QueueEntry)
                            .join(Offer, Offer.id == order.offer_id).join(Call, Call.id == Offer.call_id)
                            .where(QueueEntry.id == order.entry_id).with_for_update(of=QueueEntry)).first()
    if state is not None and state.state in ("pending", "accepted") and state.status not in TERMINAL_STATUSES:
        return leg_id, False
    log.info("offer %s is %s since the agent was rung: leg %s hung up", order.offer_id,
             state.state if state is not None else "gone", leg_id)
    enqueue_named(session, "telephony.end_leg", leg_id)
    return None, False


def _leg_row(session: Session, order: RingOrder, sid: str) -> int:
    """The agent's leg, written now in one statement; or completed, if its answer or a status
    callback got here first and wrote it (bridge._agent_leg). Returns its id."""
    details = dict(order.details)
    leg_id = session.scalar(insert_unless_present(session, Call, key="call_sid"), {
        "call_sid": sid, "leg": "agent", "direction": "outbound-api", "parent_call_id": order.caller_id,
        "agent_id": order.user_id, "offer_id": order.offer_id, "to_number": f"client:{agent_identity(order.user_id)}",
        "status": "queued", **details})
    if leg_id is not None:
        return int(leg_id)
    leg = calls.get_by_sid(session, call_sid=sid)  # a webhook wrote it meanwhile
    assert leg is not None
    leg.direction = "outbound-api"
    for name, value in details.items():
        if getattr(leg, name) is None:
            setattr(leg, name, value)
    return leg.id


def _hang_up_unrecorded(sid: str) -> None:
    """Hang up a leg that has no row here (no transaction open: see ring_agent)."""
    try:
        get_gateway().update_call(sid, status="canceled")
    except GatewayError as exc:
        log.info("agent leg %s not ended at Twilio: %s", sid, exc.message)


# Moving the caller in -------------------------------------------------------------------------

def claim_connect(session: Session, *, call_id: int) -> tuple[str, int] | None:
    """Claim moving an answered caller into their agent's conference, for CONNECT_LEASE
    (committed at once): the caller's CallSid and the offer answered, or None if there is
    nothing to do or another worker holds it. The claim is the answered offer's: a caller sent
    back to the queue is moved in again under their next offer. One statement, which checks the
    caller (live, not yet moved in) and what bridge.agent_leg_of does: the caller's entry is
    connected, their offer accepted and its agent's leg live."""
    now = clock.now()
    waiting = select(_CALLER.c.id).where(_CALLER.c.id == call_id, _CALLER.c.offer_id == Offer.id,
                                         _CALLER.c.bridged_at.is_(None),
                                         _CALLER.c.status.not_in(tuple(TERMINAL_STATUSES)))
    connected = select(QueueEntry.id).where(QueueEntry.call_id == call_id, QueueEntry.state == "connected")
    live_leg = select(_LEG.c.id).where(_LEG.c.offer_id == Offer.id, _LEG.c.leg == "agent",
                                       _LEG.c.status == "in-progress")
    # The caller's CallSid comes back through a subquery (SQLite returns only the updated table's
    # columns from an UPDATE ... FROM).
    caller_sid = select(_CALLER.c.call_sid).where(_CALLER.c.id == Offer.call_id).scalar_subquery()
    claimed = session.execute(
        update(Offer).where(Offer.call_id == call_id, Offer.state == "accepted",
                            or_(Offer.connect_claimed_at.is_(None), Offer.connect_claimed_at <= now - CONNECT_LEASE),
                            waiting.exists(), connected.exists(), live_leg.exists())
        .values(connect_claimed_at=now).returning(caller_sid, Offer.id)
        .execution_options(synchronize_session=False)).first()
    session.commit()
    return (claimed[0], claimed[1]) if claimed is not None else None


def connect_caller(session: Session, *, call_id: int) -> bool:
    """Move the queued caller into the conference their agent waits in (a REST redirect), once.
    Nothing if the caller is no longer connected to a live agent leg (the agent left first: the
    caller stays in the queue). A caller who has gone meanwhile, or whom Twilio cannot move,
    ends the agent's leg instead. A retryable failure gives the claim back and raises (the task
    retries; the sweep too). The usual case is the claim's one statement; the caller is read
    only when there is nothing to claim."""
    order = claim_connect(session, call_id=call_id)
    if order is None:
        caller = session.get(Call, call_id)
        terminal = caller is not None and caller.bridged_at is None and caller.is_terminal
        session.commit()
        if terminal:
            _end_agent_legs(session, call_id)
        return False
    sid, offer_id = order
    try:
        get_gateway().update_call(sid, url=webhook_url("/twilio/conference", call=call_id))
        return True  # the claim stays: caller_joins marks the caller bridged
    except GatewayError as exc:
        if exc.retryable:
            _release_connect(session, offer_id)
            raise
        log.warning("caller %s could not be connected: %s", call_id, exc.message)
        refused = exc
    if refused.twilio_code == bridge.CALL_NOT_IN_PROGRESS:
        # The caller's end may not have reached us: ask Twilio, and apply what it says.
        answer = reconcile.ask_call(sid)
        if answer.status not in TERMINAL_STATUSES:
            _release_connect(session, offer_id)  # a race with their own redirect: the sweep retries
            return False
        reconcile.apply_call_answer(session, call_id=call_id, answer=answer)
        session.commit()
    _end_agent_legs(session, call_id)
    return False


def _release_connect(session: Session, offer_id: int) -> None:
    session.execute(update(Offer).where(Offer.id == offer_id).values(connect_claimed_at=None)
                    .execution_options(synchronize_session=False))
    session.commit()


def _end_agent_legs(session: Session, call_id: int) -> None:
    leg_ids = [leg.id for leg in calls.agent_legs(session, call_id=call_id) if leg.status not in TERMINAL_STATUSES]
    session.commit()
    for leg_id in leg_ids:
        end_leg(session, leg_id=leg_id)


# Hanging up an agent leg ----------------------------------------------------------------------

def claim_hangup(session: Session, *, leg_id: int) -> tuple[str, str] | None:
    """Claim hanging up a leg not yet over, for HANGUP_LEASE (committed at once): its CallSid
    and the status to ask for, or None if it is over or another worker holds it."""
    leg = session.get(Call, leg_id)
    order = None
    if leg is not None and not leg.is_terminal:
        now = clock.now()
        # The leg's `updated_at` is kept: a claim is not news of the call (the sweeps go by it).
        claimed = affected_rows(session.execute(
            update(Call).where(Call.id == leg_id, Call.status.notin_(tuple(TERMINAL_STATUSES)), _hangup_free(now))
            .values(hangup_claimed_at=now, updated_at=Call.updated_at).execution_options(synchronize_session=False)))
        if claimed:
            order = leg.call_sid, "completed" if leg.answered_at else "canceled"
    session.commit()
    return order


def _hangup_free(now: datetime) -> ColumnElement[bool]:
    """No worker holds the leg's hang-up: never claimed, the claim lapsed, or it asked to cancel
    a leg that was answered since (Twilio ignores a cancel once answered: it is hung up anew)."""
    return or_(Call.hangup_claimed_at.is_(None), Call.hangup_claimed_at <= now - HANGUP_LEASE,
               Call.hangup_claimed_at < Call.answered_at)


def end_leg(session: Session, *, leg_id: int) -> bool:
    """Hang up a leg at Twilio, once; its status callback then ends it here. A leg Twilio says
    had already ended is asked about and ended as its lost callback would have; any other
    failure gives the claim back for the repair sweep."""
    order = claim_hangup(session, leg_id=leg_id)
    if order is None:
        return False
    sid, status = order
    try:
        get_gateway().update_call(sid, status=status)
        return True
    except GatewayError as exc:
        if exc.twilio_code != bridge.CALL_NOT_IN_PROGRESS:
            log.info("agent leg %s not ended at Twilio: %s", leg_id, exc.message)
            session.execute(update(Call).where(Call.id == leg_id)
                            .values(hangup_claimed_at=None, updated_at=Call.updated_at)
                            .execution_options(synchronize_session=False))
            session.commit()  # the claim given back: the repair sweep asks again
            return False
    # 21220: the leg had already ended at Twilio, which is what this asked for.
    answer = reconcile.ask_call(sid)
    changed = reconcile.apply_call_answer(session, call_id=leg_id, answer=answer)
    session.commit()
    return changed


def leave_conference(session: Session, *, call_id: int, leg_id: int) -> bool:
    """Take the agent who handed a call over out of its conference, once (telephony.transfers'
    hand-over enqueues it): claimed as a hang-up of their leg, Twilio asked with no transaction
    open, and the leg's status callback then ends it here. The conference must outlive them: it
    is told first not to end when they leave. A failure gives the claim back (and raises for the
    task's retry when it may pass)."""
    call = session.get(Call, call_id)
    key = conference_key(call) if call is not None else ""
    order = claim_hangup(session, leg_id=leg_id) if key else None
    if order is None:
        session.commit()
        return False
    sid, _status = order
    try:
        get_gateway().update_participant(key, sid, end_conference_on_exit=False)
        get_gateway().remove_participant(key, sid)
    except GatewayError as exc:
        log.warning("call %s: the previous agent's leg could not be removed: %s", call_id, exc.message)
        release_hangup(session, leg_id=leg_id)
        if exc.retryable:
            raise
        return False
    return True


def release_hangup(session: Session, *, leg_id: int) -> None:
    """Give a leg's hang-up claim back (committed): Twilio refused, and it may be asked again."""
    session.execute(update(Call).where(Call.id == leg_id).values(hangup_claimed_at=None, updated_at=Call.updated_at)
                    .execution_options(synchronize_session=False))
    session.commit()


def end_offer_legs(session: Session, *, offer_id: int) -> int:
    """Stop the phone still ringing for an offer that is over (withdrawn or timed out), so the
    agent cannot answer a stale leg. A leg already answered is left to its own TwiML."""
    offer = session.get(Offer, offer_id)
    leg_ids: list[int] = []
    if offer is not None and offer.state not in ("pending", "accepted"):
        leg_ids = list(session.scalars(select(Call.id).where(Call.offer_id == offer_id, Call.leg == "agent",
                                                             Call.status.in_(_RINGING))))
    session.commit()
    return sum(end_leg(session, leg_id=leg_id) for leg_id in leg_ids)


# What a lost task left undone: each effect not done, and not claimed (or its claim lapsed) ------

# Built once (an alias's columns are made on first use, some milliseconds for the calls table).
_LEG, _CALLER = table_of(Call).alias("leg"), table_of(Call).alias("caller")


def lost_rings(session: Session, *, now: datetime | None = None) -> list[int]:
    """Live offers whose agent was never rung: the ring task was lost, or its worker died
    holding the claim."""
    now = now or clock.now()
    rung = select(Call.id).where(Call.offer_id == Offer.id, Call.leg == "agent").exists()
    return list(session.scalars(select(Offer.id).where(
        Offer.state == "pending", Offer.expires_at > now, Offer.offered_at < now - GRACE, ~rung,
        or_(Offer.ring_claimed_at.is_(None), Offer.ring_claimed_at <= now - RING_LEASE)).limit(200)))


def lost_connects(session: Session, *, now: datetime | None = None) -> list[int]:
    """Answered calls whose caller was never moved to the agent (connect_caller was lost, or its
    worker died holding the claim)."""
    now = now or clock.now()
    leg = _LEG
    query = (select(Call.id).join(QueueEntry, QueueEntry.call_id == Call.id)
             .join(Offer, Offer.id == Call.offer_id)
             .join(leg, (leg.c.offer_id == Offer.id) & (leg.c.leg == "agent") & (leg.c.status == "in-progress"))
             .where(Call.leg == "caller", Call.bridged_at.is_(None), Call.status.in_(call_states.LIVE),
                    QueueEntry.state == "connected", Offer.state == "accepted", Offer.resolved_at < now - GRACE,
                    or_(Offer.connect_claimed_at.is_(None), Offer.connect_claimed_at <= now - CONNECT_LEASE))
             .limit(200))
    return list(session.scalars(query))


def lost_leg_ends(session: Session, *, now: datetime | None = None) -> list[int]:
    """Agent legs still live at Twilio's last word though they should have been ended: their
    caller has been over for GRACE (a leg in the caller's conference ends with it by itself, and
    is not hung up meanwhile: calls.legs_to_hang_up), their offer is over unanswered, or their agent
    hung up from the desk; and no worker holds their hang-up (a hang-up whose callback was lost
    is asked for again once its claim lapses)."""
    now = now or clock.now()
    caller = _CALLER
    over = ("withdrawn", "expired", "declined")
    query = (select(Call.id).outerjoin(caller, caller.c.id == Call.parent_call_id)
             .outerjoin(Offer, Offer.id == Call.offer_id)
             .where(Call.leg == "agent", Call.status.in_(call_states.LIVE), Call.updated_at < now - GRACE,
                    or_(caller.c.status.in_(tuple(call_states.TERMINAL))
                        & (func.coalesce(caller.c.ended_at, caller.c.updated_at) < now - GRACE),
                        (Offer.state.in_(over)) & (Call.status != "in-progress"),
                        Call.agent_hangup_requested_at < now - GRACE),
                    _hangup_free(now))
             .limit(200))
    return list(session.scalars(query))
