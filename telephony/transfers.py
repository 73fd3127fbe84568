"""Transfers and escalation of a live call. A warm transfer rings a team leader or another agent
into the call's conference; the agent stays on until that person joins, then leaves (wrap-up).
A warm transfer to a queue puts the call's queue entry back in line (original waiting time)
while caller and agent stay in their conference: the router offers it like any waiting call,
the agent it picks is rung into the conference, and the transferring agent leaves once they
have joined; nobody picked within `warm_transfer_wait_seconds` and the agent is told, and may
cancel. A cold transfer re-queues the call with its original waiting time. Escalating a live
call moves its ticket up the ladder and, if asked, warm-transfers it to someone available at
that level. The conference legs the controls add report here (`on_control_leg`); the bridge
reports the legs the router rings for a queue transfer (`queue_transfer_*`). Twilio is asked with no
transaction open: a route's transfer under the call's controls claim (telephony.controls), the
hand-over's removal of the agent who leaves by a task after the webhook commits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core import clock, organisation, permissions
from core import users as users_service
from core.config import get_settings
from core.db import begin_write
from core.errors import NotFound, Term, ValidationFailed
from core.models import User
from core.worker import enqueue_named
from telephony import call_states, calls, ivr, monitoring, offers, routing
from telephony import presence as presence_service
from telephony.controls import (
    CONTROL_LEASE,
    ControlFailed,
    ControlRefused,
    agent_leg,
    ask_twilio,
    audited,
    claim_controls,
    conference_key,
    finish,
    hotline_number,
    leg_url,
    live_call,
    open_event,
    record_control,
    recording_resumed,
    release_controls,
    require_agent_or_leader,
    resume_recording_at_twilio,
)
from telephony.gateway import get_gateway
from telephony.legs import agent_identity
from telephony.models import TERMINAL_STATUSES, Call, Offer, QueueEntry
from telephony.models.controls import CallControlEvent
from telephony.offers import lock_entry, queue_changed
from telephony.presence import AVAILABLE, AWAY, OFFERED, ON_CALL, ROUTER, WRAP_UP, lock_presence, move
from telephony.priority import routing_settings, sort_key
from tickets import escalation, visibility
from tickets import service as ticket_service

__all__ = ["cancel_transfer", "escalate_call", "hotline_number", "leg_url", "on_control_leg", "on_participant_join",
           "queue_transfer_agent_dropped", "queue_transfer_answered", "queue_transfer_caller_left",
           "queue_transfer_leg_ended", "remind_unanswered_transfers", "transfer"]

log = logging.getLogger("hotline.telephony.transfers")
RING_SECONDS = 30


# Transfer -------------------------------------------------------------------------------------

def transfer(session: Session, *, call_id: int, user: User, to_user_id: int | None = None,
             to_queue: str | None = None, warm: bool = True, source_ip: str | None = None) -> CallControlEvent:
    """Hand the call to a person (always warm: they are rung into the call, the agent leaves once
    they join) or to a queue (warm: the agent stays on with the caller until the agent the
    router picks has joined; cold: the caller waits in the queue again). Either way the call
    keeps its original waiting time, and a paused recording resumes."""
    if (to_user_id is None) == (to_queue is None):
        raise ValidationFailed("Name either the person (to_user_id) or the queue (to_queue) to transfer to.",
                               field="to_user_id")
    call = live_call(session, call_id=call_id, lock=True)
    require_agent_or_leader(session, call, user, doing="transfer it")
    under_way = open_event(session, call_id=call.id, kind="transfer")
    if under_way is not None and _lapsed(under_way):
        _transfer_failed(session, under_way, call, "not rung")  # its request died before Twilio rang anyone
    elif under_way is not None:
        raise ControlRefused("A transfer of this call is already under way; wait for it to finish.")
    if to_user_id is not None:
        if not warm:
            raise ValidationFailed("A cold transfer goes back to a queue. To hand the caller to a person, "
                                   "transfer warm.", field="warm")
        return _warm_to_user(session, call, user, to_user_id, source_ip)
    _require_queue(session, to_queue or "")
    if warm:
        return _warm_to_queue(session, call, user, to_queue or "", source_ip)
    return _cold_to_queue(session, call, user, to_queue or "", source_ip)


def _require_queue(session: Session, skill_code: str) -> None:
    if skill_code not in {skill.code for skill in organisation.list_skills(session)}:
        raise NotFound("There is no such queue; choose one from the list.", field="to_queue",
                       params={"queue": skill_code})


def _warm_to_user(session: Session, call: Call, user: User, to_user_id: int, source_ip: str | None) -> CallControlEvent:
    try:
        target = users_service.get(session, user_id=to_user_id)
    except NotFound:
        target = None
    if target is None or not target.is_active:
        raise NotFound("There is no such person to transfer to.", field="to_user_id")
    if target.id == call.agent_id:
        raise ControlRefused("The call is already with this person.")
    if not permissions.allowed(target.role, permissions.AGENTS):
        raise ControlRefused("%(name)s does not take calls; choose an agent or a team leader.",
                             params={"name": target.display_name})
    lock_entry(session, QueueEntry.call_id == call.id)  # the lock order every writer uses: entry, presence
    presence = lock_presence(session, user_id=target.id)
    if presence.state != AVAILABLE:
        label = presence_service._LABELS.get(presence.state, Term(presence.state))  # noqa: SLF001
        raise ControlRefused("%(name)s is %(state)s, not available. Choose someone available, or transfer the call "
                             "to a queue.", params={"name": target.display_name, "state": label})
    claim_controls(session, call)
    pause_id = _open_pause(session, call)
    old = agent_leg(session, call)
    # The leg's status callback names the transfer, so its row is written with the claim (audited
    # once Twilio has rung the person, removed if it refuses); the person is offered nobody else
    # while their phone rings for this call.
    event = CallControlEvent(call_id=call.id, kind="transfer", actor_id=user.id, state="pending",
                             started_at=clock.now(), target_user_id=target.id, warm=True,
                             handed_over_sid=old.call_sid if old else None)
    session.add(event)
    move(session, presence, OFFERED, by=ROUTER, reason=f"transfer of call {call.id}")
    session.flush()
    event_id, target_id = event.id, target.id

    def forget(s: Session) -> None:
        s.execute(delete(CallControlEvent).where(CallControlEvent.id == event_id))
        _free(s, call, target_id, reason=f"transfer of call {call.id} not started")

    if pause_id is not None:
        ask_twilio(session, call.id, "resume the recording", lambda: resume_recording_at_twilio(call), undo=forget)

    def resumed_but_not_rung(s: Session) -> None:
        recording_resumed(s, pause_id=pause_id, why="transfer")
        forget(s)

    identity = agent_identity(target_id)
    sid = ask_twilio(session, call.id, "ring the person you transfer to", lambda: get_gateway().add_conference_leg(
        conference_key(call), from_=hotline_number(call), to=f"client:{identity}", label=f"transfer-{target_id}",
        status_callback=leg_url(event_id), end_conference_on_exit=True, timeout=RING_SECONDS),
        undo=resumed_but_not_rung)
    recording_resumed(session, pause_id=pause_id, why="transfer")
    event = session.get(CallControlEvent, event_id, populate_existing=True) or event
    event.participant_sid = sid
    if calls.get_by_sid(session, call_sid=sid) is None:
        session.add(Call(call_sid=sid, leg="agent", direction="outbound-api", parent_call_id=call.id,
                         agent_id=target_id, to_number=f"client:{identity}", status="queued", language=call.language,
                         site_id=call.site_id, ticket_id=call.ticket_id, customer_id=call.customer_id))
    session.flush()
    audited(session, event, "call.transfer_started", user=user, source_ip=source_ip)
    release_controls(session, call.id)
    return event


def _open_pause(session: Session, call: Call) -> int | None:
    """The call's paused recording, resumed by a transfer (the next agent need not know of it)."""
    pause = open_event(session, call_id=call.id, kind="recording_pause")
    return pause.id if pause is not None else None


