"""Where each of an agent's callbacks stands, step by step, for their desktop: dialling, the
customer's phone ringing, answered (and the agent's own phone ringing), connected, ended, or no
answer / busy / voicemail with the next attempt's time. Read-only; callbacks.py owns the states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.config import get_settings
from telephony.models import Call
from telephony.models.controls import CallbackAttempt

__all__ = ["Progress", "progress_of"]

AGENT_RINGING = ("queued", "initiated", "ringing")


@dataclass(frozen=True)
class Progress:
    ticket_id: int
    step: str  # queued, dialling, ringing, your_phone, connected, ended, no_answer, busy, voicemail, failed, refused
    number: int  # the attempt this step belongs to
    of: int  # attempts allowed
    next_at: datetime | None  # when the next attempt is dialled, if one is scheduled


def _step(session: Session, attempt: CallbackAttempt) -> str:
    if attempt.state != "answered":
        return attempt.state
    if attempt.ended_at is not None:
        return "ended"
    leg = session.scalar(select(Call).where(Call.parent_call_id == attempt.call_id, Call.leg == "agent")
                         .order_by(Call.id.desc()).limit(1)) if attempt.call_id else None
    if leg is not None and leg.status == "in-progress":
        return "connected"
    return "your_phone"  # the customer picked up; the agent's phone is (about to be) ringing


def progress_of(session: Session, *, agent_id: int, within: timedelta = timedelta(hours=12)) -> dict[int, Progress]:
    """The latest step of each of the agent's callbacks asked for within `within`, by ticket."""
    attempts = list(session.scalars(
        select(CallbackAttempt).where(CallbackAttempt.agent_id == agent_id,
                                      CallbackAttempt.created_at > clock.now() - within)
        .order_by(CallbackAttempt.ticket_id, CallbackAttempt.id)))
    by_ticket: dict[int, list[CallbackAttempt]] = {}
    for attempt in attempts:
        by_ticket.setdefault(attempt.ticket_id, []).append(attempt)
    limit = get_settings().callback_max_attempts
    found = {}
    for ticket_id, series in by_ticket.items():
        last = series[-1]
        if last.state == "queued" and len(series) > 1:
            # The next attempt is waiting for its time: show how the last one ended, and when.
            before = series[-2]
            found[ticket_id] = Progress(ticket_id, before.state, before.number, limit, last.due_at)
        else:
            found[ticket_id] = Progress(ticket_id, _step(session, last), last.number, limit, None)
    return found
