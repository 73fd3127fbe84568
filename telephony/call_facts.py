"""Read-only facts about calls and recordings for the packages above telephony (QA, reports): who
took a recorded call and when, a call's codes and handle time (hold included, and shown apart)
for the player, and the recordings a sample is drawn from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core import clock
from telephony.models import Call, Recording

__all__ = ["HandleTime", "RecordingFacts", "call_facts", "evaluable_recordings", "handle_times", "recording_facts"]


@dataclass(frozen=True)
class RecordingFacts:
    recording_id: int
    call_id: int | None
    ticket_id: int | None
    agent_id: int | None
    started_at: datetime | None
    duration_seconds: int | None
    evaluable: bool  # a completed call recording answered by an agent (as evaluable_recordings)


def recording_facts(session: Session, *, recording_id: int) -> RecordingFacts | None:
    """Which call a recording is of, who answered it and when; None for no such recording."""
    row = session.execute(
        select(Recording.id, Recording.kind, Recording.status, Recording.duration_seconds, Recording.ticket_id,
               Call.id.label("call_id"), Call.agent_id, Call.ticket_id.label("call_ticket_id"), Call.started_at)
        .select_from(Recording).outerjoin(Call, Call.id == Recording.call_id)
        .where(Recording.id == recording_id)).first()
    if row is None:
        return None
    evaluable = row.kind == "call" and row.status == "completed" and row.agent_id is not None
    return RecordingFacts(recording_id=row.id, call_id=row.call_id, ticket_id=row.ticket_id or row.call_ticket_id,
                          agent_id=row.agent_id, started_at=row.started_at, duration_seconds=row.duration_seconds,
                          evaluable=evaluable)


def call_facts(session: Session, *, call_id: int | None) -> dict[str, Any] | None:
    """The call's facts for the player: no phone number, nor the customer's tier or identity."""
    call = session.get(Call, call_id) if call_id else None
    if call is None:
        return None

    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    times = handle_times(session, call_ids=[call.id]).get(call.id)
    return {"id": call.id, "direction": call.direction, "status": call.status, "started_at": at(call.started_at),
            "answered_at": at(call.answered_at), "ended_at": at(call.ended_at),
            "duration_seconds": call.duration_seconds, "language": call.language, "menu_choice": call.menu_choice,
            "skill_code": call.skill_code, "category": call.category, "agent_id": call.agent_id,
            "handle_seconds": times.handle_seconds if times else None,
            "hold_seconds": times.hold_seconds if times else 0,
            "talk_seconds": times.talk_seconds if times else None}


@dataclass(frozen=True)
class HandleTime:
    """A connected call's handle time: from the caller meeting an agent to the end (or now, for a
    live call). Time on hold is part of it; talk is the rest."""

    call_id: int
    handle_seconds: int
    hold_seconds: int

    @property
    def talk_seconds(self) -> int:
        return max(0, self.handle_seconds - self.hold_seconds)


def handle_times(session: Session, *, call_ids: Sequence[int]) -> dict[int, HandleTime]:
    """Handle, hold and talk seconds per connected call (calls never connected to an agent are
    absent), in two reads whatever the number of calls: for QA's player and for reports."""
    from telephony.controls import hold_totals

    if not call_ids:
        return {}
    now = clock.now()
    rows = session.execute(select(Call.id, Call.bridged_at, Call.answered_at, Call.ended_at)
                           .where(Call.id.in_(list(call_ids)), Call.agent_id.is_not(None)))
    holds = hold_totals(session, call_ids=call_ids, now=now)
    found: dict[int, HandleTime] = {}
    for call_id, bridged_at, answered_at, ended_at in rows:
        start = bridged_at or answered_at
        if start is None:
            continue
        handle = max(0, int(((ended_at or now) - start).total_seconds()))
        found[call_id] = HandleTime(call_id=call_id, handle_seconds=handle,
                                    hold_seconds=min(holds.get(call_id, 0), handle))
    return found


def evaluable_recordings(*, agents: Sequence[int] | Any, start: datetime, end: datetime,
                         min_seconds: int) -> Select[int, int, int | None, datetime, int | None, int]:
    """Completed call recordings of the caller's leg answered by `agents` (ids, or a subquery of
    ids) in [start, end) and longer than `min_seconds`: (recording_id, call_id, agent_id,
    started_at, duration, ticket_id), a selectable to compose into one set-based statement."""
    agent_filter = Call.agent_id.in_(list(agents) if isinstance(agents, (list, tuple)) else agents)
    return (
        select(Recording.id.label("recording_id"), Call.id.label("call_id"), Call.agent_id.label("agent_id"),
               Call.started_at.label("started_at"), Recording.duration_seconds.label("duration"),
               func.coalesce(Recording.ticket_id, Call.ticket_id).label("ticket_id"))
        .select_from(Call)
        .join(Recording, Recording.call_id == Call.id)
        .where(agent_filter, Call.leg == "caller", Call.started_at >= start, Call.started_at < end,
               Recording.kind == "call", Recording.status == "completed", Recording.duration_seconds > min_seconds)
    )