def _free(session: Session, call: Call, user_id: int, *, reason: str) -> bool:
    """The person a transfer reserved (offered, with no offer of the router's) is available again."""
    target = lock_presence(session, user_id=user_id)
    if target.state == OFFERED and target.current_offer_id is None:
        move(session, target, AVAILABLE, by=ROUTER, reason=reason)
        return True
    return False


def _lapsed(event: CallControlEvent) -> bool:
    """A transfer to a person whose request died between its claim and Twilio's answer."""
    return (event.state == "pending" and event.target is None and event.participant_sid is None
            and event.started_at <= clock.now() - CONTROL_LEASE)


def _cold_to_queue(session: Session, call: Call, user: User, skill_code: str,
                   source_ip: str | None) -> CallControlEvent:
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
    if entry is None:
        raise ControlRefused("This call never waited in a queue (a callback); transfer it warm to a person.")
    claim_controls(session, call)
    pause_id = _open_pause(session, call)
    config = ivr.get_config(session)
    twiml = ivr.enqueue_twiml(config, call.language, skill_code=skill_code)
    if pause_id is not None:
        ask_twilio(session, call.id, "resume the recording", lambda: resume_recording_at_twilio(call))
    ask_twilio(session, call.id, "move the caller back to the queue",
               lambda: get_gateway().update_call(call.call_sid, twiml=twiml),
               undo=lambda s: recording_resumed(s, pause_id=pause_id, why="transfer"))
    recording_resumed(session, pause_id=pause_id, why="transfer")
    call = call_states.lock(session, call)
    old = agent_leg(session, call)
    routing.requeue(session, call_id=call.id, skill_code=skill_code)
    call.bridged_at, call.conference_name, call.conference_sid = None, None, None
    if old is not None:
        _release_leg(session, call, old)
    event = record_control(session, call=call, kind="transfer", user=user, source_ip=source_ip, state="active",
                           action="call.transfer_started", target=skill_code, warm=False,
                           handed_over_sid=old.call_sid if old else None)
    release_controls(session, call.id)
    return finish(session, event, action="call.transferred", user=user, outcome="back in the queue",
                  source_ip=source_ip)


