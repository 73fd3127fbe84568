"""Tables of the router: agent presence and its log, queue entries, offers, and the routing
settings an administrator overrides. See docs/routing.md for the rules they carry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base

__all__ = ["AgentPresence", "Offer", "PresenceLog", "QueueEntry"]

_PENDING = text("state = 'pending'")


class AgentPresence(Base):
    """One row per agent: the state, when it began, and what the router needs to pick the
    longest-idle agent without reading the log."""

    __tablename__ = "agent_presence"
    __table_args__ = (
        # The router's agent pick: available agents by idle time.
        Index("ix_agent_presence_state_idle", "state", "idle_since", "user_id"),
        Index("ix_agent_presence_state_wrap_up", "state", "wrap_up_until"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="offline")
    since: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    # Set while available: the router offers to the smallest. See docs/routing.md for the rules.
    idle_since: Mapped[datetime | None]
    last_call_ended_at: Mapped[datetime | None]
    wrap_up_until: Mapped[datetime | None]
    current_offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    # Plain id: the calls table belongs to the call records, not the router.
    current_call_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # The browser went away during a call: go away, not available, when it ends.
    away_after_call: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self) -> str:
        return f"<AgentPresence user={self.user_id} {self.state}>"


class PresenceLog(Base):
    """Every presence change; scheduling reads it for adherence."""

    __tablename__ = "presence_log"
    __table_args__ = (Index("ix_presence_log_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(200))


class QueueEntry(Base):
    """A call waiting for (or given to) an agent. One row per call: a transfer re-queues the
    same row, so the original waiting time and the attempts are kept."""

    __tablename__ = "queue_entries"
    __table_args__ = (
        # The router's entry pick and the caller's position: waiting entries by sort key.
        Index("ix_queue_entries_state_sort", "state", "sort_key", "id"),
        Index("ix_queue_entries_state_skill_sort", "state", "skill_code", "sort_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(Integer, unique=True)
    skill_code: Mapped[str] = mapped_column(String(40))
    min_level: Mapped[int] = mapped_column(Integer, default=1)
    category: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16), default="normal")
    base_priority: Mapped[int] = mapped_column(Integer, default=0)
    # When the caller started waiting; kept across re-queues.
    enqueued_at: Mapped[datetime]
    # When the entry last entered the queue (first time or re-queue).
    queued_at: Mapped[datetime]
    # enqueued_at moved earlier by base_priority * aging seconds: ordering by it ascending is
    # ordering by effective priority descending (telephony.priority explains why).
    sort_key: Mapped[datetime]
    preferred_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(200))
    # When the hub last heard that the caller is still in the queue: queued, a request of the
    # wait URL, a check at Twilio. The router offers no caller silent for longer than
    # HOTLINE_QUEUE_ALIVE_SECONDS until Twilio has been asked (docs/reconcile.md, "No ghost
    # offers"). None: no carrier call to watch (an entry queued without one).
    heard_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<QueueEntry {self.id} call={self.call_id} {self.skill_code} {self.state}>"


class Offer(Base):
    """A call offered to one agent. Live while pending and now < expires_at; the partial unique
    indexes make a second live offer to the same agent, or of the same call, impossible."""

    __tablename__ = "offers"
    __table_args__ = (
        Index("uq_offers_pending_user", "user_id", unique=True, postgresql_where=_PENDING, sqlite_where=_PENDING),
        Index("uq_offers_pending_call", "call_id", unique=True, postgresql_where=_PENDING, sqlite_where=_PENDING),
        Index("ix_offers_state_expires", "state", "expires_at"),
        # Recent handle times per queue, for the caller's estimated wait.
        Index("ix_offers_skill_ended", "skill_code", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("queue_entries.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    skill_code: Mapped[str] = mapped_column(String(40))
    # pending, accepted, declined, expired, withdrawn
    state: Mapped[str] = mapped_column(String(16), default="pending")
    offered_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(200))
    # Until when one worker holds ringing the agent (telephony.carrier_effects): the REST call
    # is made with no transaction open, so a second delivery of the ring task, or the repair
    # sweep beside it, finds the claim and leaves it; a claim left by a worker that died lapses.
    ring_claimed_at: Mapped[datetime | None]
    # The same for moving the caller into the agent's conference once the offer is answered (a
    # caller sent back to the queue is moved in again under their next offer).
    connect_claimed_at: Mapped[datetime | None]

    @property
    def is_pending(self) -> bool:
        return self.state == "pending"

    def is_live(self, at: datetime | None = None) -> bool:
        return self.state == "pending" and (at or clock.now()) < self.expires_at

    def __repr__(self) -> str:
        return f"<Offer {self.id} call={self.call_id} user={self.user_id} {self.state}>"
