"""The call and leg state machine (telephony.call_states): duplicate, reordered and concurrent
status callbacks all end in the same state, and a finished call never moves back."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import select

from core.db import session_scope, write_locked
from telephony import bridge, call_states
from telephony.models import Call, CallEvent
from tests.factories import fresh
from tests.telephony.hub import new_call_sid


def _caller(session, sid: str) -> int:
    call = Call(call_sid=sid, leg="caller", status="queued")
    session.add(call)
    session.commit()
    return call.id


def _status(sid: str, status: str, **extra: str) -> None:
    with session_scope() as own:
        write_locked(own)
        bridge.on_status(own, params={"CallSid": sid, "CallStatus": status, **extra})


def test_concurrent_ringing_answered_completed_bursts_end_completed(session, settings) -> None:
    """Issue 14, item 3: ringing, in-progress and completed for one CallSid at the same instant,
    twice each. With a read-modify-write, a burst could end `in-progress` with `ended_at` set."""
    bursts = 25
    sids = [new_call_sid() for _ in range(bursts)]
    for sid in sids:
        _caller(session, sid)
    errors: list[BaseException] = []
    for sid in sids:
        statuses = ["ringing", "in-progress", "completed"] * 2
        barrier = threading.Barrier(len(statuses))

        def deliver(status: str, sid: str = sid, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(timeout=10)
                _status(sid, status, CallDuration="7" if status == "completed" else "")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=deliver, args=(s,)) for s in statuses]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    fresh(session)
    rows = session.execute(select(Call.status, Call.ended_at, Call.duration_seconds)
                           .where(Call.call_sid.in_(sids))).all()
    assert len(rows) == bursts
    assert all(r.status == "completed" and r.ended_at is not None and r.duration_seconds == 7 for r in rows), rows


@pytest.mark.parametrize("order", list(itertools.permutations(["ringing", "in-progress", "completed"])))
def test_any_order_and_duplicates_end_in_the_same_state(session, settings, order) -> None:
    sid = new_call_sid()
    call_id = _caller(session, sid)
    for status in [*order, *order]:
        _status(sid, status, CallDuration="12" if status == "completed" else "")
    call = fresh(session).get(Call, call_id)
    assert call.status == "completed" and call.ended_at is not None and call.duration_seconds == 12


def test_terminal_never_goes_back(session, settings) -> None:
    sid = new_call_sid()
    call_id = _caller(session, sid)
    _status(sid, "busy")
    for status in ("ringing", "in-progress", "completed", "queued"):
        _status(sid, status)
    call = fresh(session).get(Call, call_id)
    assert call.status == "busy"


def test_transitions_are_data() -> None:
    # Every status may be entered only from the statuses before it in Twilio's order.
    assert "completed" not in call_states.ALLOWED_FROM["in-progress"]
    assert call_states.ALLOWED_FROM["queued"] == ()
    assert all(t not in call_states.ALLOWED_FROM[s] for t in call_states.TERMINAL for s in call_states.ALLOWED_FROM)


def test_each_status_callback_is_logged_for_its_call_and_only_moves_forward(session, settings) -> None:
    """A status that changes nothing but the status (initiated, ringing) is applied in the
    callback's first statement on PostgreSQL: forward only, logged against the call either way,
    and an unknown CallSid writes nothing."""
    sid = new_call_sid()
    call_id = _caller(session, sid)
    for status in ("ringing", "initiated", "in-progress", "ringing", "queued"):
        _status(sid, status)
        current = fresh(session).get(Call, call_id)
        assert current.status == ("ringing" if status in ("ringing", "initiated") and current.answered_at is None
                                  else "in-progress"), (status, current.status)
    assert current.updated_at is not None and current.answered_at is not None and current.ended_at is None
    logged = session.execute(select(CallEvent.call_id, CallEvent.status).where(CallEvent.call_sid == sid)
                             .order_by(CallEvent.id)).all()
    assert logged == [(call_id, s) for s in ("ringing", "initiated", "in-progress", "ringing", "queued")]
    unknown = new_call_sid()
    _status(unknown, "ringing")
    assert session.scalar(select(CallEvent.id).where(CallEvent.call_sid == unknown)) is None