def _release_leg(session: Session, call: Call, leg: Call) -> None:
    """The handed-over agent's leg no longer belongs to the call: when it ends, the call goes on
    with its new agent (telephony.bridge would otherwise end the call's agent with it). Their
    view of the caller's card ends with their wrap-up."""
    leg.parent_call_id = None
    if call.customer_id is not None and leg.agent_id is not None:
        until = clock.now() + timedelta(seconds=routing_settings(session).wrap_up_seconds)
        try:
            visibility.open_call_access(session, customer_id=call.customer_id, agent_id=leg.agent_id,
                                        call_ref=call.call_sid, until=until)
        except NotFound:
            pass


# Warm transfer to a queue ----------------------------------------------------------------------
# The call keeps its one queue entry (routing.enqueue is one entry per call): it goes from
# `connected` back to `waiting` while caller and agent stay in the conference, so the router's
# ordinary pass offers it (original waiting time, the target queue's skill). The bridge tells
# this module when the picked agent answers, joins the conference, or drops before joining, and
# when the caller or the transferring agent leaves meanwhile.

def _warm_to_queue(session: Session, call: Call, user: User, skill_code: str,
                   source_ip: str | None) -> CallControlEvent:
    begin_write(session)
    entry = lock_entry(session, QueueEntry.call_id == call.id)
    if entry is None:
        raise ControlRefused("This call never waited in a queue (a callback); transfer it warm to a person.")
    if entry.state != "connected":
        raise ControlRefused("This call is not connected to its agent through the queue now; try again in a moment.")
    old = agent_leg(session, call)
    if old is None:
        raise ControlRefused("No agent is on this call to stay on during the transfer; transfer it cold instead.")
    pause_id = _open_pause(session, call)
    if pause_id is not None:
        claim_controls(session, call)
        ask_twilio(session, call.id, "resume the recording", lambda: resume_recording_at_twilio(call))
        recording_resumed(session, pause_id=pause_id, why="transfer")
        release_controls(session, call.id)
        entry = lock_entry(session, QueueEntry.call_id == call.id)
        if entry is None or entry.state != "connected":
            session.commit()  # the resumed recording stays recorded
            raise ControlRefused("This call is not connected to its agent through the queue now; try again in a "
                                 "moment.")
    event = record_control(session, call=call, kind="transfer", user=user, source_ip=source_ip, state="pending",
                           action="call.transfer_started", target=skill_code, warm=True,
                           handed_over_sid=old.call_sid)
    _set_entry(session, entry, state="waiting", skill_code=skill_code)
    routing.route(session)
    return event


