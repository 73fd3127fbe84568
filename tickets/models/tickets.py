"""Tables of tickets: the ticket, its calls, recordings, tags, notes and timeline, the yearly
number counter, notifications, SLA policies and settings, and the sites' opening calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.crypto import Encrypted
from core.db import Base, TimestampMixin

__all__ = [
    "Notification",
    "SiteHoliday",
    "SiteOpeningHours",
    "SlaPolicy",
    "Ticket",
    "TicketCall",
    "TicketEvent",
    "TicketNote",
    "TicketNumberCounter",
    "TicketRecording",
    "TicketTag",
]

# 64-bit ids on PostgreSQL (tickets and events grow without bound); SQLite's rowid otherwise.
BigId = BigInteger().with_variant(Integer, "sqlite")


_NOT_BREACHED = text("sla_due_at IS NOT NULL AND sla_state <> 'breached'")
_STILL_OK = text("sla_at_risk_at IS NOT NULL AND sla_state = 'ok'")


def _now() -> datetime:
    return clock.now()


class Ticket(TimestampMixin, Base):
    """One matter of one caller. Free text (subject, description, resolution) may hold
    personal data and is encrypted; everything searched on is an id, a code or a blind index."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(32), default="new")
    # How it was opened: call, voicemail, ivr_callback, agent, api.
    source: Mapped[str] = mapped_column(String(16), default="agent")
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    # Blind index of the caller's number (core.crypto.phone_index): found by phone, never readable.
    caller_index: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str | None] = mapped_column(String(16))  # the customer's tier when opened
    language: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(Encrypted())
    description: Mapped[str | None] = mapped_column(Encrypted())
    resolution: Mapped[str | None] = mapped_column(Encrypted())
    complaint_cause: Mapped[str | None] = mapped_column(String(64))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)

    # SLA: targets from the policy (business minutes), the deadlines they give, and the
    # deadline currently running (`sla_due_at`, NULL once resolved or while paused).
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    first_response_due_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    sla_target: Mapped[str | None] = mapped_column(String(16))  # first_response | resolution
    sla_due_at: Mapped[datetime | None]
    sla_at_risk_at: Mapped[datetime | None]
    sla_state: Mapped[str] = mapped_column(String(16), default="ok")  # ok | at_risk | breached
    sla_paused_at: Mapped[datetime | None]
    sla_business_hours: Mapped[bool] = mapped_column(Boolean, default=True)

    # Callback requests and complaints.
    callback_due_at: Mapped[datetime | None]
    reply_due_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    phone_followup_due_at: Mapped[datetime | None]
    phone_followup_done_at: Mapped[datetime | None]
    # When the sweep acted on a missed complaint deadline (once each): escalation and alert.
    reply_overdue_at: Mapped[datetime | None]
    phone_followup_overdue_at: Mapped[datetime | None]
    satisfaction_followup_due_at: Mapped[datetime | None]

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_tickets_caller_index_id", "caller_index", "id"),
        Index("ix_tickets_customer_id_id", "customer_id", "id"),
        Index("ix_tickets_assignee_status_id", "assignee_id", "status", "id"),
        Index("ix_tickets_team_status_id", "team_id", "status", "id"),
        Index("ix_tickets_site_status_id", "site_id", "status", "id"),
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_created_by_status_id", "created_by_id", "status", "id"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_category_created_at", "category", "created_at"),
        Index("ix_tickets_sla_due_at", "sla_due_at", "id", postgresql_where=text("sla_due_at IS NOT NULL"),
              sqlite_where=text("sla_due_at IS NOT NULL")),
        Index("ix_tickets_sla_at_risk_at", "sla_at_risk_at", "id", postgresql_where=text("sla_at_risk_at IS NOT NULL"),
              sqlite_where=text("sla_at_risk_at IS NOT NULL")),
        # The SLA sweep's work lists: running deadlines not yet marked breached / at risk.
        Index("ix_tickets_sla_sweep_due", "sla_due_at", postgresql_where=_NOT_BREACHED, sqlite_where=_NOT_BREACHED),
        Index("ix_tickets_sla_sweep_risk", "sla_at_risk_at", postgresql_where=_STILL_OK, sqlite_where=_STILL_OK),
        CheckConstraint("escalation_level BETWEEN 0 AND 3", name="escalation_level_range"),
    )

    def __repr__(self) -> str:  # ids and codes only: tracebacks and logs never show personal data
        return f"<Ticket {self.id} {self.number} {self.category} {self.status}>"


class TicketCall(Base):
    """A telephony call (by CallSid) that belongs to a ticket; a call belongs to one ticket."""

    __tablename__ = "ticket_calls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    created_at: Mapped[datetime] = mapped_column(default=_now)


class TicketRecording(Base):
    """A reference to a recording kept by telephony (its id or RecordingSid): kind call or voicemail."""

    __tablename__ = "ticket_recordings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    recording_ref: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="call")
    call_sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class TicketTag(Base):
    __tablename__ = "ticket_tags"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)

    __table_args__ = (Index("ix_ticket_tags_tag_ticket_id", "tag", "ticket_id"),)


class TicketNote(Base):
    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Encrypted())
    created_at: Mapped[datetime] = mapped_column(default=_now)


class TicketEvent(Base):
    """One line of a ticket's timeline: who, when, what kind, and from/to values that are codes
    or ids, never personal data. A free-text reason (an escalation's) is encrypted."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=_now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(40))
    from_value: Mapped[str | None] = mapped_column(String(100))
    to_value: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Encrypted())

    __table_args__ = (Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),)


class TicketNumberCounter(Base):
    """The last number handed out per year; incremented in one upsert under the row's lock."""

    __tablename__ = "ticket_number_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    """Something a person should look at: an escalation, a complaint, an abusive caller, or a
    reminder from another package (`key` makes it once per subject and person, `params` carries
    the values its text and link need)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    read_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_notifications_user_id_id", "user_id", "id"),)


class SlaPolicy(Base):
    """SLA targets in minutes for tickets matching category, priority and tier (NULL matches
    any). The most specific matching policy applies; built-in defaults fill the gaps."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str | None] = mapped_column(String(16))
    tier: Mapped[str | None] = mapped_column(String(16))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    # Business minutes on the site's calendar, or plain wall-clock minutes.
    business_hours: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint("first_response_minutes > 0 AND resolution_minutes > 0", name="positive_minutes"),
    )


class SiteOpeningHours(Base):
    """One opening range of a site on a weekday (0 = Monday), in minutes of the local day.
    A site without any ranges is open around the clock."""

    __tablename__ = "site_opening_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    opens_minute: Mapped[int] = mapped_column(Integer)
    closes_minute: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("opens_minute >= 0 AND closes_minute <= 1440 AND opens_minute < closes_minute",
                        name="minute_range"),
    )


class SiteHoliday(Base):
    """A day a site is closed (site_id NULL: every site), a public holiday for instance."""

    __tablename__ = "site_holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("site_id", "day"), Index("ix_site_holidays_day", "day"))
