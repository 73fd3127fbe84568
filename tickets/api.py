"""The tickets JSON API under /api/v1: list and search, get, create, PATCH with version, transitions,
notes, escalation, timeline, complaint replies and analysis, and the caller's notifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime

from core.auth import AgentUser, CurrentUser, DbSession, TeamLeaderUser
from core.crypto import InvalidPhoneNumber, phone_index
from core.errors import ValidationFailed
from tickets import complaints, escalation, search, service, sla
from tickets.models.tickets import Ticket
from tickets.schemas import (
    ComplaintReplyIn,
    EscalateIn,
    HandOverIn,
    NoteCreate,
    NotePublic,
    NotificationList,
    NotificationPublic,
    PhoneFollowUpIn,
    SlaState,
    Sort,
    TicketCreate,
    TicketList,
    TicketPublic,
    TicketSummary,
    TicketUpdate,
    Timeline,
    TimelineEventPublic,
    TransitionIn,
)
from tickets.workflow import Category, Priority, Status

router = APIRouter(prefix="/api/v1", tags=["tickets"])


def _summary(ticket: Ticket) -> TicketSummary:
    out = TicketSummary.model_validate(ticket)
    out.sla_state = sla.live_state(ticket)  # type: ignore[assignment]
    return out


def _public(session: DbSession, ticket: Ticket) -> TicketPublic:
    out = TicketPublic.model_validate(ticket)
    out.sla_state = sla.live_state(ticket)  # type: ignore[assignment]
    out.tags = service.tags_of(session, ticket_id=ticket.id)
    out.calls = service.calls_of(session, ticket_id=ticket.id)  # type: ignore[assignment]
    out.recordings = service.recordings_of(session, ticket_id=ticket.id)  # type: ignore[assignment]
    return out


@router.get("/tickets", response_model=TicketList)
def list_tickets(
    session: DbSession,
    user: CurrentUser,
    number: str | None = None,
    phone: Annotated[str | None, Query(max_length=40, description="Matched by blind index, never stored.")] = None,
    customer_id: int | None = None,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    category: Annotated[list[Category] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    team_id: int | None = None,
    site_id: int | None = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    created_from: AwareDatetime | None = None,
    created_to: AwareDatetime | None = None,
    sla_state: SlaState | None = None,
    sort: Sort = "newest",
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = 50,
    cursor: str | None = None,
    offset: Annotated[int | None, Query(ge=0)] = None,
) -> TicketList:
    page = search.search(
        session, viewer=user, number=number, phone=phone, customer_id=customer_id,
        status=[s.value for s in status_] if status_ else None,
        category=[c.value for c in category] if category else None,
        priority=[p.value for p in priority] if priority else None, assignee_id=assignee_id, unassigned=unassigned,
        team_id=team_id, site_id=site_id, tag=tag, created_from=created_from, created_to=created_to,
        sla_state=sla_state, sort=sort, limit=limit, cursor=cursor, offset=offset,
    )
    return TicketList(data=[_summary(t) for t in page.items], count=page.count, count_capped=page.count_capped,
                      next_cursor=page.next_cursor)


@router.post("/tickets", response_model=TicketPublic, status_code=status.HTTP_201_CREATED)
def create_ticket(session: DbSession, user: AgentUser, body: TicketCreate) -> TicketPublic:
    caller_index = None
    if body.caller_phone:
        try:
            caller_index = phone_index(body.caller_phone)
        except (InvalidPhoneNumber, ValueError):
            raise ValidationFailed([{"loc": ["body", "caller_phone"], "msg": "Not a phone number."}]) from None
    ticket = service.open_ticket(
        session, category=body.category.value, priority=body.priority.value if body.priority else None,
        site_id=body.site_id, by=user, source="api", team_id=body.team_id, assignee_id=body.assignee_id,
        customer_id=body.customer_id, caller_index=caller_index, subject=body.subject, description=body.description,
        language=body.language, tags=body.tags, callback_due_at=body.callback_due_at,
    )
    return _public(session, ticket)


@router.get("/tickets/by-number/{number}", response_model=TicketPublic)
def get_ticket_by_number(session: DbSession, user: CurrentUser, number: str) -> TicketPublic:
    return _public(session, service.get_by_number(session, number=number, user=user))


@router.get("/tickets/{ticket_id}", response_model=TicketPublic)
def get_ticket(session: DbSession, user: CurrentUser, ticket_id: int) -> TicketPublic:
    return _public(session, service.get(session, ticket_id=ticket_id, user=user))


@router.patch("/tickets/{ticket_id}", response_model=TicketPublic)
def update_ticket(session: DbSession, user: AgentUser, ticket_id: int, body: TicketUpdate) -> TicketPublic:
    changes = body.model_dump(exclude_unset=True, exclude={"version"}, mode="python")
    for key in ("priority", "category"):
        if changes.get(key) is not None:
            changes[key] = changes[key].value
    ticket = service.update(session, ticket_id=ticket_id, by=user, version=body.version, changes=changes)
    return _public(session, ticket)


@router.post("/tickets/{ticket_id}/transition", response_model=TicketPublic)
def transition_ticket(session: DbSession, user: AgentUser, ticket_id: int, body: TransitionIn) -> TicketPublic:
    ticket = service.transition(session, ticket_id=ticket_id, by=user, to=body.to.value, version=body.version,
                                resolution=body.resolution, reason=body.reason, cause=body.cause)
    return _public(session, ticket)


@router.post("/tickets/{ticket_id}/escalate", response_model=TicketPublic)
def escalate_ticket(session: DbSession, user: AgentUser, ticket_id: int, body: EscalateIn) -> TicketPublic:
    ticket = escalation.escalate(session, ticket_id=ticket_id, by=user, reason=body.reason, to_level=body.to_level,
                                 urgent=body.urgent, version=body.version)
    return _public(session, ticket)


@router.post("/tickets/{ticket_id}/hand-to-team-leader", response_model=TicketPublic)
def hand_ticket_to_team_leader(session: DbSession, user: AgentUser, ticket_id: int, body: HandOverIn) -> TicketPublic:
    ticket = escalation.hand_to_team_leader(session, ticket_id=ticket_id, by=user, reason=body.reason,
                                            version=body.version)
    return _public(session, ticket)


@router.post("/tickets/{ticket_id}/complaint-reply", response_model=TicketPublic)
def complaint_reply(session: DbSession, user: AgentUser, ticket_id: int, body: ComplaintReplyIn) -> TicketPublic:
    ticket = complaints.record_reply(session, ticket_id=ticket_id, by=user, channel=body.channel, version=body.version)
    return _public(session, ticket)


@router.post("/tickets/{ticket_id}/phone-followup", response_model=TicketPublic)
def phone_followup_done(session: DbSession, user: AgentUser, ticket_id: int, body: PhoneFollowUpIn) -> TicketPublic:
    """The key customer's phone follow-up of a complaint was made."""
    ticket = complaints.record_phone_followup(session, ticket_id=ticket_id, by=user, version=body.version)
    return _public(session, ticket)