def _set_entry(session: Session, entry: QueueEntry, *, state: str, skill_code: str) -> None:
    """The locked entry waits again for `skill_code` (its place in line from its first waiting
    time, as routing.requeue keeps it), or is connected again."""
    entry.skill_code = skill_code
    if state == "waiting":
        entry.sort_key = sort_key(enqueued_at=entry.enqueued_at, base=entry.base_priority,
                                  aging_seconds_per_point=routing_settings(session).aging_seconds_per_point)
        entry.queued_at = clock.now()
    entry.state, entry.ended_at, entry.end_reason = state, None, None
    queue_changed(session, entry)


def _queue_transfer(session: Session, call_id: int,
                    opened: list[CallControlEvent] | None = None) -> CallControlEvent | None:
    if opened is None:
        event = open_event(session, call_id=call_id, kind="transfer")
    else:  # the newest open transfer, as open_event finds it
        event = next((e for e in reversed(opened) if e.kind == "transfer" and e.ended_at is None), None)
    return event if event is not None and event.warm and event.target is not None else None


def _skill_before(session: Session, call: Call, event: CallControlEvent) -> str:
    """The queue the call was connected through before this transfer: an earlier transfer's
    target, else the caller's menu choice."""
    earlier = session.scalar(select(CallControlEvent.target).where(
        CallControlEvent.call_id == call.id, CallControlEvent.kind == "transfer", CallControlEvent.state == "done",
        CallControlEvent.target.is_not(None), CallControlEvent.id < event.id)
        .order_by(CallControlEvent.id.desc()).limit(1))
    return earlier or call.skill_code or event.target or "operator"


def _withdraw_offer(session: Session, entry: QueueEntry, *, reason: str) -> bool:
    """Withdraw the entry's pending offer (its agent is available again) and stop their phone."""
    offer_id = session.scalar(select(Offer.id).where(Offer.entry_id == entry.id, Offer.state == "pending"))
    if offer_id is None or not offers.withdraw_for_entry(session, entry, reason=reason, agent_state=AVAILABLE):
        return False
    for leg_id in session.scalars(select(Call.id).where(Call.offer_id == offer_id, Call.leg == "agent",
                                                        Call.status.not_in(TERMINAL_STATUSES))):
        enqueue_named(session, "telephony.end_leg", leg_id)
    return True


def _end_presence_call(session: Session, user_id: int, call: Call, *, reason: str) -> None:
    """`user_id` is no longer on this call: wrap-up (away if their browser left), and their
    answer of it ends (the floor's handle time runs from answer to here)."""
    presence = lock_presence(session, user_id=user_id)
    now = clock.now()
    session.execute(update(Offer).where(Offer.call_id == call.id, Offer.user_id == user_id, Offer.state == "accepted",
                                        Offer.ended_at.is_(None)).values(ended_at=now))
    if presence.state != ON_CALL or presence.current_call_id != call.id:
        return
    if presence.away_after_call:
        move(session, presence, AWAY, by=ROUTER, reason=reason, current_call_id=None, last_call_ended_at=now)
    else:
        move(session, presence, WRAP_UP, by=ROUTER, reason=reason, current_call_id=None, last_call_ended_at=now,
             wrap_up_until=now + timedelta(seconds=routing_settings(session).wrap_up_seconds))


def queue_transfer_answered(session: Session, *, caller: Call, offer: Offer, leg: Call) -> bool:
    """The agent the router picked answered (bridge.agent_answered): they join the conference
    the caller and the transferring agent are in; the hand-over waits for their join. False if
    the call has no warm transfer to a queue under way (an ordinary answer)."""
    event = _queue_transfer(session, caller.id)
    if event is None or event.state != "pending":
        return False
    event.target_user_id, event.participant_sid = offer.user_id, leg.call_sid
    session.flush()
    audited(session, event, "call.transfer_answered", user=None, call=caller)
    return True


