"""Evaluations of recordings: the answers, notes pinned to moments of the recording, the timeline
that keeps every previous score, and agents' disputes. Free text is encrypted: an inspector's
note may quote what a caller said."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.crypto import Encrypted
from core.db import Base

STATUSES = ("draft", "submitted", "acknowledged", "disputed", "resolved")
_REGULAR = text("calibration_id IS NULL")


def _now() -> datetime:
    return clock.now()


class Evaluation(Base):
    """One inspector's scoring of one recording on one scorecard version. A calibration
    evaluation (`calibration_id` set) never counts in the agent's figures."""

    __tablename__ = "qa_evaluations"
    __table_args__ = (
        # At most one counted evaluation per recording; calibration adds one per inspector.
        Index("uq_qa_evaluations_recording_regular", "recording_id", unique=True,
              postgresql_where=_REGULAR, sqlite_where=_REGULAR),
        UniqueConstraint("calibration_id", "inspector_id"),
        Index("ix_qa_evaluations_agent_call", "agent_id", "call_started_at"),
        Index("ix_qa_evaluations_team_call", "team_id", "call_started_at"),
        Index("ix_qa_evaluations_inspector_status", "inspector_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("qa_scorecards.id"), index=True)
    # Telephony's and tickets' ids, without foreign keys: like telephony's own ticket_id, a
    # reference across packages that each package's services resolve.
    recording_id: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[int | None] = mapped_column(Integer)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    call_started_at: Mapped[datetime]
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("qa_assignments.id", ondelete="SET NULL"))
    calibration_id: Mapped[int | None] = mapped_column(ForeignKey("qa_calibrations.id", ondelete="CASCADE"))
    is_reference: Mapped[bool] = mapped_column(Boolean, default=False)  # the expert's, in calibration
    status: Mapped[str] = mapped_column(String(16), default="draft")
    score: Mapped[float | None] = mapped_column(Float)  # 0..100, 0 when a critical question failed
    base_score: Mapped[float | None] = mapped_column(Float)
    bonus_points: Mapped[float] = mapped_column(Float, default=0.0)
    auto_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)
    submitted_at: Mapped[datetime | None]
    dispute_until: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    answers: Mapped[list[EvaluationAnswer]] = relationship(
        back_populates="evaluation", lazy="selectin", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def counts(self) -> bool:
        return self.calibration_id is None

    def __repr__(self) -> str:
        return f"<Evaluation {self.id} rec={self.recording_id} {self.status} {self.score}>"


class EvaluationAnswer(Base):
    __tablename__ = "qa_evaluation_answers"
    __table_args__ = (UniqueConstraint("evaluation_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("qa_evaluations.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("qa_scorecard_questions.id"), index=True)
    value: Mapped[int | None] = mapped_column(Integer)
    not_applicable: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str | None] = mapped_column(Encrypted())

    evaluation: Mapped[Evaluation] = relationship(back_populates="answers")


class EvaluationNote(Base):
    """A note pinned to a moment of the recording (seconds from its start)."""

    __tablename__ = "qa_evaluation_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("qa_evaluations.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("qa_scorecard_questions.id"))
    at_seconds: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Encrypted())
    created_at: Mapped[datetime] = mapped_column(default=_now)


class EvaluationEvent(Base):
    """A line of an evaluation's timeline; a score change keeps the score before it."""

    __tablename__ = "qa_evaluation_events"
    __table_args__ = (Index("ix_qa_evaluation_events_evaluation", "evaluation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("qa_evaluations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=_now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    from_score: Mapped[float | None] = mapped_column(Float)
    to_score: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Encrypted())
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Dispute(Base):
    """An agent's objection to some answers of a submitted evaluation, and its arbitration."""

    __tablename__ = "qa_disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("qa_evaluations.id", ondelete="CASCADE"), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    question_ids: Mapped[list[int]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Encrypted())
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | upheld | revised
    arbitrator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Encrypted())
    score_before: Mapped[float | None] = mapped_column(Float)
    score_after: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=_now)
