"""The score formula, as pure functions (docs/qa-scoring.md explains it with a worked example):
a weighted mean of answer fractions over the applicable questions, whose N/A weight goes to the
rest in proportion, plus bonus points, capped at 100, and 0 when a critical question fails."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationFailed

SCALE_RANGES = {"yes_no": (0, 1), "one_to_five": (1, 5)}


@dataclass(frozen=True)
class QuestionRule:
    """What scoring needs of a question; `weight` is its percent of the form (bonus: its points)."""

    id: int
    code: str
    scale: str
    weight: float
    max_points: int = 1
    allows_na: bool = False
    critical: bool = False
    bonus: bool = False

    @classmethod
    def of(cls, question: Any) -> QuestionRule:
        return cls(id=question.id, code=question.code, scale=question.scale, weight=question.weight,
                   max_points=question.max_points, allows_na=question.allows_na, critical=question.critical,
                   bonus=question.bonus)

    @property
    def bounds(self) -> tuple[int, int]:
        return SCALE_RANGES.get(self.scale, (0, self.max_points))


@dataclass(frozen=True)
class Answer:
    value: int | None = None
    not_applicable: bool = False


@dataclass(frozen=True)
class ScoreResult:
    score: float | None  # None while nothing scored is answered
    base_score: float | None
    bonus_points: float
    auto_failed: bool
    applied_weights: dict[int, float] = field(default_factory=dict)  # after N/A redistribution
    missing: tuple[int, ...] = ()  # scored questions not answered yet


def fraction(rule: QuestionRule, value: int) -> float:
    """The share of the question's weight an answer earns: the lowest answer 0, the highest 1."""
    low, high = rule.bounds
    return (value - low) / (high - low)


def is_full_marks(rule: QuestionRule, answer: Answer) -> bool:
    return not answer.not_applicable and answer.value is not None and fraction(rule, answer.value) >= 1.0


def answer_error(rule: QuestionRule, answer: Answer) -> dict[str, object] | None:
    """Why the answer does not fit the question (an error item's `msg` and `params`), or None
    when it does."""
    low, high = rule.bounds
    params: dict[str, object] = {"question": rule.code, "low": low, "high": high}
    if answer.not_applicable:
        if answer.value is not None:
            return {"msg": "Choose either an answer or N/A, not both.", "params": params}
        if not rule.allows_na:
            return {"msg": "N/A is not allowed on this question; choose an answer.", "params": params}
        return None
    if answer.value is None:
        return None  # unanswered, allowed in a draft
    if isinstance(answer.value, bool) or not isinstance(answer.value, int):
        return {"msg": "Choose one of the answers shown (from %(low)s to %(high)s).", "params": params}
    if not low <= answer.value <= high:
        return {"msg": "Choose one of the answers shown (from %(low)s to %(high)s).",
                "params": {**params, "value": answer.value}}
    return None


def check_answers(rules: Mapping[int, QuestionRule], answers: Mapping[int, Answer]) -> None:
    """Raise ValidationFailed listing every answer that does not fit (or names no question)."""
    errors: list[dict[str, object]] = []
    for question_id, answer in answers.items():
        rule = rules.get(question_id)
        if rule is None:
            errors.append({"loc": ["answers", question_id],
                           "msg": "This question is not on the evaluation's scorecard."})
            continue
        problem = answer_error(rule, answer)
        if problem:
            errors.append({"loc": ["answers", question_id], **problem})
    if errors:
        from qa.errors import InvalidAnswers

        raise InvalidAnswers(errors)


def compute(rules: Iterable[QuestionRule], answers: Mapping[int, Answer]) -> ScoreResult:
    """Score the answers given so far. Unanswered and N/A scored questions drop out and their
    weight is shared among the answered ones in proportion to their weights."""
    rules = list(rules)
    scored = [r for r in rules if not r.bonus]
    applicable: list[tuple[QuestionRule, float]] = []
    missing: list[int] = []
    auto_failed = False
    for rule in scored:
        answer = answers.get(rule.id)
        if answer is None or (answer.value is None and not answer.not_applicable):
            missing.append(rule.id)
            continue
        if answer.not_applicable:
            continue
        share = fraction(rule, answer.value)  # type: ignore[arg-type]
        applicable.append((rule, share))
        auto_failed = auto_failed or (rule.critical and share <= 0.0)
    total_weight = sum(rule.weight for rule, _ in applicable)
    applied = {rule.id: rule.weight * 100.0 / total_weight for rule, _ in applicable} if total_weight > 0 else {}
    base = sum(applied[rule.id] * share for rule, share in applicable) if applied else None
    bonus = 0.0
    for rule in rules:
        answer = answers.get(rule.id)
        if rule.bonus and answer is not None and answer.value is not None and not answer.not_applicable:
            bonus += rule.weight * fraction(rule, answer.value)
    if base is None:
        score = None
    elif auto_failed:
        score = 0.0
    else:
        score = min(100.0, base + bonus)
    return ScoreResult(score=_round(score), base_score=_round(base), bonus_points=round(bonus, 2),
                       auto_failed=auto_failed, applied_weights={k: round(v, 4) for k, v in applied.items()},
                       missing=tuple(missing))


def normalise(weights: Sequence[float], *, loc: list[object]) -> list[float]:
    """Scale non-negative weights to sum to 100; a zero (or negative) total is refused."""
    if any(w < 0 for w in weights):
        raise ValidationFailed([{"loc": loc, "msg": "Weights cannot be negative."}])
    total = float(sum(weights))
    if total <= 0:
        raise ValidationFailed([{"loc": loc, "msg": "The weights add up to 0; give at least one a positive weight."}])
    return [w * 100.0 / total for w in weights]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