def on_participant_join(session: Session, *, call: Call, call_sid: str | None) -> None:
    """A conference join (bridge.on_conference_event): the agent a queue transfer rang has
    joined, so the transferring agent leaves."""
    event = _queue_transfer(session, call.id)
    if event is None or event.state != "pending" or not call_sid or event.participant_sid != call_sid:
        return
    if call.is_terminal:
        return
    _hand_over(session, event, call)


def queue_transfer_leg_ended(session: Session, *, caller: Call, leg: Call, status: str) -> bool:
    """The picked agent answered but their leg ended before they joined: the call waits in
    the queue again (the transferring agent is still on). True if this leg was that one."""
    event = _queue_transfer(session, caller.id)
    if event is None or event.state != "pending" or event.participant_sid != leg.call_sid:
        return False
    entry = lock_entry(session, QueueEntry.call_id == caller.id)
    if leg.agent_id is not None:
        _end_presence_call(session, leg.agent_id, caller, reason=f"left transferred call {caller.id} before joining")
    event.target_user_id, event.participant_sid = None, None
    session.flush()
    audited(session, event, "call.transfer_not_joined", user=None, call=caller)
    if entry is not None and not caller.is_terminal:
        _set_entry(session, entry, state="waiting", skill_code=event.target or entry.skill_code)
        routing.route(session)
    return True


def queue_transfer_caller_left(session: Session, *, call: Call,
                               opened: list[CallControlEvent] | None = None) -> None:
    """The caller hung up during a warm transfer to a queue (bridge.caller_ended, before the
    router hears of it): the call was answered, so its entry is connected again rather than
    abandoned, an agent offered it is free, and one who answered it goes to wrap-up. `opened`:
    the call's open controls (controls.open_events), if the caller read them already."""
    event = _queue_transfer(session, call.id, opened)
    if event is None:
        return
    begin_write(session)
    entry = lock_entry(session, QueueEntry.call_id == call.id)
    freed = False
    if entry is not None:
        freed = entry.state == "offered" and _withdraw_offer(session, entry, reason="the caller hung up")
        _set_entry(session, entry, state="connected", skill_code=entry.skill_code)
    if event.target_user_id is not None:
        _end_presence_call(session, event.target_user_id, call, reason=f"call {call.id} ended")
    finish(session, event, action="call.transfer_failed", user=None, outcome="the caller hung up", state="cancelled",
           at=call.ended_at)
    if freed:
        routing.route(session)


def queue_transfer_agent_dropped(session: Session, *, call: Call) -> None:
    """The transferring agent's phone dropped (the conference ended with them) while the call
    waited for the queue: it goes on as a cold transfer, the caller waiting in the queue."""
    event = _queue_transfer(session, call.id)
    if event is None or event.state != "pending" or event.target_user_id is not None:
        return
    if call.agent_id is not None:
        _end_presence_call(session, call.agent_id, call, reason=f"disconnected during the transfer of call {call.id}")
    finish(session, event, action="call.transferred", user=None,
           outcome="the agent's phone dropped: back in the queue")


