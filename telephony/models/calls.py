"""Calls and every webhook received for them, recordings (calls and voicemails) and the IVR's
editable settings. Phone numbers are stored encrypted beside a blind index for lookups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.crypto import Encrypted
from core.db import Base, TimestampMixin

__all__ = ["CALL_STATUS_RANK", "TERMINAL_STATUSES", "RECORDINGS_UNLISTED", "RECORDING_STATUS_RANK", "Call",
           "CallEvent", "IvrSettings", "Recording"]

# Twilio's call statuses in the order a call moves through them; every terminal status shares
# the top rank so the first one to arrive wins and nothing moves a call backwards.
CALL_STATUS_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3,
                    "completed": 4, "busy": 4, "failed": 4, "no-answer": 4, "canceled": 4}
TERMINAL_STATUSES = frozenset(s for s, r in CALL_STATUS_RANK.items() if r == 4)
# An agent is on one live customer call at most: one answered, unfinished agent leg each.
_LIVE_AGENT_LEG = text("leg = 'agent' AND status = 'in-progress' AND agent_id IS NOT NULL")
# Ended calls whose recordings Twilio has not been asked for yet (telephony.reconcile.unlisted_calls:
# its query repeats this predicate as written, so PostgreSQL uses the partial index below).
RECORDINGS_UNLISTED = text("status = 'completed' AND leg <> 'agent' AND recordings_listed_at IS NULL")
RECORDING_STATUS_RANK = {"in-progress": 0, "paused": 1, "stopped": 2, "processing": 2,
                         "completed": 3, "absent": 3, "failed": 3, "deleted": 4}


class Call(TimestampMixin, Base):
    """One leg: the caller's inbound call, or an agent's leg the hub dialled for an offer."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_status_updated", "status", "updated_at"),
                      Index("ix_calls_started_at", "started_at"),
                      Index("uq_calls_agent_live_leg", "agent_id", unique=True, postgresql_where=_LIVE_AGENT_LEG,
                            sqlite_where=_LIVE_AGENT_LEG),
                      Index("ix_calls_recordings_unlisted", "ended_at", postgresql_where=RECORDINGS_UNLISTED,
                            sqlite_where=RECORDINGS_UNLISTED))

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    parent_call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    leg: Mapped[str] = mapped_column(String(16), default="caller")  # caller | agent
    direction: Mapped[str] = mapped_column(String(20), default="inbound")
    from_index: Mapped[str | None] = mapped_column(String(64), index=True)
    # Deferred: decrypted only where it is shown (the agent's desk masks it), not on each of the
    # dozen loads of a call its webhooks make.
    from_number: Mapped[str | None] = mapped_column(Encrypted(), deferred=True)
    # The dialled hotline number or `client:agent_<id>`; never a customer's number.
    to_number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="ringing")
    started_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    menu_choice: Mapped[str | None] = mapped_column(String(20))
    skill_code: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(20))
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    owning_agent_id: Mapped[int | None] = mapped_column(Integer)
    enqueued_at: Mapped[datetime | None]
    # What the caller chose on leaving the queue: "voicemail" or "callback".
    after_queue: Mapped[str | None] = mapped_column(String(20))
    callback_requested_at: Mapped[datetime | None]
    conference_name: Mapped[str | None] = mapped_column(String(64))
    conference_sid: Mapped[str | None] = mapped_column(String(64))
    bridged_at: Mapped[datetime | None]
    agent_hangup_requested_at: Mapped[datetime | None]
    # Rebuilt from the spool after a database outage: some details may be missing.
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    last_checked_at: Mapped[datetime | None]
    # Until when one worker holds hanging up this agent leg at Twilio (telephony.carrier_effects:
    # the REST call is made with no transaction open); a claim left by a worker that died lapses.
    hangup_claimed_at: Mapped[datetime | None]
    # Since when one request holds the call's in-call controls while it asks Twilio with no
    # transaction open (telephony.controls.claim_controls); a lease, lapsing if the request died.
    control_claimed_at: Mapped[datetime | None]
    # When Twilio was asked for the recordings of this call once it ended, so that a recording
    # whose every callback was lost is known all the same (telephony.reconcile.list_recordings).
    recordings_listed_at: Mapped[datetime | None]

    parent: Mapped[Call | None] = relationship(remote_side=[id], lazy="raise_on_sql")

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def __repr__(self) -> str:  # no phone numbers in tracebacks
        return f"<Call {self.id} {self.call_sid} {self.leg} {self.status}>"


class CallEvent(Base):
    """Every signed webhook received, in arrival order, with personal fields removed."""

    __tablename__ = "call_events"
    __table_args__ = (Index("ix_call_events_sid", "call_sid", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    call_sid: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str | None] = mapped_column(String(30))
    sequence: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Recording(TimestampMixin, Base):
    """A call recording (both parties on two channels) or a voicemail, and where its media is."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_copy", "status", "copied_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="call")  # call | voicemail
    status: Mapped[str] = mapped_column(String(20), default="in-progress")
    source: Mapped[str | None] = mapped_column(String(40))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None]
    twilio_url: Mapped[str | None] = mapped_column(String(500))
    # Where the media is in the storage port (core.storage), once copied from Twilio.
    media_key: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    copied_at: Mapped[datetime | None]
    deleted_at_twilio_at: Mapped[datetime | None]
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    attached_at: Mapped[datetime | None]
    copy_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the reconcile sweep last asked Twilio about a recording whose callbacks went quiet.
    last_checked_at: Mapped[datetime | None]

    call: Mapped[Call | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Recording {self.id} {self.recording_sid} {self.kind} {self.status}>"


class IvrSettings(TimestampMixin, Base):
    """The one row of IVR settings an administrator edits; texts are per language."""

    __tablename__ = "ivr_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    default_language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    default_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    wait_limit_seconds: Mapped[int] = mapped_column(Integer, default=180)
    callback_due_minutes: Mapped[int] = mapped_column(Integer, default=60)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)
