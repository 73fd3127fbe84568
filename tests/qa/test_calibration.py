"""Calibration: blind scoring (no peek before submitting), the report against the expert's reference,
and calibration evaluations kept out of the agent's figures."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest

from core.errors import NotFound, PermissionDenied, ValidationFailed
from qa import assignments, calibration, disputes, evaluations, scorecards, stats
from qa.errors import CalibrationBlind, EvaluationNotFound
from qa.models import CoachingTask
from tests.qa.conftest import default_answers, record_call


@pytest.fixture
def setup(session, world, clock):  # type: ignore[no-untyped-def]
    card = scorecards.seed_default(session)
    recording = record_call(session, agent=world.agents[0], started_at=clock.now() - timedelta(hours=2))
    created = calibration.create(session, recording_id=recording.id, expert_id=world.inspector.id,
                                 inspector_ids=[world.team_inspector.id, world.loose_inspector.id],
                                 by=world.supervisor, title="January calibration")
    session.commit()
    return card, created


def _score(session, calibration_id, user, answers):  # type: ignore[no-untyped-def]
    mine = calibration.my_evaluation(session, calibration_id=calibration_id, by=user)
    evaluations.save(session, evaluation_id=mine.id, by=user, answers=answers)
    return evaluations.submit(session, evaluation_id=mine.id, by=user)


def test_no_peek_before_submitting(session, world, setup) -> None:  # type: ignore[no-untyped-def]
    card, created = setup
    expert = _score(session, created.id, world.inspector, default_answers(card, courtesy=4))
    assert expert.is_reference and not expert.counts and expert.dispute_until is None
    mine = calibration.my_evaluation(session, calibration_id=created.id, by=world.team_inspector)
    with pytest.raises(CalibrationBlind):
        calibration.submitted_evaluations(session, calibration_id=created.id, user=world.team_inspector)
    with pytest.raises(CalibrationBlind):
        calibration.report(session, calibration_id=created.id, user=world.team_inspector)
    with pytest.raises(CalibrationBlind):
        evaluations.get(session, evaluation_id=expert.id, user=world.team_inspector)
    with pytest.raises(EvaluationNotFound):  # outsiders never see it; the agent neither
        evaluations.get(session, evaluation_id=expert.id, user=world.agents[0])
    with pytest.raises(NotFound):  # not a participant: the session does not exist for them
        calibration.my_evaluation(session, calibration_id=created.id, by=world.far_inspector)
    with pytest.raises(PermissionDenied):  # the creator runs it but does not score in it
        calibration.my_evaluation(session, calibration_id=created.id, by=world.supervisor)
    # The creator follows along at any time; the expert has submitted and may look too.
    assert len(calibration.submitted_evaluations(session, calibration_id=created.id, user=world.supervisor)) == 1
    assert len(calibration.submitted_evaluations(session, calibration_id=created.id, user=world.inspector)) == 1
    evaluations.save(session, evaluation_id=mine.id, by=world.team_inspector, answers=default_answers(card))
    evaluations.submit(session, evaluation_id=mine.id, by=world.team_inspector)
    assert evaluations.get(session, evaluation_id=expert.id, user=world.team_inspector).id == expert.id
    with pytest.raises(EvaluationNotFound):  # no dispute on a calibration evaluation
        disputes.acknowledge(session, evaluation_id=expert.id, by=world.agents[0])


def test_report_against_the_expert(session, world, setup) -> None:  # type: ignore[no-untyped-def]
    card, created = setup
    codes = {q.code: q.id for q in card.questions}
    expert = _score(session, created.id, world.inspector, default_answers(card, courtesy=4))
    first = _score(session, created.id, world.team_inspector, default_answers(card, courtesy=4, tone_pace=3))
    second = _score(session, created.id, world.loose_inspector, default_answers(card, hold_transfer_phrases=None))
    assert (expert.score, first.score, second.score) == (95.31, 87.81, 100.0)
    report = calibration.report(session, calibration_id=created.id, user=world.loose_inspector)
    assert report["expert_score"] == 95.31 and report["inspectors_submitted"] == 2
    by_question = {q["code"]: q for q in report["questions"]}
    assert by_question["courtesy"]["agreement_rate"] == 0.5
    assert by_question["tone_pace"]["agreement_rate"] == 0.5
    assert by_question["hold_transfer_phrases"]["agreement_rate"] == 0.5
    assert by_question["summarise_need"]["agreement_rate"] == 1.0
    assert by_question["proactive_care"]["agreement_rate"] == 1.0  # nobody gave the bonus
    assert by_question["tone_pace"]["spread"] == {"stdev": 25.0, "min": 50.0, "max": 100.0, "range": 50.0}
    assert by_question["courtesy"]["answers"][str(world.team_inspector.id)] == {"value": 4, "not_applicable": False}
    inspectors = {i["inspector_id"]: i for i in report["inspectors"]}
    assert inspectors[world.team_inspector.id]["deviation"] == -7.5
    assert inspectors[world.loose_inspector.id]["deviation"] == 4.69
    assert inspectors[world.team_inspector.id]["agreement_rate"] == 0.875  # 7 of 8 questions
    assert inspectors[world.loose_inspector.id]["agreement_rate"] == 0.75
    assert report["spread"]["range"] == 12.19
    assert report["spread"]["stdev"] == round(statistics.pstdev([87.81, 100.0]), 2)
    assert report["mean_score"] == round((87.81 + 100.0) / 2, 2)
    assert codes  # every question of the card is in the report
    assert len(report["questions"]) == len(card.questions)


def test_calibration_does_not_count_for_the_agent(session, world, clock, setup) -> None:  # type: ignore[no-untyped-def]
    card, created = setup
    _score(session, created.id, world.inspector, default_answers(card, no_rudeness=0))  # 0: would ask for coaching
    start, end = clock.now() - timedelta(days=1), clock.now() + timedelta(days=1)
    assert stats.agent_averages(session, start, end) == {}
    assert session.query(CoachingTask).count() == 0
    cover = assignments.coverage(session, team_id=world.team.id, month=clock.now().strftime("%Y-%m"),
                              user=world.supervisor)
    assert cover["evaluated"] == 0
    # And a regular evaluation of the same recording is still possible.
    regular = evaluations.create_draft(session, recording_id=created.recording_id, by=world.team_inspector)
    assert regular.counts


def test_creating_a_session_locates_each_refusal(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    scorecards.seed_default(session)
    recording = record_call(session, agent=world.agents[0], started_at=clock.now() - timedelta(hours=2))
    with pytest.raises(ValidationFailed) as refused:  # no expert, and nobody else invited
        calibration.create(session, recording_id=recording.id, inspector_ids=[], expert_id=None, by=world.inspector)
    assert sorted(e["loc"][0] for e in refused.value.errors) == ["expert_id", "inspector_ids"]
    with pytest.raises(ValidationFailed) as refused:  # an agent can be neither expert nor inspector
        calibration.create(session, recording_id=recording.id, inspector_ids=[world.agents[1].id],
                           expert_id=world.agents[2].id, by=world.inspector)
    assert sorted(e["loc"][0] for e in refused.value.errors) == ["expert_id", "inspector_ids"]
    with pytest.raises(ValidationFailed) as refused:  # the expert alone is not a session
        calibration.create(session, recording_id=recording.id, inspector_ids=[world.inspector.id],
                           expert_id=world.inspector.id, by=world.inspector)
    assert [e["loc"][0] for e in refused.value.errors] == ["inspector_ids"]
    with pytest.raises(PermissionDenied):  # a recording of another site
        far = record_call(session, agent=world.far_agent, started_at=clock.now() - timedelta(hours=2))
        calibration.create(session, recording_id=far.id, inspector_ids=[world.team_inspector.id],
                           expert_id=world.supervisor.id, by=world.inspector)


def test_listing_sessions_participants_and_invitees(session, world, setup) -> None:  # type: ignore[no-untyped-def]
    _card, created = setup
    assert [c.id for c in calibration.sessions_for(session, user=world.team_inspector)] == [created.id]
    assert [c.id for c in calibration.sessions_for(session, user=world.supervisor)] == [created.id]  # its creator
    assert calibration.sessions_for(session, user=world.far_inspector) == []
    people = calibration.participants(session, calibration_id=created.id, user=world.team_inspector)
    assert [(p.user_id, p.is_expert) for p in people] == [
        (world.team_inspector.id, False), (world.loose_inspector.id, False), (world.inspector.id, True)]
    assert calibration.own_evaluation(session, calibration_id=created.id, user=world.team_inspector) is None
    mine = calibration.my_evaluation(session, calibration_id=created.id, by=world.team_inspector)
    assert calibration.own_evaluation(session, calibration_id=created.id, user=world.team_inspector).id == mine.id
    with pytest.raises(NotFound):
        calibration.participants(session, calibration_id=created.id, user=world.far_inspector)
    invitees = {u.id for u in calibration.candidates(session, by=world.inspector)}
    assert {world.inspector.id, world.team_inspector.id, world.loose_inspector.id, world.supervisor.id} <= invitees
    assert world.far_inspector.id not in invitees and world.agents[0].id not in invitees
