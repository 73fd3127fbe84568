"""Every read QA makes of telephony's, tickets' and core's data, in one module, each through the
owning package's service functions: recording and call facts, ticket facts, listening (telephony
audits it), and the set of recordings sampling draws from (composed into one statement)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core import directory
from core.models import User
from telephony import call_facts as telephony_facts
from telephony import recordings as telephony_recordings
from tickets import facts as ticket_facts_service
from tickets import service as ticket_service

__all__ = ["RecordingFacts", "call_facts", "listen", "recording_facts", "sampling_candidates", "ticket_facts"]


@dataclass(frozen=True)
class RecordingFacts:
    recording_id: int
    call_id: int | None
    ticket_id: int | None
    agent_id: int | None
    agent_team_id: int | None
    agent_site_id: int | None
    started_at: datetime | None
    duration_seconds: int | None
    evaluable: bool  # a completed call recording answered by an agent


def recording_facts(session: Session, *, recording_id: int) -> RecordingFacts | None:
    """Who took the recorded call (telephony), and where they work (core)."""
    facts = telephony_facts.recording_facts(session, recording_id=recording_id)
    if facts is None:
        return None
    place = (directory.working_place_of(session, user_id=facts.agent_id) if facts.agent_id is not None
             else directory.Place(None, None))
    return RecordingFacts(recording_id=facts.recording_id, call_id=facts.call_id, ticket_id=facts.ticket_id,
                          agent_id=facts.agent_id, agent_team_id=place.team_id, agent_site_id=place.site_id,
                          started_at=facts.started_at, duration_seconds=facts.duration_seconds,
                          evaluable=facts.evaluable)


def call_facts(session: Session, *, call_id: int | None) -> dict[str, Any] | None:
    """The call's facts for the player: no phone number, nor the customer's tier or identity."""
    return telephony_facts.call_facts(session, call_id=call_id)


def ticket_facts(session: Session, *, ticket_id: int | None) -> dict[str, Any] | None:
    """The ticket's codes and dates (no subject or description: they may hold personal data)."""
    if not ticket_id:
        return None
    try:
        ticket = ticket_service.get(session, ticket_id=ticket_id, user=None)
    except ticket_service.TicketNotFound:
        return None
    return {"id": ticket.id, "number": ticket.number, "category": ticket.category, "priority": ticket.priority,
            "status": ticket.status, "source": ticket.source, "escalation_level": ticket.escalation_level,
            "complaint": ticket.category == "complaint", "complaint_cause": ticket.complaint_cause,
            "created_at": ticket.created_at.isoformat(),
            "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
            "tags": ticket_service.tags_of(session, ticket_id=ticket.id)}


def listen(session: Session, *, recording_id: int, user: User, source_ip: str | None = None,
           audit_listen: bool = True) -> Any:
    """Telephony's serving check and its audited listen (QA checks its narrower rule first)."""
    return telephony_recordings.get_for_listening(session, recording_id=recording_id, user=user, source_ip=source_ip,
                                                  audit_listen=audit_listen)


def sampling_candidates(*, agents: Sequence[int] | Any, start: datetime, end: datetime,
                        min_seconds: int) -> Select[Any]:
    """Completed call recordings answered by `agents` (ids, or a subquery of ids) in [start, end)
    and longer than `min_seconds` (telephony), with the ticket facts targeted sampling needs
    (tickets: complaint, escalated, the satisfaction follow-up's result), as one set-based query."""
    rec = telephony_facts.evaluable_recordings(agents=agents, start=start, end=end,
                                               min_seconds=min_seconds).subquery("rec")
    flags = ticket_facts_service.ticket_flags().subquery("flags")
    satisfaction = ticket_facts_service.satisfaction_results().subquery("satisfaction")
    return (
        select(rec.c.recording_id, rec.c.call_id, rec.c.agent_id, rec.c.started_at, rec.c.duration,
               # A recording without a ticket counts as neither complaint nor escalated.
               func.coalesce(flags.c.complaint, 0).label("complaint"),
               func.coalesce(flags.c.escalated, 0).label("escalated"),
               satisfaction.c.satisfaction)
        .select_from(rec)
        .outerjoin(flags, flags.c.ticket_id == rec.c.ticket_id)
        .outerjoin(satisfaction, satisfaction.c.ticket_id == flags.c.ticket_id)
    )