def cancel_transfer(session: Session, *, call_id: int, user: User, source_ip: str | None = None) -> CallControlEvent:
    """Call off a warm transfer still under way: the caller stays with the agent. A person rung
    stops ringing and is available again; a queue transfer's offer is withdrawn."""
    call = live_call(session, call_id=call_id, lock=True)
    require_agent_or_leader(session, call, user, doing="cancel its transfer")
    event = open_event(session, call_id=call.id, kind="transfer")
    if event is None or event.state != "pending":
        raise ControlRefused("No transfer of this call is under way.")
    begin_write(session)
    entry = lock_entry(session, QueueEntry.call_id == call.id)
    freed = False
    if event.target is not None:
        if event.target_user_id is not None:
            raise ControlRefused("An agent has answered the transfer and is joining the call; it can no longer "
                                 "be cancelled.")
        if entry is not None:
            freed = entry.state == "offered" and _withdraw_offer(session, entry, reason="transfer cancelled")
            _set_entry(session, entry, state="connected", skill_code=_skill_before(session, call, event))
    else:
        # Claimed even with no leg to stop: the request ringing the person may still be asking Twilio.
        claim_controls(session, call)
        sid, event_id = event.participant_sid, event.id
        if sid:
            ask_twilio(session, call.id, "stop ringing the person you transfer to",
                       lambda: get_gateway().update_call(sid, status="canceled"))
            lock_entry(session, QueueEntry.call_id == call.id)
            event = session.get(CallControlEvent, event_id, populate_existing=True) or event
            if event.state != "pending":  # they answered as it was called off: the hand-over went ahead
                release_controls(session, call.id)
                session.commit()
                raise ControlRefused("No transfer of this call is under way.")
        release_controls(session, call.id)
        freed = _free(session, call, event.target_user_id or 0, reason=f"transfer of call {call.id} cancelled")
    finish(session, event, action="call.transfer_cancelled", user=user, outcome="cancelled", state="cancelled",
           source_ip=source_ip)
    if freed:
        routing.route(session)
    return event


def remind_unanswered_transfers(session: Session) -> int:
    """The sweep's part: a warm transfer to a queue nobody has taken after
    `warm_transfer_wait_seconds` is flagged once, and the agent's desktop is told so they can
    keep the caller, cancel, or wait on."""
    limit = timedelta(seconds=get_settings().warm_transfer_wait_seconds)
    due = list(session.scalars(select(CallControlEvent).where(
        CallControlEvent.kind == "transfer", CallControlEvent.ended_at.is_(None), CallControlEvent.state == "pending",
        CallControlEvent.target.is_not(None), CallControlEvent.target_user_id.is_(None),
        CallControlEvent.outcome.is_(None), CallControlEvent.started_at <= clock.now() - limit).limit(200)))
    for event in due:
        event.outcome = "nobody has taken it yet"
        session.flush()
        audited(session, event, "call.transfer_unanswered", user=None)
    return len(due)


# The legs the controls add ------------------------------------------------------------------------

def on_control_leg(session: Session, *, params: Mapping[str, str], control_id: int) -> Call | None:
    """POST /twilio/controls/leg?control=ID: status of a transfer's or a monitor's leg. Returns
    the leg when it is now an ordinary agent's leg (a transfer done), for bridge.agent_leg_status."""
    event = session.get(CallControlEvent, control_id)
    leg = calls.get_by_sid(session, call_sid=params.get("CallSid"))
    calls.log_event(session, kind="control-leg", params=params, call=leg)
    if event is None or (event.participant_sid and event.participant_sid != params.get("CallSid")):
        return None
    if event.kind != "transfer" and event.ended_at is not None and event.participant_sid:
        # A leader who switched mode is on the same leg under a newer control: that one ends.
        event = session.scalars(select(CallControlEvent).where(
            CallControlEvent.call_id == event.call_id, CallControlEvent.participant_sid == event.participant_sid,
            CallControlEvent.ended_at.is_(None)).order_by(CallControlEvent.id.desc()).limit(1)).first() or event
    status = params.get("CallStatus") or ""
    if leg is not None and not calls.advance_status(leg, status, duration=params.get("CallDuration")):
        return None
    if event.kind == "transfer":
        return _transfer_leg(session, event, leg, status)
    monitoring.on_leg_status(session, event=event, status=status)
    return None


def _transfer_leg(session: Session, event: CallControlEvent, leg: Call | None, status: str) -> Call | None:
    call = session.get(Call, event.call_id)
    if call is None:
        return None
    if event.state == "pending" and status == "in-progress":
        if call.is_terminal:
            return None  # the caller has gone; the hub ends this leg (bridge.caller_ended)
        _hand_over(session, event, call)
    elif event.state == "pending" and status in TERMINAL_STATUSES:
        _transfer_failed(session, event, call, status)
    elif event.state == "done" and status in TERMINAL_STATUSES and leg is not None:
        return leg  # the new agent's leg, as any agent's (bridge.agent_leg_status)
    return None


