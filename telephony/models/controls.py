"""Tables of the in-call controls and callbacks: every control taken on a call (hold periods,
recording pauses, monitors, transfers, escalations: who, when, what), each server-dialled
callback attempt, the per-site call policy, and the token bucket that paces outbound dials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base

__all__ = ["CallControlEvent", "CallSitePolicy", "CallbackAttempt", "RateBucket"]


class CallControlEvent(Base):
    """One control on a call. Kinds with a duration (hold, recording_pause, listen, whisper,
    barge, transfer) are open while `ended_at` is None; escalate is a moment. `offset_seconds`
    places a recording pause on the recording's own time line (seconds from its start)."""

    __tablename__ = "call_control_events"
    __table_args__ = (Index("ix_call_control_events_call_kind", "call_id", "kind", "ended_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # Plain ids: the calls table belongs to the call records.
    call_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    target_user_id: Mapped[int | None] = mapped_column(Integer)
    # A queue's skill code for transfers to a queue, the ladder level for escalations.
    target: Mapped[str | None] = mapped_column(String(40))
    warm: Mapped[bool] = mapped_column(Boolean, default=False)
    # The conference leg the control added (monitor, transfer) or the agent leg handed over.
    participant_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    handed_over_sid: Mapped[str | None] = mapped_column(String(64))
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    offset_seconds: Mapped[int | None] = mapped_column(Integer)
    # pending (a transfer ringing), active, done, failed, cancelled
    state: Mapped[str] = mapped_column(String(16), default="active")
    outcome: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    ended_at: Mapped[datetime | None]

    def seconds(self, now: datetime | None = None) -> int:
        end = self.ended_at or now or clock.now()
        return max(0, int((end - self.started_at).total_seconds()))

    def __repr__(self) -> str:
        return f"<CallControlEvent {self.id} call={self.call_id} {self.kind} {self.state}>"


class CallbackAttempt(Base):
    """One dial of a customer for a ticket's callback. The number is never stored here: the
    server asks for it (checking the authorisation) at the moment it dials."""

    __tablename__ = "callback_attempts"
    __table_args__ = (Index("ix_callback_attempts_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Integer, index=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    # The first attempt of the series; its own id for the first one.
    series_id: Mapped[int | None] = mapped_column(Integer, index=True)
    number: Mapped[int] = mapped_column(Integer, default=1)
    # queued, dialling, ringing, answered, no_answer, busy, voicemail, failed, refused, cancelled
    state: Mapped[str] = mapped_column(String(16), default="queued")
    due_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    dialled_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    call_id: Mapped[int | None] = mapped_column(Integer)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    answered_by: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())

    def __repr__(self) -> str:
        return f"<CallbackAttempt {self.id} ticket={self.ticket_id} #{self.number} {self.state}>"


class CallSitePolicy(Base):
    """A site's call policy; a site without a row has the defaults."""

    __tablename__ = "call_site_policies"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    # Tell agents on their desktop that a leader is listening, whispering or has joined.
    announce_monitoring: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())


class RateBucket(Base):
    """A token bucket shared by every worker: `tokens` as of `updated_at`, refilled by time."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime]
