"""Scorecards: the shipped one (both languages, seeded once), weights normalised or refused, and
versions that never change what an existing evaluation used."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, ValidationFailed
from qa import evaluations, scorecards
from qa.defaults import DEFAULT_SCORECARD
from qa.models import Scorecard
from tests.qa.conftest import default_answers, record_call


def _definition(**section_weights: float | None) -> dict:
    return {"code": "mini", "name_en": "Mini", "name_zh": "小表", "sections": [
        {"code": code, "title_en": code, "title_zh": code, "weight": weight, "questions": [
            {"code": f"{code}_a", "text_en": "A", "text_zh": "甲", "scale": "points", "max_points": 10, "weight": 2},
            {"code": f"{code}_b", "text_en": "B", "text_zh": "乙", "scale": "yes_no", "weight": 1,
             "allows_na": True}]}
        for code, weight in section_weights.items()]}


def test_default_scorecard_is_seeded_once_in_both_languages(session) -> None:  # type: ignore[no-untyped-def]
    card = scorecards.seed_default(session)
    again = scorecards.seed_default(session)
    assert again.id == card.id
    assert session.scalar(select(func.count()).select_from(Scorecard)) == 1
    titles = {s.title_zh for s in card.sections}
    assert titles == {"服务用语", "服务态度", "语气语调", "客户需求归纳能力", "应变能力"}
    assert {s.title_en for s in card.sections} >= {"Service language", "Tone and intonation"}
    scored = [q for q in card.questions if not q.bonus]
    assert round(sum(q.weight for q in scored), 6) == 100.0
    assert all(q.text_en and q.text_zh and q.levels for q in card.questions)
    assert any(q.critical for q in card.questions) and any(q.bonus for q in card.questions)
    assert any(q.allows_na for q in card.questions)
    courtesy = next(q for q in card.questions if q.code == "courtesy")
    assert courtesy.weight == pytest.approx(25 * 3 / 4)  # attitude 25 %, courtesy 3 of 4 parts


def test_section_weights_are_normalised_to_100(session) -> None:  # type: ignore[no-untyped-def]
    card = scorecards.create(session, definition=_definition(one=3, two=1), by=None)
    weights = {q.code: q.weight for q in card.questions}
    assert [s.weight for s in card.sections] == [75.0, 25.0]
    assert weights == pytest.approx({"one_a": 50.0, "one_b": 25.0, "two_a": 25 * 2 / 3, "two_b": 25 / 3})


def test_question_weighting_when_no_section_has_a_weight(session) -> None:  # type: ignore[no-untyped-def]
    card = scorecards.create(session, definition=_definition(one=None, two=None), by=None)
    assert card.weighting == "question"
    assert {q.code: q.weight for q in card.questions} == pytest.approx(
        {"one_a": 100 / 3, "one_b": 100 / 6, "two_a": 100 / 3, "two_b": 100 / 6})


def test_a_zero_total_is_refused(session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as caught:
        scorecards.create(session, definition=_definition(one=0, two=0), by=None)
    assert "add up to 0" in caught.value.message
    definition = _definition(one=1)
    for question in definition["sections"][0]["questions"]:
        question["weight"] = 0
    with pytest.raises(ValidationFailed):
        scorecards.create(session, definition=definition, by=None)


def test_definition_errors_are_listed_with_their_place(session) -> None:  # type: ignore[no-untyped-def]
    definition = _definition(one=1, two=None)
    definition["sections"][0]["questions"][1]["code"] = "one_a"
    definition["sections"][0]["questions"][0]["max_points"] = None
    with pytest.raises(ValidationFailed) as caught:
        scorecards.create(session, definition=definition, by=None)
    locations = [tuple(e["loc"]) for e in caught.value.errors]
    assert ("sections",) in locations  # some sections weighted, some not
    assert ("sections", 0, "questions", 1, "code") in locations
    assert ("sections", 0, "questions", 0, "max_points") in locations
    with pytest.raises(ValidationFailed) as caught:
        scorecards.create(session, definition={"code": "Bad Code", "sections": []}, by=None)
    assert {e["loc"][0] for e in caught.value.errors} >= {"code", "name_en", "sections"}


def test_new_version_leaves_old_evaluations_on_their_version(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    first = scorecards.seed_default(session)
    recording = record_call(session, agent=world.agents[0], started_at=clock.now())
    evaluation = evaluations.create_draft(session, recording_id=recording.id, by=world.inspector)
    evaluations.save(session, evaluation_id=evaluation.id, by=world.inspector, answers=default_answers(first))
    evaluations.submit(session, evaluation_id=evaluation.id, by=world.inspector)
    session.commit()
    changed = copy.deepcopy(DEFAULT_SCORECARD)
    changed["sections"][0]["weight"] = 40
    second = scorecards.new_version(session, code="default", definition=changed, by=world.admin)
    session.commit()
    assert (second.version, second.supersedes_id, second.status) == (2, first.id, "active")
    assert session.get(Scorecard, first.id).status == "retired"
    assert scorecards.active(session).id == second.id
    assert evaluation.scorecard_id == first.id and evaluation.score == 100.0
    # The old version's questions are untouched; the new version has its own rows.
    assert {q.id for q in first.questions}.isdisjoint({q.id for q in second.questions})
    assert first.sections[0].weight == 20.0 and second.sections[0].weight == pytest.approx(40 / 120 * 100)
    later = record_call(session, agent=world.agents[0], started_at=clock.now())
    assert evaluations.create_draft(session, recording_id=later.id, by=world.inspector).scorecard_id == second.id


def test_create_refuses_an_existing_code_and_round_trips_its_definition(session) -> None:  # type: ignore[no-untyped-def]
    card = scorecards.create(session, definition=_definition(one=1), by=None)
    with pytest.raises(Conflict):
        scorecards.create(session, definition=_definition(one=1), by=None)
    again = scorecards.new_version(session, code="mini", definition=scorecards.definition_of(card), by=None)
    assert [q.weight for q in again.questions] == [q.weight for q in card.questions]