def _hand_over(session: Session, event: CallControlEvent, call: Call) -> None:
    """The new person joined: the agent who transferred leaves the conference and goes to
    wrap-up, the call and its ticket are now the new person's."""
    lock_entry(session, QueueEntry.call_id == call.id)
    old_agent_id = call.agent_id
    if old_agent_id is not None and old_agent_id != event.target_user_id:
        _end_presence_call(session, old_agent_id, call, reason=f"transferred call {call.id}")
    new = lock_presence(session, user_id=event.target_user_id or 0)
    if new.state == OFFERED:
        move(session, new, ON_CALL, by=ROUTER, reason=f"call {call.id} transferred", current_call_id=call.id)
    old_leg = session.scalar(select(Call).where(Call.call_sid == event.handed_over_sid)) if event.handed_over_sid \
        else None
    if old_leg is not None:
        _release_leg(session, call, old_leg)
        if old_leg.status not in TERMINAL_STATUSES:
            # Asked of Twilio after this webhook commits, with no transaction open.
            enqueue_named(session, "telephony.leave_conference", call.id, old_leg.id)
    call.agent_id = event.target_user_id
    if call.customer_id is not None and event.target_user_id is not None:
        try:
            visibility.open_call_access(session, customer_id=call.customer_id, agent_id=event.target_user_id,
                                        call_ref=call.call_sid)
        except NotFound:
            pass
    if call.ticket_id is not None and event.target_user_id is not None:
        ticket_service.assign_to_call_agent(session, ticket_id=call.ticket_id, agent_id=event.target_user_id)
    finish(session, event, action="call.transferred", user=None, outcome="handed over")


def _transfer_failed(session: Session, event: CallControlEvent, call: Call, status: str) -> None:
    """Nobody joined: the agent keeps the call, the person rung is available again."""
    _free(session, call, event.target_user_id or 0, reason=f"transfer of call {call.id} not taken")
    outcome = "the caller hung up" if call.is_terminal else f"not taken ({status})"
    finish(session, event, action="call.transfer_failed", user=None, outcome=outcome,
           state="cancelled" if call.is_terminal else "failed")


# Escalating a live call ---------------------------------------------------------------------------

def escalate_call(session: Session, *, call_id: int, user: User, reason: str, urgent: bool = False,
                  to_level: int | str | None = None, transfer_to_leader: bool = False,
                  source_ip: str | None = None) -> tuple[CallControlEvent, CallControlEvent | None]:
    """Escalate the call's ticket up the ladder (one level at a time unless urgent, written on
    its timeline by tickets) and, when asked, warm-transfer the call to someone available at
    the new level. Returns the escalation and the transfer, if one started."""
    call = live_call(session, call_id=call_id, lock=True)
    require_agent_or_leader(session, call, user, doing="escalate it")
    if call.ticket_id is None:
        raise ControlRefused("This call has no ticket to escalate.")
    ticket = ticket_service.escalate(session, ticket_id=call.ticket_id, by=user, reason=reason, to_level=to_level,
                                     urgent=urgent)
    level = escalation.Level(ticket.escalation_level)
    event = record_control(session, call=call, kind="escalate", user=user, source_ip=source_ip,
                           action="call.escalated", target=level.name, state="done")
    event.ended_at = event.started_at
    moved = None
    if transfer_to_leader:
        for person in escalation.level_users(session, ticket=ticket, level=level):
            if person.id in (call.agent_id, user.id):
                continue
            if presence_service.get_presence(session, user_id=person.id).state == AVAILABLE:
                escalation_id = event.id
                try:
                    moved = _warm_to_user(session, call, user, person.id, source_ip)
                except ControlFailed as exc:
                    # The escalation was committed with the transfer's claim and stands.
                    escalated = session.get(CallControlEvent, escalation_id)
                    if escalated is not None:
                        escalated.outcome = "the transfer could not be started"
                    session.commit()
                    raise ControlFailed("The ticket was escalated, but Twilio could not ring %(name)s. Transfer "
                                        "the call again.", params={**exc.params, "name": person.display_name}) from exc
                break
        event.outcome = ("transferring to the new level" if moved
                         else "nobody at that level is available to take the call")
    return event, moved

