"""The floor's records: roll-call entries, notices and who acknowledged them, duty logs, and
handovers with the additions appended after acceptance."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, TimestampMixin


class RollCallEntry(TimestampMixin, Base):
    __tablename__ = "scheduling_roll_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("scheduling_shifts.id", ondelete="CASCADE"))
    # The shift's owner, or the other party of the swap that left it empty (both are assessed).
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # on_time | late | absent | on_leave | excused
    status: Mapped[str] = mapped_column(String(16))
    arrived_at: Mapped[datetime | None]
    minutes_late: Mapped[int] = mapped_column(Integer, default=0)
    longest_away_minutes: Mapped[int] = mapped_column(Integer, default=0)
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(String(500))
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("shift_id", "user_id"),)


class Notice(TimestampMixin, Base):
    """A notice from a leader; agents of its site (or team) acknowledge it before going available."""

    __tablename__ = "scheduling_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[datetime] = mapped_column(default=lambda: clock.now(), index=True)
    withdrawn_at: Mapped[datetime | None]


class NoticeAck(Base):
    __tablename__ = "scheduling_notice_acks"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("scheduling_notices.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=lambda: clock.now())

    __table_args__ = (UniqueConstraint("notice_id", "user_id"),)


class DutyLog(TimestampMixin, Base):
    """A team leader's log of one shift. The figures are prefilled from the hub where it knows
    them (`figures_source` says which) and stay editable."""

    __tablename__ = "scheduling_duty_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    day: Mapped[date] = mapped_column(Date, index=True)
    shift_kind: Mapped[str] = mapped_column(String(16))  # day | night | custom
    leader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    system_problems: Mapped[str] = mapped_column(Text, default="")
    difficult_issues: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    inquiry_count: Mapped[int] = mapped_column(Integer, default=0)
    lookup_count: Mapped[int] = mapped_column(Integer, default=0)
    proactive_count: Mapped[int] = mapped_column(Integer, default=0)
    figures_source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    closed_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("site_id", "team_id", "day", "shift_kind"),)


class Handover(TimestampMixin, Base):
    """The outgoing lead's handover to the next shift. Once accepted it is locked: later notes go to
    HandoverAddition rows."""

    __tablename__ = "scheduling_handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    duty_log_id: Mapped[int] = mapped_column(ForeignKey("scheduling_duty_logs.id", ondelete="CASCADE"), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    outgoing_leader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    incoming_leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    next_start: Mapped[datetime]
    next_end: Mapped[datetime]
    equipment_status: Mapped[str] = mapped_column(Text, default="")
    difficult_issues: Mapped[str] = mapped_column(Text, default="")
    unresolved_issues: Mapped[str] = mapped_column(Text, default="")
    staffing_changes: Mapped[str] = mapped_column(Text, default="")
    notices: Mapped[str] = mapped_column(Text, default="")
    superiors_instructions: Mapped[str] = mapped_column(Text, default="")
    customer_feedback: Mapped[str] = mapped_column(Text, default="")  # customers' suggestions and complaints
    # The parts the outgoing lead chose to leave empty: "nothing to report" is a choice, not a blank.
    nothing_to_report: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The automatic lists (open escalations, complaints and tickets due, staffing) as of the last submit.
    listed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | submitted | returned | accepted
    questions: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]


class HandoverAddition(Base):
    __tablename__ = "scheduling_handover_additions"

    id: Mapped[int] = mapped_column(primary_key=True)
    handover_id: Mapped[int] = mapped_column(ForeignKey("scheduling_handovers.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    text: Mapped[str] = mapped_column(Text)
