"""Versioned scorecards: a definition is checked, its weights normalised to 100 %, and stored as a
new (code, version); the previous version is retired, never edited, so old evaluations keep it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.audit import record as audit
from core.errors import Conflict, ValidationFailed
from core.models import User
from qa.defaults import DEFAULT_CODE, DEFAULT_SCORECARD
from qa.errors import ScorecardNotFound
from qa.models import Scorecard, ScorecardQuestion, ScorecardSection
from qa.schemas import QuestionIn, ScorecardIn, parse
from qa.scoring import SCALE_RANGES, QuestionRule, normalise

__all__ = ["active", "create", "definition_of", "describe", "get", "list_scorecards", "new_version", "rules_of",
           "seed_default"]


def _bounds(question: QuestionIn) -> tuple[int, int]:
    return SCALE_RANGES.get(question.scale, (0, question.max_points or 0))


def _check(definition: ScorecardIn) -> tuple[str, list[float], list[list[float]]]:
    """Every semantic problem at once; returns the weighting mode, the sections' percents and
    each section's scored questions' percents of the form."""
    errors: list[dict[str, object]] = []
    seen: set[str] = set()
    weighted = [s.weight is not None for s in definition.sections]
    if any(weighted) and not all(weighted):
        errors.append({"loc": ["sections"], "msg": "Give every section a weight, or none (then questions are "
                                                   "weighted across the whole form)."})
    for si, section in enumerate(definition.sections):
        for qi, q in enumerate(section.questions):
            loc: list[object] = ["sections", si, "questions", qi]
            if q.code in seen:
                errors.append({"loc": [*loc, "code"], "msg": "The question code %(code)s is used twice.",
                               "params": {"code": q.code}})
            seen.add(q.code)
            if q.scale == "points" and not q.max_points:
                errors.append({"loc": [*loc, "max_points"], "msg": "A points question needs max_points."})
            if q.weight < 0:
                errors.append({"loc": [*loc, "weight"], "msg": "Weights cannot be negative."})
            if q.bonus and q.critical:
                errors.append({"loc": loc, "msg": "A bonus item cannot also be critical."})
            if q.bonus and not 0 < q.weight <= 100:
                errors.append({"loc": [*loc, "weight"], "msg": "A bonus item's weight is the points it can add, "
                                                                "from more than 0 up to 100."})
            low, high = _bounds(q)
            values = [level.value for level in q.levels]
            if len(values) != len(set(values)) or any(not low <= v <= high for v in values):
                errors.append({"loc": [*loc, "levels"],
                               "msg": "Levels must be distinct values from %(low)s to %(high)s.",
                               "params": {"low": low, "high": high}})
    if len({s.code for s in definition.sections}) != len(definition.sections):
        errors.append({"loc": ["sections"], "msg": "Section codes must be distinct."})
    if errors:
        raise ValidationFailed(errors)
    mode = "section" if all(weighted) else "question"
    raw_sections = [float(s.weight or 0) if mode == "section" else sum(q.weight for q in s.questions if not q.bonus)
                    for s in definition.sections]  # every section is weighted in the section mode
    section_pcts = normalise(raw_sections, loc=["sections", "weight"])
    question_pcts: list[list[float]] = []
    for si, (section, pct) in enumerate(zip(definition.sections, section_pcts, strict=True)):
        raws = [q.weight for q in section.questions if not q.bonus]
        if pct > 0:
            if not raws:
                raise ValidationFailed([{"loc": ["sections", si], "msg": "This section has a weight but no scored "
                                                                         "question (only bonus items)."}])
            shares = normalise(raws, loc=["sections", si, "questions", "weight"])
            question_pcts.append([pct * share / 100.0 for share in shares])
        else:
            question_pcts.append([0.0 for _ in raws])
    return mode, section_pcts, question_pcts


def _build(definition: ScorecardIn, *, version: int, by: User | None, supersedes: Scorecard | None) -> Scorecard:
    mode, section_pcts, question_pcts = _check(definition)
    card = Scorecard(code=definition.code, version=version, name_en=definition.name_en, name_zh=definition.name_zh,
                     status="active", weighting=mode, supersedes_id=supersedes.id if supersedes else None,
                     created_by_id=by.id if by else None)
    for si, section in enumerate(definition.sections):
        row = ScorecardSection(position=si, code=section.code, title_en=section.title_en, title_zh=section.title_zh,
                               raw_weight=section.weight, weight=round(section_pcts[si], 6))
        scored = iter(question_pcts[si])
        for qi, q in enumerate(section.questions):
            low, high = _bounds(q)
            row.questions.append(ScorecardQuestion(
                position=qi, code=q.code, text_en=q.text_en, text_zh=q.text_zh, help_en=q.help_en,
                help_zh=q.help_zh, scale=q.scale, max_points=high, raw_weight=q.weight,
                weight=float(q.weight) if q.bonus else round(next(scored), 6), allows_na=q.allows_na,
                critical=q.critical, bonus=q.bonus, levels=[level.model_dump() for level in q.levels],
                scorecard=card))
        card.sections.append(row)
    return card


def _store(session: Session, card: Scorecard, by: User | None) -> Scorecard:
    session.add(card)
    session.flush()
    audit(session, action="qa.scorecard.versioned", actor_id=by.id if by else None,
          actor_name=by.username if by else None, object_type="qa_scorecard", object_id=card.id,
          details={"code": card.code, "version": card.version, "supersedes_id": card.supersedes_id})
    return card


def create(session: Session, *, definition: Mapping[str, Any] | ScorecardIn, by: User | None) -> Scorecard:
    """A new scorecard (version 1); Conflict if the code exists (make a new version instead)."""
    parsed = parse(ScorecardIn, definition)
    if session.scalar(select(Scorecard.id).where(Scorecard.code == parsed.code).limit(1)) is not None:
        raise Conflict("A scorecard with this code exists; make a new version of it instead.",
                       params={"code": parsed.code})
    return _store(session, _build(parsed, version=1, by=by, supersedes=None), by)


def new_version(session: Session, *, code: str, definition: Mapping[str, Any] | ScorecardIn,
                by: User | None) -> Scorecard:
    """The next version of `code`, which becomes the active one; the previous active version is
    retired (kept with its questions for the evaluations that used it)."""
    data = definition.model_dump() if isinstance(definition, ScorecardIn) else dict(definition)
    data["code"] = code
    parsed = parse(ScorecardIn, data)
    latest = session.scalar(select(func.max(Scorecard.version)).where(Scorecard.code == code))
    if latest is None:
        raise ScorecardNotFound("No scorecard with this code; create it first.", params={"code": code})
    current = session.scalar(select(Scorecard).where(Scorecard.code == code, Scorecard.status == "active"))
    card = _build(parsed, version=latest + 1, by=by, supersedes=current)
    if current is not None:
        current.status, current.retired_at = "retired", clock.now()
        session.flush()
    return _store(session, card, by)


def seed_default(session: Session, *, by: User | None = None) -> Scorecard:
    """The shipped scorecard, created once; later calls return the active version of it."""
    existing = session.scalar(select(Scorecard).where(Scorecard.code == DEFAULT_CODE)
                              .order_by(Scorecard.status == "active", Scorecard.version.desc()).limit(1))
    if existing is not None:
        current = session.scalar(select(Scorecard).where(Scorecard.code == DEFAULT_CODE,
                                                         Scorecard.status == "active"))
        return current or existing
    return create(session, definition=DEFAULT_SCORECARD, by=by)


def get(session: Session, *, scorecard_id: int) -> Scorecard:
    card = session.get(Scorecard, scorecard_id)
    if card is None:
        raise ScorecardNotFound()
    return card


def active(session: Session, *, code: str = DEFAULT_CODE) -> Scorecard:
    """The version in use; the default scorecard is seeded on first need."""
    card = session.scalar(select(Scorecard).where(Scorecard.code == code, Scorecard.status == "active"))
    if card is None and code == DEFAULT_CODE:
        return seed_default(session)
    if card is None:
        raise ScorecardNotFound("This scorecard has no active version.", params={"code": code})
    return card


def list_scorecards(session: Session, *, include_retired: bool = False) -> list[Scorecard]:
    query = select(Scorecard).order_by(Scorecard.code, Scorecard.version.desc())
    if not include_retired:
        query = query.where(Scorecard.status == "active")
    return list(session.scalars(query))


def rules_of(card: Scorecard) -> dict[int, QuestionRule]:
    return {q.id: QuestionRule.of(q) for q in card.questions}


def describe(card: Scorecard, *, with_questions: bool = True) -> dict[str, Any]:
    """The scorecard as plain data for the API and pages (both languages)."""
    data: dict[str, Any] = {
        "id": card.id, "code": card.code, "version": card.version, "name_en": card.name_en, "name_zh": card.name_zh,
        "status": card.status, "weighting": card.weighting, "supersedes_id": card.supersedes_id,
        "created_at": card.created_at.isoformat()}
    if with_questions:
        data["sections"] = [{
            "id": s.id, "code": s.code, "title_en": s.title_en, "title_zh": s.title_zh, "weight": round(s.weight, 4),
            "questions": [{
                "id": q.id, "code": q.code, "text_en": q.text_en, "text_zh": q.text_zh, "help_en": q.help_en,
                "help_zh": q.help_zh, "scale": q.scale, "min_value": QuestionRule.of(q).bounds[0],
                "max_value": q.max_points, "weight": round(q.weight, 4), "allows_na": q.allows_na,
                "critical": q.critical, "bonus": q.bonus, "levels": q.levels} for q in s.questions],
        } for s in card.sections]
    return data


def definition_of(card: Scorecard) -> dict[str, Any]:
    """The definition this version was made from, to start the next version's editor."""
    return {"code": card.code, "name_en": card.name_en, "name_zh": card.name_zh, "sections": [{
        "code": s.code, "title_en": s.title_en, "title_zh": s.title_zh,
        "weight": s.raw_weight if card.weighting == "section" else None,
        "questions": [{"code": q.code, "text_en": q.text_en, "text_zh": q.text_zh, "help_en": q.help_en,
                       "help_zh": q.help_zh, "scale": q.scale,
                       "max_points": q.max_points if q.scale == "points" else None, "weight": q.raw_weight,
                       "allows_na": q.allows_na, "critical": q.critical, "bonus": q.bonus, "levels": q.levels}
                      for q in s.questions]} for s in card.sections]}
