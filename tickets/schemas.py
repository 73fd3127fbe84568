"""Pydantic models at the tickets API edge: TicketCreate / TicketUpdate / TicketSummary / TicketPublic,
transitions, notes, escalation, timeline and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tickets.workflow import Category, Priority, Status

LevelName = Literal["team_leader", "supervisor", "center_head"]
SlaState = Literal["ok", "at_risk", "breached"]
Sort = Literal["newest", "oldest", "due"]

_INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)
_OUTPUT = ConfigDict(from_attributes=True)


class TicketBase(BaseModel):
    model_config = _INPUT

    subject: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    language: str | None = Field(None, max_length=16)
    tags: list[str] = Field(default_factory=list, max_length=20)


class TicketCreate(TicketBase):
    category: Category
    priority: Priority | None = Field(None, description="Default: high for complaints, normal otherwise.")
    site_id: int | None = Field(None, description="Default: the creator's site.")
    team_id: int | None = None
    assignee_id: int | None = None
    customer_id: int | None = None
    caller_phone: str | None = Field(None, max_length=40,
                                     description="Kept only as a blind index, to find the ticket by phone.")
    callback_due_at: AwareDatetime | None = None


class TicketUpdate(BaseModel):
    """Fields to change; `version` is the one you read (a stale version gets 409)."""

    model_config = _INPUT

    version: int = Field(ge=1)
    subject: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    priority: Priority | None = None
    category: Category | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    customer_id: int | None = None
    language: str | None = Field(None, max_length=16)
    tags: list[str] | None = Field(None, max_length=20)
    complaint_cause: str | None = Field(None, max_length=40)
    callback_due_at: AwareDatetime | None = None


class TransitionIn(BaseModel):
    model_config = _INPUT

    to: Status
    version: int | None = Field(None, ge=1)
    resolution: str | None = Field(None, max_length=10_000)
    reason: str | None = Field(None, max_length=2_000)
    cause: str | None = Field(None, max_length=40, description="A complaint's cause, a short code.")


class EscalateIn(BaseModel):
    model_config = _INPUT

    reason: str = Field(min_length=1, max_length=2_000)
    to_level: LevelName | None = Field(None, description="Default: one level up. Skipping levels needs urgent.")
    urgent: bool = False
    version: int | None = Field(None, ge=1)


class HandOverIn(BaseModel):
    model_config = _INPUT

    reason: str = Field(min_length=1, max_length=2_000)
    version: int | None = Field(None, ge=1)


class PhoneFollowUpIn(BaseModel):
    model_config = _INPUT

    version: int | None = Field(None, ge=1)


class ComplaintReplyIn(BaseModel):
    model_config = _INPUT

    channel: Literal["phone", "sms", "email", "letter", "in_person"] = "phone"
    version: int | None = Field(None, ge=1)


class NoteCreate(BaseModel):
    model_config = _INPUT

    body: str = Field(min_length=1, max_length=10_000)


class NotePublic(BaseModel):
    model_config = _OUTPUT

    id: int
    ticket_id: int
    author_id: int | None
    body: str
    created_at: datetime


class CallRef(BaseModel):
    model_config = _OUTPUT

    call_sid: str
    direction: str
    created_at: datetime


class RecordingRef(BaseModel):
    model_config = _OUTPUT

    recording_ref: str
    kind: str
    call_sid: str | None
    created_at: datetime


class TicketSummary(BaseModel):
    model_config = _OUTPUT

    id: int
    number: str
    category: Category
    priority: Priority
    status: Status
    source: str
    site_id: int
    team_id: int | None
    assignee_id: int | None
    customer_id: int | None
    subject: str | None
    escalation_level: int
    sla_state: SlaState
    sla_target: str | None
    sla_due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class TicketPublic(TicketSummary):
    description: str | None
    resolution: str | None
    tier: str | None
    language: str | None
    complaint_cause: str | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    resolution_due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    callback_due_at: datetime | None
    reply_due_at: datetime | None
    replied_at: datetime | None
    phone_followup_due_at: datetime | None
    phone_followup_done_at: datetime | None = None
    reply_overdue_at: datetime | None = None
    phone_followup_overdue_at: datetime | None = None
    satisfaction_followup_due_at: datetime | None
    tags: list[str] = Field(default_factory=list)
    calls: list[CallRef] = Field(default_factory=list)
    recordings: list[RecordingRef] = Field(default_factory=list)


class TicketList(BaseModel):
    data: list[TicketSummary]
    count: int | None
    count_capped: bool = False
    next_cursor: str | None = None


class TimelineEventPublic(BaseModel):
    model_config = _OUTPUT

    id: int
    at: datetime
    actor_id: int | None
    kind: str
    field: str | None
    from_value: str | None
    to_value: str | None
    reason: str | None


class Timeline(BaseModel):
    data: list[TimelineEventPublic]
    count: int


class NotificationPublic(BaseModel):
    model_config = _OUTPUT

    id: int
    kind: str
    ticket_id: int | None
    created_at: datetime
    read_at: datetime | None


class NotificationList(BaseModel):
    data: list[NotificationPublic]
    count: int
