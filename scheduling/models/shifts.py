"""Shift templates, rosters, the shifts people work (times in UTC, the local day kept for
reporting), roster solver jobs, requested days off and the scheduling settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, TimestampMixin


class ShiftTemplate(TimestampMixin, Base):
    """A kind of shift at a site: starts at a local time of day and lasts `length_minutes` of real
    time (so a night shift over a DST change ends an hour earlier or later on the wall clock)."""

    __tablename__ = "scheduling_shift_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="day")  # day | night | custom
    start_minute: Mapped[int] = mapped_column(Integer)  # minutes after local midnight
    length_minutes: Mapped[int] = mapped_column(Integer)
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("skills.id", ondelete="SET NULL"))
    job_type: Mapped[str] = mapped_column(String(40), default="hotline_agent")
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        CheckConstraint("start_minute >= 0 AND start_minute < 1440", name="start_range"),
        CheckConstraint("length_minutes > 0 AND length_minutes <= 1440", name="length_range"),
    )


class Roster(TimestampMixin, Base):
    __tablename__ = "scheduling_rosters"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Shift(TimestampMixin, Base):
    """One person's shift. `day` is the local date the shift starts on at its site."""

    __tablename__ = "scheduling_shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int | None] = mapped_column(ForeignKey("scheduling_rosters.id", ondelete="CASCADE"), index=True)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("scheduling_shift_templates.id", ondelete="SET NULL"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16), default="day")
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("skills.id", ondelete="SET NULL"))
    job_type: Mapped[str] = mapped_column(String(40), default="hotline_agent")
    # How the current owner got it: roster, manual, swap or payback.
    source: Mapped[str] = mapped_column(String(16), default="manual")

    __table_args__ = (
        Index("ix_scheduling_shifts_user_start", "user_id", "start_at"),
        Index("ix_scheduling_shifts_site_day", "site_id", "day"),
        CheckConstraint("end_at > start_at", name="ends_after_start"),
    )


class RosterJob(TimestampMixin, Base):
    """A solver run for a roster and its live progress, written by the solver's callback."""

    __tablename__ = "scheduling_roster_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("scheduling_rosters.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    objective: Mapped[float | None] = mapped_column(Float)
    bound: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    solutions: Mapped[int] = mapped_column(Integer, default=0)
    elapsed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    solver_status: Mapped[str | None] = mapped_column(String(20))
    uncovered: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class DayOffRequest(Base):
    """A day a person asked not to be rostered (a wish for the solver, not leave)."""

    __tablename__ = "scheduling_day_off_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("user_id", "day"),)
