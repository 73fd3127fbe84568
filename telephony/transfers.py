"""Transfers and escalation of a live call. A warm transfer rings a team leader or another agent
into the call's conference; the agent stays on until that person joins, then leaves (wrap-up).
A cold transfer re-queues the call with its original waiting time. Escalating a live call moves
its ticket up the ladder and, if asked, warm-transfers it to someone available at that level.
The conference legs the controls add report here (`on_control_leg`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock, permissions
from core.config import get_settings
from core.errors import NotFound, ValidationFailed
from core.models import Skill, User
from telephony import bridge, calls, ivr, routing
from telephony import presence as presence_service
from telephony.controls import (ControlRefused, agent_leg, conference_key, finish, live_call,
                                open_event, record_control, require_agent_or_leader, resume_recording_if_paused,
                                twilio_step)
from telephony.gateway import GatewayError, get_gateway
from telephony.models import TERMINAL_STATUSES, Call, QueueEntry
from telephony.models.controls import CallControlEvent
from telephony.offers import lock_entry
from telephony.presence import AVAILABLE, OFFERED, ON_CALL, ROUTER, WRAP_UP, lock_presence, move
from telephony.priority import routing_settings
from tickets import escalation
from tickets import service as ticket_service
from tickets import visibility

__all__ = ["escalate_call", "hotline_number", "leg_url", "on_control_leg", "transfer"]

log = logging.getLogger("hotline.telephony.transfers")
RING_SECONDS = 30


def hotline_number(call: Call) -> str:
    """What a leg the hub adds shows as its caller: the hotline's number, never a customer's."""
    dialled = call.to_number if call.leg == "caller" and call.to_number and not call.to_number.startswith("client:") \
        else None
    return get_settings().twilio_caller_id or dialled or "hotline"


def leg_url(control_id: int) -> str:
    return ivr.webhook_url("/twilio/controls/leg", control=control_id)


# Transfer -------------------------------------------------------------------------------------

def transfer(session: Session, *, call_id: int, user: User, to_user_id: int | None = None,
             to_queue: str | None = None, warm: bool = True, source_ip: str | None = None) -> CallControlEvent:
    """Hand the call to a person (warm: they are rung into the call, the agent leaves once they
    join) or to a queue (cold: the call waits again with its original waiting time). A paused
    recording resumes."""
    if (to_user_id is None) == (to_queue is None):
        raise ValidationFailed("Name either the person (to_user_id) or the queue (to_queue) to transfer to.",
                               field="to_user_id")
    call = live_call(session, call_id=call_id, lock=True)
    require_agent_or_leader(session, call, user, doing="transfer it")
    if open_event(session, call_id=call.id, kind="transfer") is not None:
        raise ControlRefused("A transfer of this call is already under way; wait for it to finish.")
    if to_user_id is not None:
        if not warm:
            raise ValidationFailed("A cold transfer goes back to a queue. To hand the caller to a person, "
                                   "transfer warm.", field="warm")
        return _warm_to_user(session, call, user, to_user_id, source_ip)
    if warm:
        raise ValidationFailed("A transfer to a queue is cold: the call waits for the next agent with its "
                               "original waiting time. To stay on until someone takes it, transfer warm to a "
                               "person.", field="warm")
    return _cold_to_queue(session, call, user, to_queue or "", source_ip)


def _warm_to_user(session: Session, call: Call, user: User, to_user_id: int, source_ip: str | None) -> CallControlEvent:
    target = session.get(User, to_user_id)
    if target is None or not target.is_active:
        raise NotFound("There is no such person to transfer to.", field="to_user_id")
    if target.id == call.agent_id:
        raise ControlRefused("The call is already with this person.")
    if not permissions.allowed(target.role, permissions.AGENTS):
        raise ControlRefused(f"{target.display_name} does not take calls; choose an agent or a team leader.")
    lock_entry(session, QueueEntry.call_id == call.id)  # the lock order every writer uses: entry, presence
    presence = lock_presence(session, user_id=target.id)
    if presence.state != AVAILABLE:
        label = presence_service._LABELS.get(presence.state, presence.state)  # noqa: SLF001
        raise ControlRefused(f"{target.display_name} is {label}, not available. Choose someone available, "
                             "or transfer the call to a queue.")
    resume_recording_if_paused(session, call=call, why="transfer")
    event = record_control(session, call=call, kind="transfer", user=user, source_ip=source_ip, state="pending",
                           action="call.transfer_started", target_user_id=target.id, warm=True)
    old = agent_leg(session, call)
    event.handed_over_sid = old.call_sid if old is not None else None
    identity = bridge.agent_identity(target.id)
    sid = twilio_step("ring the person you transfer to", lambda: get_gateway().add_conference_leg(
        conference_key(call), from_=hotline_number(call), to=f"client:{identity}", label=f"transfer-{target.id}",
        status_callback=leg_url(event.id), end_conference_on_exit=True, timeout=RING_SECONDS))
    event.participant_sid = sid
    session.add(Call(call_sid=sid, leg="agent", direction="outbound-api", parent_call_id=call.id, agent_id=target.id,
                     to_number=f"client:{identity}", status="queued", language=call.language, site_id=call.site_id,
                     ticket_id=call.ticket_id, customer_id=call.customer_id))
    # Offered to nobody else while their phone rings for this call.
    move(session, presence, OFFERED, by=ROUTER, reason=f"transfer of call {call.id}")
    session.flush()
    return event


def _cold_to_queue(session: Session, call: Call, user: User, skill_code: str, source_ip: str | None) -> CallControlEvent:
    if session.scalar(select(Skill.id).where(Skill.code == skill_code)) is None:
        raise NotFound(f"There is no queue {skill_code!r}.", field="to_queue")
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
    if entry is None:
        raise ControlRefused("This call never waited in a queue (a callback); transfer it warm to a person.")
    resume_recording_if_paused(session, call=call, why="transfer")
    old = agent_leg(session, call)
    config = ivr.get_config(session)
    twilio_step("move the caller back to the queue", lambda: get_gateway().update_call(
        call.call_sid, twiml=ivr.enqueue_twiml(config, call.language, skill_code=skill_code)))
    routing.requeue(session, call_id=call.id, skill_code=skill_code)
    call.bridged_at, call.conference_name, call.conference_sid = None, None, None
    if old is not None:
        _release_leg(session, call, old)
    event = record_control(session, call=call, kind="transfer", user=user, source_ip=source_ip, state="active",
                           action="call.transfer_started", target=skill_code, warm=False,
                           handed_over_sid=old.call_sid if old else None)
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


# The legs the controls add ------------------------------------------------------------------------

def on_control_leg(session: Session, *, params: Mapping[str, str], control_id: int) -> None:
    """POST /twilio/controls/leg?control=ID: status of a transfer's or a monitor's leg."""
    event = session.get(CallControlEvent, control_id)
    leg = calls.get_by_sid(session, call_sid=params.get("CallSid"))
    calls.log_event(session, kind="control-leg", params=params, call=leg)
    if event is None or (event.participant_sid and event.participant_sid != params.get("CallSid")):
        return
    status = params.get("CallStatus") or ""
    if leg is not None and not calls.advance_status(leg, status, duration=params.get("CallDuration")):
        return
    if event.kind == "transfer":
        _transfer_leg(session, event, leg, status)
    else:
        from telephony import monitoring

        monitoring.on_leg_status(session, event=event, status=status)


def _transfer_leg(session: Session, event: CallControlEvent, leg: Call | None, status: str) -> None:
    call = session.get(Call, event.call_id)
    if call is None:
        return
    if event.state == "pending" and status == "in-progress":
        if call.is_terminal:
            return  # the caller has gone; the hub ends this leg (bridge.caller_ended)
        _hand_over(session, event, call)
    elif event.state == "pending" and status in TERMINAL_STATUSES:
        _transfer_failed(session, event, call, status)
    elif event.state == "done" and status in TERMINAL_STATUSES and leg is not None:
        bridge.agent_leg_status(session, leg=leg, status=status)  # the new agent's leg, as any agent's


def _hand_over(session: Session, event: CallControlEvent, call: Call) -> None:
    """The new person joined: the agent who transferred leaves the conference and goes to
    wrap-up, the call and its ticket are now the new person's."""
    lock_entry(session, QueueEntry.call_id == call.id)
    old_agent_id = call.agent_id
    if old_agent_id is not None:
        old = lock_presence(session, user_id=old_agent_id)
        if old.state == ON_CALL and old.current_call_id == call.id:
            now = clock.now()
            move(session, old, WRAP_UP, by=ROUTER, reason=f"transferred call {call.id}", current_call_id=None,
                 last_call_ended_at=now, wrap_up_until=now + timedelta(seconds=routing_settings(session).wrap_up_seconds))
    new = lock_presence(session, user_id=event.target_user_id or 0)
    if new.state == OFFERED:
        move(session, new, ON_CALL, by=ROUTER, reason=f"call {call.id} transferred", current_call_id=call.id)
    old_leg = session.scalar(select(Call).where(Call.call_sid == event.handed_over_sid)) if event.handed_over_sid \
        else None
    if old_leg is not None:
        _release_leg(session, call, old_leg)
        if old_leg.status not in TERMINAL_STATUSES:
            try:  # the conference must outlive the agent who leaves it
                get_gateway().update_participant(conference_key(call), old_leg.call_sid, end_conference_on_exit=False)
                get_gateway().remove_participant(conference_key(call), old_leg.call_sid)
            except GatewayError as exc:
                log.warning("transfer %s: the previous agent's leg could not be removed: %s", event.id, exc.message)
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
    target = lock_presence(session, user_id=event.target_user_id or 0)
    if target.state == OFFERED and target.current_offer_id is None:
        move(session, target, AVAILABLE, by=ROUTER, reason=f"transfer of call {call.id} not taken")
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
            if presence_service.get_presence(session, user_id=person.id).state == AVAILABLE:
                moved = _warm_to_user(session, call, user, person.id, source_ip)
                break
        event.outcome = "transferring to the new level" if moved else "nobody at that level is available to take the call"
    return event, moved