@router.get("/tickets/{ticket_id}/notes", response_model=list[NotePublic])
def list_notes(session: DbSession, user: CurrentUser, ticket_id: int) -> list[NotePublic]:
    return [NotePublic.model_validate(n) for n in service.notes(session, ticket_id=ticket_id, user=user)]


@router.post("/tickets/{ticket_id}/notes", response_model=NotePublic, status_code=status.HTTP_201_CREATED)
def add_note(session: DbSession, user: AgentUser, ticket_id: int, body: NoteCreate) -> NotePublic:
    return NotePublic.model_validate(service.add_note(session, ticket_id=ticket_id, by=user, body=body.body))


@router.get("/tickets/{ticket_id}/timeline", response_model=Timeline)
def ticket_timeline(session: DbSession, user: CurrentUser, ticket_id: int) -> Timeline:
    events = service.timeline_for(session, ticket_id=ticket_id, user=user)
    return Timeline(data=[TimelineEventPublic.model_validate(e) for e in events], count=len(events))


@router.get("/complaints/analysis")
def complaint_analysis(session: DbSession, user: TeamLeaderUser,
                       month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-01"])],
                       site_id: int | None = None) -> dict[str, object]:
    return complaints.complaint_analysis(session, site_id=site_id, month=month)


@router.get("/notifications", response_model=NotificationList)
def my_notifications(session: DbSession, user: CurrentUser, unread_only: bool = False,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50) -> NotificationList:
    notes = escalation.notifications_for(session, user.id, unread_only=unread_only, limit=limit)
    return NotificationList(data=[NotificationPublic.model_validate(n) for n in notes], count=len(notes))


@router.post("/notifications/{notification_id}/read", response_model=NotificationPublic)
def read_notification(session: DbSession, user: CurrentUser, notification_id: int) -> NotificationPublic:
    return NotificationPublic.model_validate(escalation.mark_read(session, notification_id=notification_id, user=user))
