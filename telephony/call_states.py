"""The state machine of a call and of each of its legs: Twilio's statuses in their order (as
data), and the one way a status changes, under the call row's lock, so that duplicate,
reordered and concurrent callbacks all end in the same state and a finished call never moves
back. Leg-specific rules (an agent on one live call at most) live in telephony.legs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, object_session

from core import clock
from core.worker import enqueue_named
from telephony.models import CALL_STATUS_RANK, TERMINAL_STATUSES, Call

__all__ = ["ALLOWED_FROM", "LIST_RECORDINGS_AFTER", "LIVE", "RANK", "TERMINAL", "advance", "can_move", "lock",
           "lock_by_id", "lock_by_sid", "row_locked"]

RANK = CALL_STATUS_RANK
TERMINAL = TERMINAL_STATUSES
LIVE = tuple(s for s, r in RANK.items() if r < 4)
# A status is entered only from the statuses before it in Twilio's order: nothing moves
# backwards or sideways, and no terminal status is ever left (they all share the top rank).
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    status: tuple(s for s, r in RANK.items() if r < rank) for status, rank in RANK.items()}
# When a call that may have been recorded (a caller's or a callback customer's, answered) ends,
# Twilio is asked for its recordings this many seconds later, so the recordings' own callbacks
# have usually arrived by then (telephony.reconcile.list_recordings).
LIST_RECORDINGS_AFTER = 5


def can_move(current: str | None, status: str | None) -> bool:
    return bool(status) and status in ALLOWED_FROM and (current or "") in ALLOWED_FROM[status]


def row_locked(query: Select[Any]) -> Select[Any]:
    # FOR NO KEY UPDATE: it does not wait for the KEY SHARE locks that inserting a row that
    # refers to this call (its webhook log line) takes, so two callbacks cannot deadlock.
    # Read again even if the session holds the row (populate_existing): what counts is the row
    # as it is under the lock.
    return query.with_for_update(key_share=True).execution_options(populate_existing=True)


def lock(session: Session, call: Call) -> Call:
    """The call re-read under its row lock (`FOR NO KEY UPDATE`; SQLite's serialised writer holds
    the whole database already). Pending changes are flushed first, so nothing is lost."""
    return session.scalars(row_locked(select(Call).where(Call.id == call.id))).one()


def lock_by_id(session: Session, *, call_id: int) -> Call | None:
    """The call with this id, read under its row lock in one statement (as `lock`): for a step
    that has only its id, one read instead of a look-up and a re-read."""
    return session.scalars(row_locked(select(Call).where(Call.id == call_id))).one_or_none()


def lock_by_sid(session: Session, *, call_sid: str | None) -> Call | None:
    """The call with this CallSid, found and locked in one statement (as `lock`): for a
    callback that is about to change it, one read instead of a look-up and a re-read."""
    if not call_sid:
        return None
    return session.scalars(row_locked(select(Call).where(Call.call_sid == call_sid))).one_or_none()


def advance(session: Session | None, call: Call, status: str | None, *, duration: str | int | None = None,
            locked: bool = False) -> bool:
    """Move the call to `status` if Twilio's order allows it; returns whether it changed. Read
    again under the row lock, so two callbacks racing cannot each write half of a transition;
    `locked` says the caller read `call` under its lock in this transaction already (`lock`,
    `lock_by_sid`), so what it holds is the row as it is."""
    if not can_move(call.status, status):
        return False  # statuses only move forward: a stale read saying "already past" is right
    session = session or object_session(call)
    if session is not None and call.id is not None and not locked:
        call = lock(session, call)
        if not can_move(call.status, status):
            return False
    assert status is not None
    now = clock.now()
    call.status = status
    if status == "in-progress" and call.answered_at is None:
        call.answered_at = now
    if status in TERMINAL:
        call.ended_at = call.ended_at or now
        if duration is not None and str(duration).isdigit():
            call.duration_seconds = int(duration)
        elif call.answered_at is not None:
            call.duration_seconds = max(0, int((now - call.answered_at).total_seconds()))
        if status == "completed" and call.leg != "agent" and session is not None and call.id is not None:
            # The hub learns of a recording from its callbacks; when all of them are lost,
            # only Twilio's list of the call's recordings tells (the sweep lists when this is lost).
            enqueue_named(session, "telephony.list_recordings", call.id, countdown=LIST_RECORDINGS_AFTER)
    return True
