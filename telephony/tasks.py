"""Telephony's Celery tasks, thin and idempotent, keyed by ids: ringing an agent, connecting a
caller, ending a leg, copying a recording, sending queued SMS; and the sweeps that redo what
a lost task or a lost webhook left undone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.config import get_settings
from core.db import session_scope, write_locked
from core.worker import idempotent_task, register_sweep
from telephony import carrier_effects, reconcile, recordings, routing, spool
from telephony.gateway import GatewayError, get_gateway

log = logging.getLogger("hotline.telephony.tasks")


@idempotent_task(name="telephony.ring_agent")
def ring_agent_task(offer_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        carrier_effects.ring_agent(session, offer_id=offer_id)


@idempotent_task(name="telephony.connect_caller", autoretry_for=(GatewayError,), retry_backoff=True, max_retries=5)
def connect_caller_task(call_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        carrier_effects.connect_caller(session, call_id=call_id)


@idempotent_task(name="telephony.end_leg")
def end_leg_task(leg_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        carrier_effects.end_leg(session, leg_id=leg_id)


@idempotent_task(name="telephony.end_offer_legs")
def end_offer_legs_task(offer_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        carrier_effects.end_offer_legs(session, offer_id=offer_id)


@idempotent_task(name="telephony.rescue_if_alone")
def rescue_if_alone_task(call_id: int) -> int:
    """A few seconds after the agent's leg ended, or after the caller was moved in to the agent:
    a caller not heard of since the leg ended (the conference's end reached nobody) is alone in a
    conference; ask Twilio and send them back to the queue, or goodbye. An agent whose leg the hub
    still has live is asked about first (its `completed` may have been lost). The repair sweep
    does the same for any call, a little later."""
    return _rescue_alone(call_id)


def _rescue_alone(call_id: int | None = None) -> int:
    """Callers left alone in a conference (one call, or every one): confirm the agent of each
    caller moved in a few seconds ago whom nobody has confirmed since (applying an end Twilio
    reports), then rescue every caller whose agent's leg has ended with no word of the caller
    since. Returns how many legs were found ended and callers rescued."""
    with session_scope(reader=True) as session:
        unconfirmed = reconcile.unconfirmed_joins(session, call_id=call_id, after=reconcile.ALONE_GRACE)
        # Nobody to ask about (the usual case): the same look goes on, with no session of its own.
        alone = (set() if unconfirmed else
                 set(reconcile.stranded_callers(session, call_id=call_id, grace=reconcile.ALONE_GRACE)))
    if unconfirmed:
        ended = [caller_id for caller_id in unconfirmed if _agent_gone(caller_id)]
        with session_scope(reader=True) as session:
            alone = set(reconcile.stranded_callers(session, call_id=call_id, grace=reconcile.ALONE_GRACE))
            # An end learnt just now from Twilio happened a while ago (the leg was silent since).
            alone.update(i for i in ended if reconcile.stranded_callers(session, call_id=i, grace=timedelta(0)))
    else:
        ended = []
    rescued = 0
    for caller_id in sorted(alone):
        rescued += _asked("rescue caller", caller_id, lambda s, i: reconcile.call_to_check(s, call_id=i),
                          reconcile.ask_stranded,
                          lambda s, i, a: reconcile.apply_stranded_answer(s, call_id=i, answer=a))
    return len(ended) + rescued


def _agent_gone(caller_id: int) -> bool:
    """Ask Twilio about the agent's leg of a caller just moved in (no transaction open), and
    apply what it says as the leg's callback would have. Whether that leg has ended."""
    try:
        with session_scope(reader=True) as session:
            question = reconcile.agent_to_confirm(session, call_id=caller_id)
        if question is None:
            return False
        leg_id, leg_sid = question
        answer = reconcile.ask_call(leg_sid)
        with session_scope() as session:
            write_locked(session)
            return reconcile.apply_agent_answer(session, leg_id=leg_id, answer=answer)
    except Exception:  # noqa: BLE001 - the others still run; this one is asked again next sweep
        log.exception("could not confirm the agent of caller %s", caller_id)
        return False


@idempotent_task(name="telephony.list_recordings")
def list_recordings_task(call_id: int) -> int:
    """A few seconds after a call ended: ask Twilio for its recordings and register any the hub
    never heard of (all its callbacks lost). The reconcile sweep does it when this is lost."""
    return _list_recordings(call_id)


def _list_recordings(call_id: int) -> int:
    return _asked("list the recordings of call", call_id, lambda s, i: reconcile.recordings_to_list(s, call_id=i),
                  lambda _i, sid: reconcile.ask_recordings(sid),
                  lambda s, i, a: reconcile.apply_recordings_answer(s, call_id=i, answer=a))


@idempotent_task(name="telephony.copy_recording")
def copy_recording_task(recording_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        recordings.copy_recording(session, recording_id=recording_id)


# Sweeps ---------------------------------------------------------------------------------------

@register_sweep("telephony.routing_sweep", every_seconds=5)
def routing_sweep() -> None:
    """Expire unanswered offers, end wrap-ups and offer waiting calls (the router's own pass).
    First, while an agent is free, ask Twilio about each caller at the head of the queue who
    has been silent too long to be offered (no transaction open): one who hung up unheard is
    ended, one still there is offered in the pass that follows."""
    with session_scope(reader=True) as session:
        silent = routing.silent_in_queue(session)
    for call_id in silent:
        _asked("check queued caller", call_id, lambda s, i: reconcile.call_to_check(s, call_id=i),
               lambda _i, sid: reconcile.ask_call(sid),
               lambda s, i, a: reconcile.apply_queued_answer(s, call_id=i, answer=a))
    with session_scope() as session:
        write_locked(session)
        routing.sweep(session)


@register_sweep("telephony.recordings_sweep", every_seconds=15)
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


@register_sweep("telephony.reconcile_calls", every_seconds=15)
def reconcile_sweep(now: datetime | None = None) -> int:
    """Ask Twilio about calls, legs and recordings silent for longer than their
    state allows, and apply what it says (telephony.reconcile); list the recordings of calls
    ended recently that nobody has listed (the listing their end asked for was lost or refused),
    registering those the hub never heard of. Returns how many changed.
    Twilio is never asked inside a transaction (on SQLite a write transaction blocks every
    writer for as long as Twilio takes): read what to ask, ask, then apply each answer in a
    short transaction of its own, under the state machine (an answer overtaken by a callback
    meanwhile moves nothing backwards).
    (The demo passes a `now` far ahead on start: every call a stopped run left is asked about.)"""
    with session_scope(reader=True) as session:
        silent = reconcile.silent_calls(session, now=now)
        quiet_recordings = reconcile.silent_recordings(session, now=now)
        unlisted = reconcile.unlisted_calls(session)  # by the clock: its window is the last day
    fixed = 0
    for call_id in silent:
        fixed += _asked("reconcile call", call_id, lambda s, i: reconcile.call_to_check(s, call_id=i),
                        lambda _i, sid: reconcile.ask_call(sid),
                        lambda s, i, a: reconcile.apply_call_answer(s, call_id=i, answer=a))
    for recording_id in quiet_recordings:
        fixed += _asked("reconcile recording", recording_id,
                        lambda s, i: reconcile.recording_to_check(s, recording_id=i),
                        lambda _i, sid: reconcile.ask_recording(sid),
                        lambda s, i, a: reconcile.apply_recording_answer(s, recording_id=i, answer=a))
    for call_id in unlisted:
        fixed += _list_recordings(call_id)
    return fixed


def _asked(what: str, key: int, read: Callable[[Session, int], str | None], ask: Callable[[int, str], Any],
           apply: Callable[[Session, int, Any], bool]) -> int:
    """One check at Twilio in three steps: read what to ask (a reader, closed at once), ask with
    no transaction open, apply the answer in a write transaction of its own. One that fails is
    logged and asked again next sweep."""
    try:
        with session_scope(reader=True) as session:
            question = read(session, key)
        if question is None:
            return 0
        answer = ask(key, question)
        with session_scope() as session:
            write_locked(session)
            return int(bool(apply(session, key, answer)))
    except Exception:  # noqa: BLE001 - the others still run; this one is asked again next sweep
        log.exception("sweep could not %s %s", what, key)
        return 0


@register_sweep("telephony.repair_sweep", every_seconds=10)
def repair_sweep() -> int:
    """Redo what a lost task left undone (its worker killed, its message lost): ring the agent
    of a live offer, move an answered call's caller in, end a leg that should have ended; each
    once its task is late and no worker holds its claim (telephony.carrier_effects: each asks
    Twilio with no transaction open).
    Recordings are copied by recordings_sweep, callbacks dialled by callback_sweep. A caller
    left alone in a conference, whose check (rescue_if_alone) was lost, is rescued here too."""
    with session_scope(reader=True) as session:
        rings = carrier_effects.lost_rings(session)
        connects = carrier_effects.lost_connects(session)
        ends = carrier_effects.lost_leg_ends(session)
    repaired = 0
    for offer_id in rings:
        repaired += _each("ring agent", offer_id,
                          lambda s, i: carrier_effects.ring_agent(s, offer_id=i) is not None)
    for call_id in connects:
        repaired += _each("connect caller", call_id, lambda s, i: carrier_effects.connect_caller(s, call_id=i))
    for leg_id in ends:
        repaired += _each("end leg", leg_id, lambda s, i: carrier_effects.end_leg(s, leg_id=i))
    return repaired + _rescue_alone()


def _each(what: str, key: int, work: Callable[[Session, int], object]) -> int:
    """One repair in a session of its own: one that fails is logged and retried next sweep."""
    try:
        with session_scope() as session:
            write_locked(session)
            return int(bool(work(session, key)))
    except Exception:  # noqa: BLE001 - the others still run; this one is retried next sweep
        log.exception("sweep could not %s %s", what, key)
        return 0


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
