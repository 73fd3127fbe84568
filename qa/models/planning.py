"""The work around evaluations: monthly sampling plans and their assignments, calibration
sessions, weekly training plans, coaching tasks, team leaders' monthly reports, and settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base


def _now() -> datetime:
    return clock.now()


class SamplingPlan(Base):
    """A team's month: the seed that makes its sampling reproducible and the settings it used."""

    __tablename__ = "qa_sampling_plans"
    __table_args__ = (UniqueConstraint("team_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    seed: Mapped[int] = mapped_column(BigInteger)
    per_agent: Mapped[int] = mapped_column(Integer)
    targeted_per_agent: Mapped[int] = mapped_column(Integer)
    # The settings in force when the plan was made, kept so building again picks the same way.
    min_seconds: Mapped[int] = mapped_column(Integer, default=30)
    short_seconds: Mapped[int] = mapped_column(Integer, default=60)
    long_seconds: Mapped[int] = mapped_column(Integer, default=900)
    low_satisfaction_max: Mapped[int] = mapped_column(Integer, default=2)
    new_agent_days: Mapped[int] = mapped_column(Integer, default=90)
    review_days: Mapped[int] = mapped_column(Integer, default=7)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    last_built_at: Mapped[datetime | None]
    weeks_built: Mapped[int] = mapped_column(Integer, default=0)


class Assignment(Base):
    """One recording picked for evaluation, why (`random`, or the targeted reason) and by whom."""

    __tablename__ = "qa_assignments"
    __table_args__ = (
        Index("ix_qa_assignments_plan_agent", "plan_id", "agent_id"),
        Index("ix_qa_assignments_inspector_status_due", "inspector_id", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("qa_sampling_plans.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recording_id: Mapped[int] = mapped_column(Integer, unique=True)  # a recording is picked once, ever
    call_id: Mapped[int | None] = mapped_column(Integer)
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    week: Mapped[int] = mapped_column(Integer)  # 0..3: days 1-7, 8-14, 15-21, 22-end
    kind: Mapped[str] = mapped_column(String(16))  # random | targeted
    reason: Mapped[str] = mapped_column(String(24))  # random | complaint | escalation | low_satisfaction | ...
    rank: Mapped[int] = mapped_column(Integer)  # order of the pick within the agent's kind
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | skipped
    evaluation_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class CalibrationSession(Base):
    """One recording scored blind by several inspectors against an expert's reference."""

    __tablename__ = "qa_calibrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(Integer, index=True)
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("qa_scorecards.id"))
    title: Mapped[str] = mapped_column(String(200))
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    created_at: Mapped[datetime] = mapped_column(default=_now)
    closed_at: Mapped[datetime | None]


class CalibrationParticipant(Base):
    __tablename__ = "qa_calibration_participants"
    __table_args__ = (UniqueConstraint("calibration_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calibration_id: Mapped[int] = mapped_column(ForeignKey("qa_calibrations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    is_expert: Mapped[bool] = mapped_column(default=False)


class TrainingPlan(Base):
    """A team's week: the computed summary, and the plan the inspector edits and publishes.
    Its common problems are read out at roll-call briefings."""

    __tablename__ = "qa_training_plans"
    __table_args__ = (UniqueConstraint("team_id", "week_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    week_start: Mapped[date] = mapped_column(Date)  # a Monday
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"question_code", "text_en", "text_zh", "note"}]
    common_problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # [{"agent_id", "average", "focus"}]
    individuals: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)
    published_at: Mapped[datetime | None]


class CoachingTask(Base):
    """A score below the threshold asks the agent's team leader to coach; `key` makes the
    sweep and the submit path create it once."""

    __tablename__ = "qa_coaching_tasks"
    __table_args__ = (Index("ix_qa_coaching_tasks_team_status", "team_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(24))  # evaluation | monthly_average
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("qa_evaluations.id", ondelete="CASCADE"))
    month: Mapped[str | None] = mapped_column(String(7))
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    auto_failed: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class QualityReport(Base):
    """The team leader's monthly service-quality analysis report (due by the 22nd)."""

    __tablename__ = "qa_quality_reports"
    __table_args__ = (UniqueConstraint("team_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    month: Mapped[str] = mapped_column(String(7))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | submitted
    analysis: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)
    submitted_at: Mapped[datetime | None]


class TeamMinimum(Base):
    """A team's own minimum of evaluations per agent per month (seed 003: 1 to 5), in place of
    the default `evaluations_per_agent`."""

    __tablename__ = "qa_team_minimums"
    __table_args__ = (CheckConstraint("per_agent BETWEEN 1 AND 5", name="per_agent_range"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    per_agent: Mapped[int] = mapped_column(Integer)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    set_at: Mapped[datetime] = mapped_column(default=_now)
