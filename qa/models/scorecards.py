"""Scorecards: a form is a (code, version) pair that never changes once created; sections and
questions carry the normalised weights the score is computed with, and both languages' texts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base

SCALES = ("yes_no", "one_to_five", "points")


class Scorecard(Base):
    """One version of a form. Only one version of a code is `active`; older ones stay `retired`
    so the evaluations that used them keep their questions and weights."""

    __tablename__ = "qa_scorecards"
    __table_args__ = (UniqueConstraint("code", "version"), Index("ix_qa_scorecards_code_status", "code", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | retired
    # "section" when the author weighted sections, "question" when only questions were weighted.
    weighting: Mapped[str] = mapped_column(String(16), default="section")
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("qa_scorecards.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    retired_at: Mapped[datetime | None]

    sections: Mapped[list[ScorecardSection]] = relationship(
        back_populates="scorecard", order_by="ScorecardSection.position", lazy="selectin",
        cascade="all, delete-orphan")

    @property
    def questions(self) -> list[ScorecardQuestion]:
        return [q for s in self.sections for q in s.questions]


class ScorecardSection(Base):
    __tablename__ = "qa_scorecard_sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("qa_scorecards.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    title_en: Mapped[str] = mapped_column(String(200))
    title_zh: Mapped[str] = mapped_column(String(200))
    raw_weight: Mapped[float | None] = mapped_column(Float)  # as the author typed it
    weight: Mapped[float] = mapped_column(Float)  # percent of the form, all sections sum to 100

    scorecard: Mapped[Scorecard] = relationship(back_populates="sections")
    questions: Mapped[list[ScorecardQuestion]] = relationship(
        back_populates="section", order_by="ScorecardQuestion.position", lazy="selectin",
        cascade="all, delete-orphan")


class ScorecardQuestion(Base):
    """A question's `weight` is its percent of the whole form (all scored questions sum to 100);
    for a bonus item it is the most percentage points it can add on top."""

    __tablename__ = "qa_scorecard_questions"
    __table_args__ = (UniqueConstraint("scorecard_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("qa_scorecards.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("qa_scorecard_sections.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    text_en: Mapped[str] = mapped_column(String(500))
    text_zh: Mapped[str] = mapped_column(String(500))
    help_en: Mapped[str] = mapped_column(Text, default="")
    help_zh: Mapped[str] = mapped_column(Text, default="")
    scale: Mapped[str] = mapped_column(String(16))  # yes_no | one_to_five | points
    max_points: Mapped[int] = mapped_column(Integer, default=1)
    raw_weight: Mapped[float] = mapped_column(Float, default=1.0)
    weight: Mapped[float] = mapped_column(Float)
    allows_na: Mapped[bool] = mapped_column(Boolean, default=False)
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    bonus: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"value": 5, "label_en": ..., "label_zh": ..., "guidance_en": ..., "guidance_zh": ...}]
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    section: Mapped[ScorecardSection] = relationship(back_populates="questions")
    scorecard: Mapped[Scorecard] = relationship(lazy="raise_on_sql")
