"""Tables for customers (every personal field encrypted, phones found by blind index), who may see
them (call access, callback grants), their change history, tiers and care messages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.crypto import Encrypted, EncryptedJSON
from core.db import Base, TimestampMixin

__all__ = [
    "CONSENT_METHODS", "CONSENT_PURPOSES", "GENDERS", "MESSAGE_STATUSES", "TIERS",
    "CallAccess", "CallbackGrant", "CallbackGrantRequest", "CareFollowUp", "CareRun", "Customer", "CustomerActivity",
    "CustomerChange", "CustomerErasure", "CustomerPhone", "GreetingDay", "OutboundMessage", "TierAssessment",
    "TierThreshold",
]

TIERS = ("normal", "silver", "gold", "platinum", "diamond")
GENDERS = ("female", "male", "other", "undisclosed")
# What a customer agreed to: being served (the record itself), care SMS (greetings), marketing.
CONSENT_PURPOSES = ("service", "care_sms", "marketing")
CONSENT_METHODS = ("phone", "form", "web", "sms", "import")
MESSAGE_STATUSES = ("queued", "sending", "sent", "failed", "cancelled")
_TicketId = BigInteger().with_variant(Integer, "sqlite")  # the type of tickets.id


def _now() -> datetime:
    return clock.now()


class Customer(TimestampMixin, Base):
    """A customer. Personal fields are Fernet tokens; tier, points, spend, site and owner stay in
    clear because routing and aggregate reports need them in SQL. Erasure nulls the personal
    fields and keeps the row so tickets and statistics stay (anonymised)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    owning_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    name: Mapped[str | None] = mapped_column(Encrypted())
    gender: Mapped[str | None] = mapped_column(Encrypted())
    birthday: Mapped[str | None] = mapped_column(Encrypted())  # ISO date
    age: Mapped[str | None] = mapped_column(Encrypted())  # years, when only the age is known
    email: Mapped[str | None] = mapped_column(Encrypted())
    address: Mapped[str | None] = mapped_column(Encrypted())
    id_number: Mapped[str | None] = mapped_column(Encrypted())
    preferences: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())  # products, call_times
    special_needs: Mapped[str | None] = mapped_column(Encrypted())

    consent_purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent_method: Mapped[str | None] = mapped_column(String(20))
    consent_at: Mapped[datetime | None]

    tier: Mapped[str] = mapped_column(String(16), default="normal", index=True)
    tier_changed_at: Mapped[datetime | None]
    points: Mapped[int] = mapped_column(Integer, default=0)
    spend_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # lifetime, kept after erasure
    last_contact_at: Mapped[datetime | None] = mapped_column(index=True)

    # The customer's own data key (core.keyring): their personal fields, numbers in the call log
    # and recordings are encrypted under it; erasure shreds it.
    data_key_id: Mapped[str | None] = mapped_column(String(32), index=True)

    erased_at: Mapped[datetime | None]
    erased_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin",
        order_by=lambda: [CustomerPhone.is_primary.desc(), CustomerPhone.id],
    )

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def primary_phone(self) -> CustomerPhone | None:
        return next((p for p in self.phones if p.is_primary), self.phones[0] if self.phones else None)

    def __repr__(self) -> str:  # ids only: no personal data in logs and tracebacks
        return f"<Customer {self.id} site={self.site_id} tier={self.tier}>"


class CustomerPhone(Base):
    """One number of a customer, E.164 encrypted, with the blind index caller ID looks up. A number
    belongs to one customer at a time (unique index), so caller ID is unambiguous."""

    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(Encrypted())
    number_index: Mapped[str] = mapped_column(String(64), unique=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)

    customer: Mapped[Customer] = relationship(back_populates="phones")

    def __repr__(self) -> str:
        return f"<CustomerPhone {self.id} customer={self.customer_id} primary={self.is_primary}>"


class CustomerChange(Base):
    """One change of personal data: who, when, which fields (names in clear), why, and the old
    values encrypted (nulled on erasure)."""

    __tablename__ = "customer_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=_now)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_by_name: Mapped[str | None] = mapped_column(String(100))
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Encrypted())
    requested_by_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    old_values: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())


