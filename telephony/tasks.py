"""Telephony's Celery tasks, thin and idempotent, keyed by ids: ringing an agent, connecting a
caller, ending a leg, copying a recording, sending queued SMS; and the sweeps that redo what
a lost task or a lost webhook left undone."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select

from core import clock
from core.config import get_settings
from core.db import session_scope, write_locked
from core.worker import idempotent_task, register_sweep
from telephony import bridge, recordings, routing, spool
from telephony.gateway import GatewayError, get_gateway
from telephony.models import CALL_STATUS_RANK, Call

log = logging.getLogger("hotline.telephony.tasks")

# A call not heard of for this long is asked about (Twilio's callbacks are not guaranteed).
STUCK_AFTER = timedelta(minutes=30)


@idempotent_task(name="telephony.ring_agent")
def ring_agent_task(offer_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        bridge.ring_agent(session, offer_id=offer_id)


@idempotent_task(name="telephony.connect_caller", autoretry_for=(GatewayError,), retry_backoff=True, max_retries=5)
def connect_caller_task(call_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        bridge.connect_caller(session, call_id=call_id)


@idempotent_task(name="telephony.end_leg")
def end_leg_task(leg_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        bridge.end_leg(session, leg_id=leg_id)


@idempotent_task(name="telephony.copy_recording")
def copy_recording_task(recording_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        recordings.copy_recording(session, recording_id=recording_id)


# Sweeps ---------------------------------------------------------------------------------------

@register_sweep("telephony.routing_sweep", every_seconds=5)
def routing_sweep() -> None:
    """Expire unanswered offers, end wrap-ups and offer waiting calls (the router's own pass)."""
    with session_scope() as session:
        write_locked(session)
        routing.sweep(session)


@register_sweep("telephony.recordings_sweep", every_seconds=60)
def recordings_sweep() -> int:
    with session_scope() as session:
        due = recordings.pending_copies(session)
    for recording_id in due:
        with session_scope() as session:
            write_locked(session)
            recordings.copy_recording(session, recording_id=recording_id)
    return len(due)


@register_sweep("telephony.spool_replay", every_seconds=30)
def spool_replay_sweep() -> int:
    from telephony.webhooks import REPLAY

    return spool.replay(REPLAY)


@register_sweep("telephony.reconcile_calls", every_seconds=300)
def reconcile_sweep(stuck_after: timedelta = STUCK_AFTER) -> int:
    """Ask Twilio about calls that look stuck and apply what it says, as a status callback would.
    (The demo passes `stuck_after=0` on start: every call a stopped run left is settled.)"""
    now = clock.now()
    live = [s for s, rank in CALL_STATUS_RANK.items() if rank < 4]
    with session_scope() as session:
        stuck = list(session.scalars(select(Call.id).where(
            Call.status.in_(live), Call.updated_at <= now - stuck_after,
            or_(Call.last_checked_at.is_(None), Call.last_checked_at <= now - stuck_after)).limit(100)))
    fixed = 0
    for call_id in stuck:
        with session_scope() as session:
            write_locked(session)
            fixed += reconcile_call(session, call_id=call_id)
    return fixed


def reconcile_call(session, *, call_id: int) -> int:  # type: ignore[no-untyped-def]
    call = session.get(Call, call_id)
    if call is None or call.is_terminal:
        return 0
    call.last_checked_at = clock.now()
    try:
        state = get_gateway().fetch_call(call.call_sid)
    except GatewayError as exc:
        if exc.status != 404:
            log.warning("could not reconcile call %s: %s", call_id, exc.message)
            return 0
        status, duration = "failed", None  # Twilio never heard of it
    else:
        status, duration = state.status, state.duration
    params = {"CallSid": call.call_sid, "CallStatus": status, "CallbackSource": "reconcile"}
    if duration is not None:
        params["CallDuration"] = str(duration)
    before = call.status
    bridge.on_status(session, params=params)
    return int(call.status != before)


@register_sweep("telephony.send_sms", every_seconds=30)
def send_sms_sweep() -> int:
    """Send the SMS tickets queued (greetings, tier changes): claim, commit, send, report."""
    from tickets import care

    with session_scope() as session:
        write_locked(session)
        batch = care.next_queued_messages(session, limit=50)
    sender = get_settings().twilio_caller_id or "hotline"
    sent = 0
    for message in batch:
        try:
            sid = get_gateway().send_sms(to=message.to, from_=sender, body=message.body)
        except GatewayError as exc:
            with session_scope() as session:
                write_locked(session)
                # Only a refusal of this message (a bad number, say) is final; an unreachable
                # or overloaded carrier is tried again later.
                final = exc.status is not None and 400 <= exc.status < 500 and exc.status not in (404, 429)
                care.mark_message_failed(session, message_id=message.message_id, error=exc.message,
                                         retry=not final)
            continue
        with session_scope() as session:
            write_locked(session)
            care.mark_message_sent(session, message_id=message.message_id, provider_ref=sid)
        sent += 1
    return sent
