"""Aggregates over counted evaluations (submitted, not calibration), in SQL: averages per agent,
per question (by code, so they span scorecard versions) and per month, for coaching and reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.orm import Session

from qa.models import Evaluation, EvaluationAnswer, ScorecardQuestion

__all__ = ["agent_averages", "agent_question_averages", "counted", "monthly_series", "question_averages"]


def counted(start: datetime, end: datetime, *, team_id: int | None = None, site_id: int | None = None,
            agent_id: int | None = None) -> list[Any]:
    """The filter for evaluations that count: submitted (or later), not calibration, with a
    score, for calls in [start, end), within the scope given."""
    clauses: list[Any] = [Evaluation.calibration_id.is_(None), Evaluation.status != "draft",
                          Evaluation.score.is_not(None), Evaluation.call_started_at >= start,
                          Evaluation.call_started_at < end]
    if team_id is not None:
        clauses.append(Evaluation.team_id == team_id)
    if site_id is not None:
        clauses.append(Evaluation.site_id == site_id)
    if agent_id is not None:
        clauses.append(Evaluation.agent_id == agent_id)
    return clauses


def _percent() -> Any:
    """An answer's share of its question's full marks, in percent (the scoring fraction)."""
    value = cast(EvaluationAnswer.value, Float)
    return case((ScorecardQuestion.scale == "one_to_five", (value - 1.0) * 25.0),
                (ScorecardQuestion.scale == "yes_no", value * 100.0),
                else_=value * 100.0 / cast(ScorecardQuestion.max_points, Float))


def agent_averages(session: Session, start: datetime, end: datetime, **scope: Any) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(Evaluation.agent_id, func.count(), func.avg(Evaluation.score), func.min(Evaluation.score),
               func.max(Evaluation.score), func.sum(case((Evaluation.auto_failed.is_(True), 1), else_=0)),
               func.sum(case((Evaluation.bonus_points > 0, 1), else_=0)))
        .where(*counted(start, end, **scope)).group_by(Evaluation.agent_id))
    return {agent: {"evaluations": n, "average": _r(avg), "min": _r(low), "max": _r(high),
                    "auto_fails": int(fails or 0), "with_bonus": int(bonus or 0)}
            for agent, n, avg, low, high, fails, bonus in rows}


def _answers(start: datetime, end: datetime, scope: dict[str, Any]) -> Any:
    return (select().select_from(EvaluationAnswer)
            .join(Evaluation, Evaluation.id == EvaluationAnswer.evaluation_id)
            .join(ScorecardQuestion, ScorecardQuestion.id == EvaluationAnswer.question_id)
            .where(*counted(start, end, **scope), EvaluationAnswer.not_applicable.is_(False),
                   EvaluationAnswer.value.is_not(None), ScorecardQuestion.bonus.is_(False)))


def question_averages(session: Session, start: datetime, end: datetime, **scope: Any) -> list[dict[str, Any]]:
    """Per question code: answers, average percent, answers short of full marks and their share,
    and how many agents fell short at least once; weakest first."""
    percent = _percent()
    short = case((percent < 99.999, 1), else_=0)
    query = _answers(start, end, scope).add_columns(
        ScorecardQuestion.code, func.max(ScorecardQuestion.text_en), func.max(ScorecardQuestion.text_zh),
        func.count(), func.avg(percent), func.sum(short),
        func.count(func.distinct(case((percent < 99.999, Evaluation.agent_id), else_=None)))
    ).group_by(ScorecardQuestion.code)
    result = [{"code": code, "text_en": text_en, "text_zh": text_zh, "answers": n, "average": _r(avg),
               "below_full": int(below or 0), "below_full_share": round((below or 0) / n, 4) if n else 0.0,
               "agents_below_full": int(agents or 0)}
              for code, text_en, text_zh, n, avg, below, agents in session.execute(query)]
    return sorted(result, key=lambda r: (r["average"] if r["average"] is not None else 101, r["code"]))


def agent_question_averages(session: Session, start: datetime, end: datetime,
                            **scope: Any) -> dict[int, dict[str, float | None]]:
    query = _answers(start, end, scope).add_columns(Evaluation.agent_id, ScorecardQuestion.code,
                                                    func.avg(_percent())).group_by(Evaluation.agent_id,
                                                                                   ScorecardQuestion.code)
    found: dict[int, dict[str, float | None]] = {}
    for agent, code, avg in session.execute(query):
        found.setdefault(agent, {})[code] = _r(avg)
    return found


def monthly_series(session: Session, months: Sequence[tuple[str, datetime, datetime]], *, by_agent: bool = True,
                   **scope: Any) -> dict[Any, dict[str, dict[str, Any]]]:
    """Average and count per month key (and per agent when `by_agent`), in one grouped query."""
    if not months:
        return {}
    bucket = case(*[(Evaluation.call_started_at < end, key) for key, _start, end in months])
    columns = [Evaluation.agent_id] if by_agent else []
    query = (select(*columns, bucket.label("month"), func.count(), func.avg(Evaluation.score))
             .where(*counted(months[0][1], months[-1][2], **scope))
             .group_by(*columns, bucket))
    found: dict[Any, dict[str, dict[str, Any]]] = {}
    for row in session.execute(query):
        owner = row[0] if by_agent else "all"
        month, n, avg = str(row[-3]), row[-2], row[-1]
        found.setdefault(owner, {})[month] = {"evaluations": n, "average": _r(avg)}
    return found


def _r(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)
