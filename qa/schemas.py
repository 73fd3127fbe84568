"""Pydantic shapes at QA's edges: a scorecard definition (checked by the service too, so every
caller gets the same errors) and the API's request bodies."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from core.errors import ValidationFailed

CODE = r"^[a-z][a-z0-9_]{0,39}$"


class LevelIn(BaseModel):
    value: int
    label_en: str = Field(min_length=1, max_length=200)
    label_zh: str = Field(default="", max_length=200)
    guidance_en: str = ""
    guidance_zh: str = ""


class QuestionIn(BaseModel):
    code: str = Field(pattern=CODE)
    text_en: str = Field(min_length=1, max_length=500)
    text_zh: str = Field(min_length=1, max_length=500)
    help_en: str = ""
    help_zh: str = ""
    scale: Literal["yes_no", "one_to_five", "points"]
    max_points: int | None = Field(default=None, ge=1, le=100)
    weight: float = 1.0
    allows_na: bool = False
    critical: bool = False
    bonus: bool = False
    levels: list[LevelIn] = []


class SectionIn(BaseModel):
    code: str = Field(pattern=CODE)
    title_en: str = Field(min_length=1, max_length=200)
    title_zh: str = Field(min_length=1, max_length=200)
    weight: float | None = None
    questions: list[QuestionIn] = Field(min_length=1)


class ScorecardIn(BaseModel):
    code: str = Field(pattern=CODE)
    name_en: str = Field(min_length=1, max_length=200)
    name_zh: str = Field(min_length=1, max_length=200)
    sections: list[SectionIn] = Field(min_length=1)


def parse(model: type[BaseModel], data: Any) -> Any:
    """`data` as `model`, or ValidationFailed with each problem's location."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed([{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]) from None


# API bodies ---------------------------------------------------------------------------------

class AnswerIn(BaseModel):
    question_id: int
    value: int | None = None
    not_applicable: bool = False
    comment: str | None = Field(default=None, max_length=2000)


class DraftIn(BaseModel):
    recording_id: int
    assignment_id: int | None = None
    scorecard_id: int | None = None


class SaveIn(BaseModel):
    answers: list[AnswerIn] = []
    version: int | None = None


class NoteIn(BaseModel):
    at_seconds: int = Field(ge=0)
    body: str = Field(min_length=1, max_length=2000)
    question_id: int | None = None


class DisputeIn(BaseModel):
    question_ids: list[int] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=2000)


class ArbitrateIn(BaseModel):
    decision: Literal["uphold", "revise"]
    reason: str = Field(min_length=1, max_length=2000)
    answers: list[AnswerIn] = []


class PlanIn(BaseModel):
    team_id: int
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    seed: int | None = Field(default=None, ge=1, le=2**31 - 2)


class CalibrationIn(BaseModel):
    recording_id: int
    inspector_ids: list[int] = Field(min_length=1)
    expert_id: int
    title: str = Field(default="", max_length=200)
    scorecard_id: int | None = None


class TrainingPlanIn(BaseModel):
    team_id: int
    week_start: date


class TrainingPlanEdit(BaseModel):
    body: str | None = Field(default=None, max_length=20000)
    common_problems: list[dict[str, Any]] | None = None
    individuals: list[dict[str, Any]] | None = None


class QualityReportIn(BaseModel):
    team_id: int
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    analysis: str = Field(default="", max_length=50000)


class CoachingDoneIn(BaseModel):
    note: str = Field(default="", max_length=2000)