class CallAccess(Base):
    """An agent may see the caller's details while a call offered to them lasts, until wrap-up
    ends. Telephony opens and closes the row; it is valid while not ended and not past ends_at."""

    __tablename__ = "customer_call_access"
    __table_args__ = (Index("ix_customer_call_access_pair", "customer_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    call_ref: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(default=_now)
    ends_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class CallbackGrant(Base):
    """A time-limited authorisation for one agent to see and call back one customer. Live while
    `starts_at <= now < expires_at` and not revoked, checked at every use."""

    __tablename__ = "callback_grants"
    __table_args__ = (Index("ix_callback_grants_pair", "customer_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(_TicketId, ForeignKey("tickets.id", ondelete="SET NULL"),
                                                  index=True)
    reason: Mapped[str] = mapped_column(Encrypted())  # free text may quote the customer
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    granted_by_name: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_by_name: Mapped[str | None] = mapped_column(String(100))
    expiry_recorded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)

    def is_live(self, at: datetime | None = None) -> bool:
        moment = at or clock.now()
        return self.revoked_at is None and self.starts_at <= moment < self.expires_at

    def __repr__(self) -> str:
        return f"<CallbackGrant {self.id} customer={self.customer_id} agent={self.agent_id}>"


class CallbackGrantRequest(Base):
    """Someone who makes callbacks asks for a callback authorisation for one customer, with a
    reason; those who may grant it grant it (the grant it became is `grant_id`) or decline it
    with a reason. A pending request lapses at `expires_at` (read as "expired", no task needed)."""

    __tablename__ = "callback_grant_requests"
    __table_args__ = (Index("ix_callback_grant_requests_pair", "customer_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(_TicketId, ForeignKey("tickets.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Encrypted())  # free text may quote the customer
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | granted | declined | withdrawn
    expires_at: Mapped[datetime]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_name: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(Encrypted())
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("callback_grants.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    def state(self, at: datetime | None = None) -> str:
        """pending, expired (a pending request past its time), granted, declined or withdrawn."""
        if self.status == "pending" and self.expires_at <= (at or clock.now()):
            return "expired"
        return self.status

    def __repr__(self) -> str:
        return f"<CallbackGrantRequest {self.id} customer={self.customer_id} agent={self.agent_id} {self.status}>"


class CustomerActivity(Base):
    """A contact (call, ticket) or purchase that feeds tiers and the quiet-customer list. `ref`
    (a CallSid, an order number) makes recording it twice harmless."""

    __tablename__ = "customer_activities"
    __table_args__ = (
        Index("ix_customer_activities_customer_at", "customer_id", "at"),
        UniqueConstraint("kind", "ref"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # contact | purchase
    at: Mapped[datetime] = mapped_column(index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    ref: Mapped[str | None] = mapped_column(String(100))


class TierThreshold(Base):
    """What a tier needs, as data an administrator changes: contacts and purchases in the
    frequency window, and either spend in the spend window or points."""

    __tablename__ = "tier_thresholds"

    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    min_spend_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    min_frequency: Mapped[int] = mapped_column(Integer, default=0)
    min_points: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class TierAssessment(Base):
    """One site's end-of-period tier assessment, done once: downgrades happen only here."""

    __tablename__ = "tier_assessments"
    __table_args__ = (UniqueConstraint("site_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    upgraded: Mapped[int] = mapped_column(Integer, default=0)
    downgraded: Mapped[int] = mapped_column(Integer, default=0)
    assessed_at: Mapped[datetime] = mapped_column(default=_now)


class OutboundMessage(Base):
    """An SMS waiting for telephony's gateway (greetings, tier notices). `dedupe_key` makes the
    periodic tasks that queue them idempotent."""

    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_messages_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(40))
    body: Mapped[str | None] = mapped_column(Encrypted())
    status: Mapped[str] = mapped_column(String(16), default="queued")
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class CareFollowUp(Base):
    """A follow-up call that is due, such as the satisfaction call after a complaint is resolved."""

    __tablename__ = "care_followups"
    __table_args__ = (UniqueConstraint("ticket_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(_TicketId, ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), default="satisfaction")
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="due")  # due | done | cancelled
    reminded_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # 1 (very unhappy) to 5
    outcome: Mapped[str | None] = mapped_column(String(32))  # reached | no_answer | refused | wrong_number
    note: Mapped[str | None] = mapped_column(Encrypted())
    created_at: Mapped[datetime] = mapped_column(default=_now)


class GreetingDay(Base):
    """A day on which consenting customers get a greeting SMS (holidays move with the lunar
    calendar, so each is a full date)."""

    __tablename__ = "greeting_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    on_date: Mapped[date] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)  # the same text for everyone: no personal data
    created_at: Mapped[datetime] = mapped_column(default=_now)


class CareRun(Base):
    """Marks a greeting round done (birthdays of a site on a date, one holiday), so the periodic
    task does not scan the customers again; written in the same transaction as the messages."""

    __tablename__ = "care_runs"
    __table_args__ = (UniqueConstraint("kind", "site_id", "on_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    on_date: Mapped[date]
    queued: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime] = mapped_column(default=_now)


class CustomerErasure(Base):
    """A request to erase a customer (seed 004): recorded, the customer told (with consent) that
    remaining points and benefits can be used until `due_at`, then carried out by the sweep; or
    at once by an administrator with a reason. The refusals it overrode are named."""

    __tablename__ = "customer_erasures"
    __table_args__ = (Index("ix_customer_erasures_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=_now)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_by_name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))  # no personal data: "member left", "legal request"
    immediate: Mapped[bool] = mapped_column(Boolean, default=False)
    overrides: Mapped[list[str]] = mapped_column(JSON, default=list)  # open_complaint, unused_points
    notice_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | cancelled
    done_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
