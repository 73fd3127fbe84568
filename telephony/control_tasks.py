"""Celery tasks of the in-call controls and callbacks, thin and idempotent: the paced dialler of
callback attempts (a nudge after each request, and a sweep every second that dials what is due
as the token bucket allows), ringing a callback's agent, and taking the agent who handed a call
over out of its conference; a sweep closes controls left open on
calls that ended, another tells agents of warm transfers to a queue nobody has taken. Workers
load this module through hotline.worker.TASK_MODULES."""

from __future__ import annotations

from core.db import session_scope, write_locked
from core.worker import idempotent_task, register_sweep
from telephony import callbacks, carrier_effects, controls, transfers
from telephony.gateway import GatewayError

# At Twilio's 1 call per second, a pass dials at most this many before the next sweep.
DIALS_PER_PASS = 5


def dial_due() -> int:
    """Dial due attempts while the bucket has tokens; each dial is its own unit of work."""
    dialled = 0
    for _ in range(DIALS_PER_PASS):
        with session_scope() as session:
            write_locked(session)
            result = callbacks.dial_next(session)
        if result != "dialled":
            break
        dialled += 1
    return dialled


@idempotent_task(name="telephony.callback_dial")
def callback_dial_task() -> int:
    return dial_due()


@idempotent_task(name="telephony.callback_connect_agent", autoretry_for=(GatewayError,), retry_backoff=True,
                 max_retries=3)
def callback_connect_agent_task(attempt_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        callbacks.connect_agent(session, attempt_id=attempt_id)


@idempotent_task(name="telephony.leave_conference", autoretry_for=(GatewayError,), retry_backoff=True,
                 max_retries=3)
def leave_conference_task(call_id: int, leg_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        carrier_effects.leave_conference(session, call_id=call_id, leg_id=leg_id)


@idempotent_task(name="telephony.callback_agent_missed")
def callback_agent_missed_task(call_id: int) -> None:
    with session_scope() as session:
        write_locked(session)
        callbacks.tell_agent_missed(session, call_id=call_id)


@register_sweep("telephony.callback_sweep", every_seconds=1)
def callback_sweep() -> int:
    return dial_due()


@register_sweep("telephony.transfer_sweep", every_seconds=5)
def transfer_sweep() -> int:
    """Tell agents whose warm transfer to a queue nobody has taken in time."""
    with session_scope() as session:
        write_locked(session)
        return transfers.remind_unanswered_transfers(session)


@register_sweep("telephony.controls_sweep", every_seconds=60)
def controls_sweep() -> int:
    """Close controls left open on calls that ended, and count failed the callback dials whose
    worker died before Twilio answered."""
    with session_scope() as session:
        write_locked(session)
        return controls.close_finished_calls(session) + callbacks.close_lapsed_dials(session)
