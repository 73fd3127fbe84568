"""Every read QA makes of telephony's and tickets' data, in one module: recording and call facts,
ticket facts, listening (telephony audits it), and the set of recordings sampling draws from.
Where the owning package has no service function for a need, the query is here, one function
per need, reading their tables directly (see NOTES for the lead in docs/qa-scoring.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from core.models import Team, User
from telephony import recordings as telephony_recordings
from telephony.models import Call, Recording
from tickets import service as ticket_service
from tickets.models.customers import CareFollowUp
from tickets.models.tickets import Ticket

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
    """Who took the recorded call, and where they work (telephony has no such lookup yet)."""
    row = session.execute(
        select(Recording.id, Recording.kind, Recording.status, Recording.duration_seconds, Recording.ticket_id,
               Call.id.label("call_id"), Call.leg, Call.agent_id, Call.ticket_id.label("call_ticket_id"),
               Call.started_at, User.team_id, func.coalesce(Team.site_id, User.site_id).label("site_id"))
        .select_from(Recording).outerjoin(Call, Call.id == Recording.call_id)
        .outerjoin(User, User.id == Call.agent_id).outerjoin(Team, Team.id == User.team_id)
        .where(Recording.id == recording_id)).first()
    if row is None:
        return None
    evaluable = row.kind == "call" and row.status == "completed" and row.agent_id is not None
    return RecordingFacts(recording_id=row.id, call_id=row.call_id, ticket_id=row.ticket_id or row.call_ticket_id,
                          agent_id=row.agent_id, agent_team_id=row.team_id, agent_site_id=row.site_id,
                          started_at=row.started_at, duration_seconds=row.duration_seconds, evaluable=evaluable)


def call_facts(session: Session, *, call_id: int | None) -> dict[str, Any] | None:
    """The call's facts for the player: no phone number, nor the customer's tier or identity."""
    call = session.get(Call, call_id) if call_id else None
    if call is None:
        return None

    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {"id": call.id, "direction": call.direction, "status": call.status, "started_at": at(call.started_at),
            "answered_at": at(call.answered_at), "ended_at": at(call.ended_at),
            "duration_seconds": call.duration_seconds, "language": call.language, "menu_choice": call.menu_choice,
            "skill_code": call.skill_code, "category": call.category, "agent_id": call.agent_id}


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
           audit_listen: bool = True) -> Recording:
    """Telephony's serving check and its audited listen (QA checks its narrower rule first)."""
    return telephony_recordings.get_for_listening(session, recording_id=recording_id, user=user, source_ip=source_ip,
                                                  audit_listen=audit_listen)


def sampling_candidates(*, agents: Sequence[int] | Any, start: datetime, end: datetime,
                        min_seconds: int) -> Select[Any]:
    """Completed call recordings answered by `agents` (ids, or a subquery of ids) in [start, end)
    and longer than `min_seconds`, with the ticket facts targeted sampling needs (complaint,
    escalated, the satisfaction follow-up's result), as one set-based query."""
    ticket_id = func.coalesce(Recording.ticket_id, Call.ticket_id)
    agent_filter = Call.agent_id.in_(list(agents) if isinstance(agents, (list, tuple)) else agents)
    return (
        select(Recording.id.label("recording_id"), Call.id.label("call_id"), Call.agent_id.label("agent_id"),
               Call.started_at.label("started_at"), Recording.duration_seconds.label("duration"),
               case((Ticket.category == "complaint", 1), else_=0).label("complaint"),
               case((or_(Ticket.escalation_level > 0, Ticket.status == "escalated"), 1), else_=0).label("escalated"),
               CareFollowUp.satisfaction.label("satisfaction"))
        .select_from(Call)
        .join(Recording, Recording.call_id == Call.id)
        .outerjoin(Ticket, Ticket.id == ticket_id)
        # At most one satisfaction follow-up per ticket (unique ticket and kind): a plain join.
        .outerjoin(CareFollowUp, and_(CareFollowUp.ticket_id == Ticket.id, CareFollowUp.kind == "satisfaction"))
        .where(agent_filter, Call.leg == "caller", Call.started_at >= start, Call.started_at < end,
               Recording.kind == "call", Recording.status == "completed", Recording.duration_seconds > min_seconds)
    )
