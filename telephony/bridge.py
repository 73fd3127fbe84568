"""Connecting a routed call: the agent's browser phone (`client:agent_<id>`) answers an offer,
caller and agent meet in a conference named after the call, the caller's leg is recorded on two
channels from then on, and a dropped agent sends the caller back to the queue. The REST calls
that ring the agent, move the caller in and hang up a leg are telephony.carrier_effects'; the
answer and the join ask Twilio about an agent's leg before their transaction writes anything."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import Dial, VoiceResponse

from core import clock
from core.db import table_of
from core.errors import NotFound
from core.events import publish
from core.worker import enqueue_named
from telephony import call_states, calls, ivr, legs, routing, transfers
from telephony.gateway import GatewayError, get_gateway
from telephony.ivr import webhook_url
from telephony.legs import agent_identity
from telephony.models import TERMINAL_STATUSES, Call, CallControlEvent, Offer, QueueEntry
from telephony.priority import routing_settings
from tickets import service as ticket_service
from tickets import tiers, visibility

__all__ = ["agent_identity", "agent_answered", "caller_joins", "conference_done", "agent_leg_status", "caller_ended",
           "hangup_by_agent", "conference_name", "open_offer_access", "CALL_NOT_IN_PROGRESS", "LEG_EVENTS"]

CALL_NOT_IN_PROGRESS = 21220  # Twilio: "Call is not in-progress"
log = logging.getLogger("hotline.telephony.bridge")
LEG_EVENTS = ["initiated", "ringing", "answered", "completed"]
CONFERENCE_EVENTS = "start end join leave"
# When the agent who has the caller hangs up, the conference ends and Twilio asks the caller's
# `<Dial>` action within a second or so. A caller moved in just as the agent left joins a new,
# empty conference instead, and nothing more is heard of them: checked this long after the
# leg's end (telephony.rescue_if_alone), rather than at the reconcile sweep's next pass; and this
# long after the caller was moved in, once they are in the conference, for when the leg's end
# never reaches the hub (its `completed` lost): the check then asks Twilio about the agent's leg.
ALONE_CHECK_SECONDS = 5


def conference_name(call: Call) -> str:
    # No personal data in a conference name (Twilio's advice): the hub's own call id.
    return f"hotline-call-{call.id}"


def _agent_leg(session: Session, params: Mapping[str, str], offer: Offer | None, offer_id: int) -> Call:
    """The answering leg, under its row lock, and the answer logged for it (found, locked and
    logged in one statement)."""
    leg = calls.find_and_log(session, kind="agent-answer", params=params, call_sid=params.get("CallSid") or None,
                             lock=True)
    if leg is None:  # answered before the ring task's row was committed
        leg = Call(call_sid=params["CallSid"], leg="agent", direction="outbound-api", offer_id=offer_id,
                   parent_call_id=offer.call_id if offer else None, agent_id=offer.user_id if offer else None,
                   to_number=params.get("To"), status="ringing")
        try:
            with session.begin_nested():
                session.add(leg)
        except IntegrityError:  # the ring task wrote it meanwhile (it asks Twilio outside a transaction)
            found = calls.get_by_sid(session, call_sid=params["CallSid"])
            assert found is not None
            leg = found
        leg = call_states.lock(session, leg)
        calls.log_event(session, kind="agent-answer", params=params, call=leg)
    return leg


def _say_and_hang_up(text: str, chinese: str | None = None) -> str:
    response = VoiceResponse()
    if chinese:
        response.say(chinese, language="zh-CN")
    response.say(text, language="en-US")
    response.hangup()
    return str(response)


def _conference(dial: Dial, call: Call) -> None:
    dial.conference(conference_name(call), start_conference_on_enter=True, end_conference_on_exit=True,
                    beep="false", status_callback=webhook_url("/twilio/conference/events"),
                    status_callback_event=CONFERENCE_EVENTS, status_callback_method="POST")


# What an agent hears on a leg that is not theirs to take, in both of the hub's languages.
STALE_LEG_TEXT = ("谢谢。这通电话已由其他同事接听。再见。",
                  "Thank you. This call has already been taken by a colleague. Goodbye.")
BUSY_AGENT_TEXT = ("您正在通话中，这通电话将转给其他同事。再见。",
                   "You are already on a call, so this one goes to a colleague. Goodbye.")


def agent_answered(session: Session, *, params: Mapping[str, str], offer_id: int) -> str:
    """POST /twilio/agent/answer: the agent picked up. The offer is accepted (or refused if it
    was withdrawn or timed out), the agent joins the call's conference, and the caller is
    redirected there (after commit). A leg acts only on its own offer: a stale leg, or a second
    leg of an offer another leg already answered, is told politely the call was taken and hung
    up; so is an agent whose phone is already on another live call (asked about at Twilio first,
    with no transaction open: its `completed` may have been lost)."""
    # The offer, and in the same read its agent's other live leg, if any: that leg's `completed`
    # may have been lost. Twilio is asked about it with no transaction open (nothing is written
    # yet), a leg it says has ended is ended here as its status callback would have, in a short
    # transaction of its own (_settle_from_carrier), and the answer goes on.
    found = session.execute(_OFFER_AND_OTHER_LEG,
                            {"offer_id": offer_id, "call_sid": params.get("CallSid") or ""}).first()
    offer = found[0] if found is not None else None
    if found is not None and found[1] is not None:
        _settle_from_carrier(session, found[1])
    # Lock order everywhere: the leg, the caller, the queue entry, the presence row. Each is
    # found and locked in one statement.
    leg = _agent_leg(session, params, offer, offer_id)
    caller = call_states.lock_by_id(session, call_id=offer.call_id) if offer is not None else None
    if offer is not None and offer.state == "accepted" and _answered_elsewhere(session, offer, leg):
        legs.mark_answered(session, leg)
        return _say_and_hang_up(STALE_LEG_TEXT[1], STALE_LEG_TEXT[0])
    if not legs.mark_answered(session, leg):
        # The agent's phone is on another live call: the database keeps them on one at most.
        if offer is not None and offer.state == "pending":
            _settle_offer(session, offer.id, declined=True)
        return _say_and_hang_up(BUSY_AGENT_TEXT[1], BUSY_AGENT_TEXT[0])
    try:
        offer = routing.offer_answered(session, offer_id=offer_id)
    except routing.OfferNotFound as exc:
        return _say_and_hang_up(exc.message)
    except routing.OfferNotLive:
        return _say_and_hang_up(STALE_LEG_TEXT[1], STALE_LEG_TEXT[0])
    caller = session.get(Call, offer.call_id)
    if caller is None or caller.is_terminal:
        routing.call_ended(session, call_id=offer.call_id)
        return _say_and_hang_up("The caller has hung up.", "来电者已挂断。")
    # A warm transfer to a queue: the caller is already in the conference with the agent who
    # transfers; the call becomes this agent's when they have joined it (transfers._hand_over).
    joining = transfers.queue_transfer_answered(session, caller=caller, offer=offer, leg=leg)
    caller.offer_id = offer.id
    caller.conference_name = conference_name(caller)
    _open_access(session, caller, offer.user_id)
    tiers.call_contact(session, customer_id=caller.customer_id, call_sid=caller.call_sid, channel="call_in")
    if not joining:
        caller.agent_id = offer.user_id
        if caller.ticket_id is not None:
            # The agent who takes the call writes its ticket (the desktop's ticket form).
            ticket_service.assign_to_call_agent(session, ticket_id=caller.ticket_id, agent_id=offer.user_id)
    publish(session, "call.answered", {"call_id": caller.id, "ticket_id": caller.ticket_id, "offer_id": offer.id},
            user_id=offer.user_id, site_id=caller.site_id)
    if not joining:
        enqueue_named(session, "telephony.connect_caller", caller.id)
    response = VoiceResponse()
    dial = Dial()
    _conference(dial, caller)
    response.append(dial)
    return str(response)


_OTHER_LIVE_LEG = (select(Call.call_sid)
                   .where(Call.leg == "agent", Call.agent_id == Offer.user_id, Call.status == "in-progress",
                          Call.call_sid != bindparam("call_sid"))
                   .limit(1).scalar_subquery())
_OFFER_AND_OTHER_LEG = select(Offer, _OTHER_LIVE_LEG).where(Offer.id == bindparam("offer_id"))


def _answered_elsewhere(session: Session, offer: Offer, leg: Call) -> bool:
    """Whether another leg of this (accepted) offer was answered: that leg owns the call."""
    return session.scalar(select(Call.id).where(Call.offer_id == offer.id, Call.leg == "agent", Call.id != leg.id,
                                                Call.answered_at.is_not(None)).limit(1)) is not None


def _settle_from_carrier(session: Session, call_sid: str) -> bool:
    """Ask Twilio about a call whose status callback may have been lost, with no transaction open
    (the session's transaction is committed first: call this before writing anything), and apply
    its answer as the callback would have. True if it has ended."""
    session.commit()
    try:
        state = get_gateway().fetch_call(call_sid)
    except GatewayError as exc:
        log.info("call %s not checked at Twilio: %s", call_sid, exc.message)
        return False
    if state.status not in TERMINAL_STATUSES:
        return False
    on_status(session, params={"CallSid": call_sid, "CallStatus": state.status, "CallbackSource": "reconcile",
                               **({"CallDuration": str(state.duration)} if state.duration is not None else {})})
    session.commit()
    return True


def agent_leg_of(session: Session, caller: Call) -> Call | None:
    """The live, answered leg of the agent who took the call (the accepted offer's leg), while
    the router has the call connected to them; None once that agent has gone."""
    if caller.offer_id is None:
        return None
    return session.scalar(_AGENT_LEG, {"caller_id": caller.id, "offer_id": caller.offer_id})


def _agent_leg_query(*columns: Any) -> Select[Any]:
    """agent_leg_of in one statement: the caller's queue entry connected, the offer they accepted
    still accepted, and that offer's answered leg not ended. Built once per shape."""
    return (select(*columns)
            .join(Offer, Offer.id == Call.offer_id)
            .join(QueueEntry, QueueEntry.call_id == bindparam("caller_id"))
            .where(Offer.id == bindparam("offer_id"), Offer.state == "accepted",
                   QueueEntry.state == "connected", Call.leg == "agent", Call.status == "in-progress")
            .limit(1))


_AGENT_LEG, _AGENT_LEG_SID, _AGENT_LEG_ID = (_agent_leg_query(Call), _agent_leg_query(Call.call_sid),
                                             _agent_leg_query(Call.id))


def _check_agent_first(session: Session, caller: Call) -> None:
    """Before a caller not yet bridged joins: their agent's leg is asked about at Twilio (its
    `completed` may be late or lost), with no transaction open, and a leg Twilio says has ended
    is applied as its status callback would be. caller_joins then reads the database afresh."""
    if caller.bridged_at is None and caller.offer_id is not None:
        leg_sid = session.scalar(_AGENT_LEG_SID, {"caller_id": caller.id, "offer_id": caller.offer_id})
        if leg_sid is not None:
            _settle_from_carrier(session, leg_sid)


def abandoned_before_join(session: Session, *, caller: Call, leg: Call, offer: Offer | None) -> None:
    """The agent who answered left before the caller was moved in: the caller goes back to the
    queue at their old place (priority and waiting time kept) and the abandonment counts as a
    declined offer. A caller still in Twilio's queue simply waits on; one being moved is sent
    back by caller_joins."""
    routing.return_to_queue(session, call_id=caller.id, user_id=leg.agent_id,
                            reason="the agent hung up before the caller joined")
    caller.conference_name = None
    _close_access(session, caller, leg)


def caller_joins(session: Session, *, params: Mapping[str, str], call_id: int) -> str:
    """POST /twilio/conference?call=ID: the caller's TwiML to join the agent. Recording of the
    caller's leg starts here, two channels (caller and agent), as the call is answered. If the
    agent has gone meanwhile, the caller hears one short sentence and waits in the queue again
    at their old place."""
    call = session.get(Call, call_id)
    if call is None or call.call_sid != params.get("CallSid"):
        return ivr.hangup_twiml()
    _check_agent_first(session, call)
    locked = calls.find_and_log(session, kind="conference-join", params=params, call_id=call.id, lock=True)
    if locked is None:
        return ivr.hangup_twiml()
    call = locked
    config = ivr.get_config(session)
    if call.bridged_at is None and (call.offer_id is None
                                    or session.scalar(_AGENT_LEG_ID, {"caller_id": call.id,
                                                                      "offer_id": call.offer_id}) is None):
        entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
        if entry is not None and entry.state in ("waiting", "offered"):
            return ivr.enqueue_twiml(config, call.language,
                                     skill_code=entry.skill_code or call.skill_code or "operator", intro="reconnect")
        return ivr.goodbye_twiml(config, call.language)
    if call.bridged_at is None:
        call.bridged_at = clock.now()
        # The agent was there a moment ago; they may leave during the sentence below, before the
        # caller is in the conference (see ALONE_CHECK_SECONDS).
        enqueue_named(session, "telephony.rescue_if_alone", call.id, countdown=ALONE_CHECK_SECONDS)
    response = VoiceResponse()
    start = response.start()
    start.recording(channels="dual", track="both",
                    recording_status_callback=webhook_url("/twilio/recording", kind="call"),
                    recording_status_callback_method="POST",
                    recording_status_callback_event="in-progress completed absent")
    response.say(config.text(call.language, "connecting"), language=call.language)
    dial = Dial(action=webhook_url("/twilio/conference/done", call=call.id), method="POST")
    _conference(dial, call)
    response.append(dial)
    return str(response)


def conference_done(session: Session, *, params: Mapping[str, str], call_id: int) -> str:
    """POST /twilio/conference/done: the caller's conference ended while they are still on the
    line. If the agent hung up, goodbye; if the agent's browser dropped, back to the queue
    with the original waiting time."""
    call = calls.find_and_log(session, kind="conference-done", params=params, call_id=call_id)
    config = ivr.get_config(session)
    if call is None:
        return ivr.hangup_twiml()
    if call.agent_hangup_requested_at is not None or call.is_terminal:
        return ivr.goodbye_twiml(config, call.language)
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
    if entry is None or entry.state not in ("connected", "waiting", "offered"):
        return ivr.goodbye_twiml(config, call.language)
    transfers.queue_transfer_agent_dropped(session, call=call)  # mid-transfer to a queue: it goes on, cold
    routing.requeue(session, call_id=call.id)
    call.bridged_at, call.conference_name, call.conference_sid = None, None, None
    return ivr.enqueue_twiml(config, call.language, skill_code=entry.skill_code or call.skill_code or "operator",
                             intro="reconnect")


def agent_leg_status(session: Session, *, leg: Call, status: str) -> None:
    """A status callback for an agent's leg (already applied to the row). A leg acts only on
    its own offer: the one that ends a call must be the leg of the offer the caller accepted,
    and it frees only its own agent. Only an ending matters here (an answer goes through
    legs.mark_answered; initiated and ringing change nothing else)."""
    if status not in TERMINAL_STATUSES:
        return
    caller, offer, entry = _leg_context(session, leg)
    if caller is not None:
        if transfers.queue_transfer_leg_ended(session, caller=caller, leg=leg, status=status):
            return  # answered a transfer to a queue but never joined: the call waits again
    if status == "busy" and offer is not None:
        _settle_offer(session, offer.id, declined=True)
    elif status == "no-answer":
        routing.expire_offers(session)
    elif status == "failed" and leg.agent_id is not None:
        if offer is not None and offer.state == "pending":
            routing.agent_disconnected(session, user_id=leg.agent_id)
    elif status == "completed" and leg.answered_at is not None and caller is not None:
        if not legs.owns_call(leg, caller, offer):
            log.info("stale agent leg %s of offer %s ended; call %s goes on", leg.id, leg.offer_id, caller.id)
            return
        if entry is not None and entry.state == "connected" and caller.bridged_at is None and not caller.is_terminal:
            # The agent left before the caller was moved in (a quick hang-up): the caller must
            # not join an empty conference; they go back to the queue at their old place.
            abandoned_before_join(session, caller=caller, leg=leg, offer=offer)
            return
        # After a requeue (browser dropped) the entry waits again: the router already ended
        # the agent's part, and ending the call now would abandon it.
        if caller.is_terminal or entry is None or entry.state == "connected":
            routing.call_ended(session, call_id=caller.id, user_id=leg.agent_id)
        if not caller.is_terminal and caller.bridged_at is not None:
            enqueue_named(session, "telephony.rescue_if_alone", caller.id, countdown=ALONE_CHECK_SECONDS)
        _close_access(session, caller, leg)


def _leg_context(session: Session, leg: Call) -> tuple[Call | None, Offer | None, QueueEntry | None]:
    """The caller's call, the leg's offer and the caller's queue entry, read in one statement
    (none of them locked: what changes them locks them)."""
    if leg.parent_call_id is None:
        return None, session.get(Offer, leg.offer_id) if leg.offer_id is not None else None, None
    query = (select(Call, Offer, QueueEntry).select_from(Call)
             .outerjoin(Offer, Offer.id == leg.offer_id)
             .outerjoin(QueueEntry, QueueEntry.call_id == Call.id)
             .where(Call.id == leg.parent_call_id))
    row = session.execute(query).first()
    if row is None:
        return None, session.get(Offer, leg.offer_id) if leg.offer_id is not None else None, None
    return row[0], row[1], row[2]


def _settle_offer(session: Session, offer_id: int, *, declined: bool) -> None:
    offer = session.get(Offer, offer_id)
    if offer is None or offer.state != "pending":
        return
    try:
        routing.offer_declined(session, offer_id=offer_id)
    except routing.OfferNotLive:
        pass


def _open_access(session: Session, caller: Call, agent_id: int | None, *, until: datetime | None = None) -> None:
    """The agent may see the caller's card while the call is offered, on, and in wrap-up."""
    if caller.customer_id is None or agent_id is None:
        return
    try:
        visibility.open_call_access(session, customer_id=caller.customer_id, agent_id=agent_id,
                                    call_ref=caller.call_sid, until=until)
    except NotFound:
        log.info("call %s: its customer is gone; no card to show", caller.id)


def open_offer_access(session: Session, offer: Offer) -> None:
    """An `on_offer` hook (wired by the composition root): in the offer's own transaction, so the
    desk that shows the offer (on `call.offered`) can already show the caller's card; the ring
    task opens it again (idempotent)."""
    caller = session.get(Call, offer.call_id)
    if caller is not None:
        _open_access(session, caller, offer.user_id, until=offer.expires_at)


def _close_access(session: Session, caller: Call, leg: Call) -> None:
    wrap_up = routing_settings(session).wrap_up_seconds
    _open_access(session, caller, leg.agent_id, until=clock.now() + timedelta(seconds=wrap_up))


def caller_ended(session: Session, *, call: Call) -> None:
    """The caller's leg finished: the router learns (queued → abandoned, offered → withdrawn,
    connected → wrap-up) and an agent phone still ringing for it is stopped."""
    from telephony import controls

    # The call's open controls, read once under its row lock (taken by on_status): a warm
    # transfer to a queue, and the holds, pauses and monitors that end with the call.
    opened = controls.open_events(session, call_id=call.id)
    transfers.queue_transfer_caller_left(session, call=call, opened=opened)  # answered, so not abandoned
    routing.call_ended(session, call_id=call.id)
    # A hold, pause or monitor still open ends with the call (its hold time stops here).
    controls.close_ended(session, call=call, transfers=False, opened=opened)
    # A leg in the conference the caller joined ends with it (endConferenceOnExit): not hung up.
    for leg_id in calls.legs_to_hang_up(session, caller=call):
        enqueue_named(session, "telephony.end_leg", leg_id)
    publish(session, "call.ended", {"call_id": call.id, "ticket_id": call.ticket_id, "status": call.status},
            site_id=call.site_id)


def hangup_by_agent(session: Session, *, user_id: int) -> Call | None:
    """The agent ends their call from the desktop: noted first (so the caller hears goodbye, not
    a reconnection), then their leg is hung up at Twilio after commit."""
    leg = session.scalar(select(Call).where(Call.leg == "agent", Call.agent_id == user_id,
                                            Call.status.in_(("queued", "initiated", "ringing", "in-progress")))
                         .order_by(Call.id.desc()).limit(1))
    if leg is None:
        return None
    now = clock.now()
    leg.agent_hangup_requested_at = now
    caller = session.get(Call, leg.parent_call_id) if leg.parent_call_id else None
    if caller is not None:
        caller.agent_hangup_requested_at = now
    enqueue_named(session, "telephony.end_leg", leg.id)
    return leg


def on_status(session: Session, *, params: Mapping[str, str]) -> None:
    """POST /twilio/status for any leg. Unknown CallSids are ignored (nothing written); a status
    that would move a call backwards is logged but changes nothing."""
    status = params.get("CallStatus") or ""
    if (status in calls.SIMPLE_STATUSES and session.get_bind().dialect.name == "postgresql"
            and not session.in_transaction()):
        # A status that changes nothing else (initiated, ringing), whole in one statement that
        # finds, locks, logs and moves the call (a session that has begun may hold the call: it
        # takes the path below).
        if not calls.apply_simple_status(session, kind="status", params=params):
            log.info("status callback for unknown call %s ignored", params.get("CallSid"))
        return
    # Found under its row lock, and the callback logged, in one statement: whatever this callback
    # changes, it changes the row as it is.
    call = calls.find_and_log(session, kind="status", params=params, call_sid=params.get("CallSid") or None,
                              lock=True)
    if call is None:
        log.info("status callback for unknown call %s ignored", params.get("CallSid"))
        return
    if call.leg == "agent" and status == "in-progress":
        if not legs.mark_answered(session, call):
            log.warning("agent leg %s answered while its agent is on another call", call.id)
        return
    if not call_states.advance(session, call, status, duration=params.get("CallDuration"), locked=True):
        return
    if call.leg == "agent":
        agent_leg_status(session, leg=call, status=status)
    elif call.is_terminal:
        caller_ended(session, call=call)


def on_conference_event(session: Session, *, params: Mapping[str, str]) -> None:
    """POST /twilio/conference/events: five of these a call, so none loads the call unless it
    has to. Logged; the conference's start gives the call its ConferenceSid; a join may be the
    agent a warm transfer to a queue was waiting for."""
    name = params.get("FriendlyName") or ""
    number = name.removeprefix("hotline-call-")
    call_id = int(number) if number.isdigit() else None
    event = params.get("StatusCallbackEvent")
    # Every event but a join is one statement in all, which commits on its own (`alone`).
    if call_id is not None and event == "conference-start":
        # Logged, and the call given its ConferenceSid, in one statement.
        calls.log_event_for(session, kind="conference", params=params, call_id=call_id, then=_CONFERENCE_STARTED,
                            alone=True, new_conference_sid=params.get("ConferenceSid"), now=clock.now())
    elif call_id is not None and event == "participant-join" and params.get("CallSid"):
        # Logged, and asked whether a control of the call (a transfer, a monitor) names this
        # participant, in one statement: a join matters to a transfer only then, and nearly
        # every join is the caller's or the agent's.
        named = calls.log_event_for(session, kind="conference", params=params, call_id=call_id,
                                    then=_NAMES_PARTICIPANT, participant_sid=params.get("CallSid")).scalar()
        if named:
            call = session.get(Call, call_id)
            if call is not None:
                transfers.on_participant_join(session, call=call, call_sid=params.get("CallSid"))
    else:
        calls.log_event_for(session, kind="conference", params=params, call_id=call_id, alone=True)


_CALLS, _CONTROLS = table_of(Call), table_of(CallControlEvent)
_CONFERENCE_STARTED = (update(_CALLS).where(_CALLS.c.id == bindparam("ref_id"))
                       .values(conference_sid=bindparam("new_conference_sid", type_=_CALLS.c.conference_sid.type),
                               updated_at=bindparam("now", type_=_CALLS.c.updated_at.type)))
_NAMES_PARTICIPANT = select(exists().where(_CONTROLS.c.participant_sid == bindparam("participant_sid"),
                                           _CONTROLS.c.call_id == bindparam("ref_id")))
