"""Scoring a recording: draft, answers and notes, submit, what the player shows, who may hear the
recording and see the evaluation, and the refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict
from qa import access, evaluations, scorecards
from qa.errors import EvaluationNotFound, InvalidAnswers, NotEditable, RecordingNotAllowed, RecordingNotEligible
from qa.models import Assignment
from qa.sources import recording_facts
from tests.qa.conftest import default_answers, make_ticket, record_call


@pytest.fixture
def card(session):  # type: ignore[no-untyped-def]
    return scorecards.seed_default(session)


def _q(card, code):  # type: ignore[no-untyped-def]
    return next(q for q in card.questions if q.code == code)


def test_draft_save_submit_and_the_player(session, world, clock, card) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, site=world.site, category="complaint")
    recording = record_call(session, agent=world.agents[0], started_at=clock.now() - timedelta(hours=1),
                            ticket=ticket)
    draft = evaluations.create_draft(session, recording_id=recording.id, by=world.inspector)
    assert (draft.status, draft.agent_id, draft.team_id, draft.ticket_id) == (
        "draft", world.agents[0].id, world.team.id, ticket.id)
    assert evaluations.create_draft(session, recording_id=recording.id, by=world.inspector).id == draft.id
    evaluations.save(session, evaluation_id=draft.id, by=world.inspector,
                     answers=[{"question_id": _q(card, "courtesy").id, "value": 3, "comment": "flat at 0:40"}])
    assert draft.score == 50.0  # the only answered question so far, at 3 of 1-5
    evaluations.add_note(session, evaluation_id=draft.id, by=world.inspector, at_seconds=95, body="no closing")
    evaluations.add_note(session, evaluation_id=draft.id, by=world.inspector, at_seconds=12, body="greeting ok",
                         question_id=_q(card, "standard_phrases").id)
    with pytest.raises(InvalidAnswers) as caught:
        evaluations.submit(session, evaluation_id=draft.id, by=world.inspector)
    assert len(caught.value.errors) == len([q for q in card.questions if not q.bonus]) - 1
    answers = default_answers(card, courtesy=3, hold_transfer_phrases=None)
    answers.append({"question_id": _q(card, "proactive_care").id, "value": 1})
    evaluations.save(session, evaluation_id=draft.id, by=world.inspector, answers=answers)
    submitted = evaluations.submit(session, evaluation_id=draft.id, by=world.inspector)
    session.commit()
    # courtesy is 18.75 % of the form; N/A on hold_transfer (5 %) spreads over the rest: 100 - 18.75/0.95 * 0.5.
    expected = round(100 - (18.75 / 0.95) * 0.5 + 5, 2)
    assert submitted.status == "submitted" and submitted.score == min(100.0, expected)
    assert submitted.bonus_points == 5.0 and evaluations.describe(submitted)["bonus_flagged"] is True
    assert submitted.dispute_until == clock.now() + timedelta(days=7)

    view = evaluations.player(session, evaluation_id=draft.id, user=world.inspector)
    assert [n["at_seconds"] for n in view["notes"]] == [12, 95]
    assert view["ticket"]["number"] == ticket.number and view["ticket"]["complaint"] is True
    assert "subject" not in view["ticket"] and "from_number" not in view["call"]
    assert view["call"]["duration_seconds"] == 200 and view["editable"] is False
    assert view["audio_url"].endswith(f"/recordings/{recording.id}/audio")
    kinds = [e.kind for e in evaluations.timeline(session, evaluation_id=draft.id, user=world.inspector)]
    assert kinds == ["created", "submitted"]


def test_answers_that_do_not_fit_are_refused(session, world, clock, card) -> None:  # type: ignore[no-untyped-def]
    recording = record_call(session, agent=world.agents[0], started_at=clock.now())
    draft = evaluations.create_draft(session, recording_id=recording.id, by=world.inspector)
    other = scorecards.create(session, definition={"code": "other", "name_en": "O", "name_zh": "O", "sections": [
        {"code": "s", "title_en": "S", "title_zh": "S", "questions": [
            {"code": "x", "text_en": "X", "text_zh": "X", "scale": "yes_no"}]}]}, by=None)
    bad = [({"question_id": _q(card, "courtesy").id, "value": 6}, "answers shown (from 1 to 5)"),
           ({"question_id": _q(card, "courtesy").id, "value": 0}, "answers shown (from 1 to 5)"),
           ({"question_id": _q(card, "no_rudeness").id, "not_applicable": True}, "N/A is not allowed"),
           ({"question_id": _q(card, "no_rudeness").id, "value": 1, "not_applicable": True}, "not both"),
           ({"question_id": other.questions[0].id, "value": 1}, "not on the evaluation")]
    for answer, message in bad:
        with pytest.raises(InvalidAnswers) as caught:
            evaluations.save(session, evaluation_id=draft.id, by=world.inspector, answers=[answer])
        assert message in caught.value.message
    assert draft.answers == []


def test_a_submitted_evaluation_cannot_be_edited(session, world, clock, card) -> None:  # type: ignore[no-untyped-def]
    recording = record_call(session, agent=world.agents[0], started_at=clock.now())
    draft = evaluations.create_draft(session, recording_id=recording.id, by=world.inspector)
    evaluations.save(session, evaluation_id=draft.id, by=world.inspector, answers=default_answers(card))
    with pytest.raises(EvaluationNotFound):  # only its author edits a draft
        evaluations.save(session, evaluation_id=draft.id, by=world.team_inspector, answers=[])
    evaluations.submit(session, evaluation_id=draft.id, by=world.inspector)
    with pytest.raises(NotEditable):
        evaluations.save(session, evaluation_id=draft.id, by=world.inspector, answers=default_answers(card))
    with pytest.raises(NotEditable):
        evaluations.add_note(session, evaluation_id=draft.id, by=world.inspector, at_seconds=1, body="late")
    with pytest.raises(NotEditable):
        evaluations.submit(session, evaluation_id=draft.id, by=world.inspector)
    with pytest.raises(Conflict):  # one counted evaluation per recording
        evaluations.create_draft(session, recording_id=recording.id, by=world.team_inspector)


def test_who_may_hear_a_recording(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    mine = record_call(session, agent=world.agents[0], started_at=clock.now())
    other_team = record_call(session, agent=world.other_agent, started_at=clock.now())
    far = record_call(session, agent=world.far_agent, started_at=clock.now())

    def hears(user, recording) -> bool:  # type: ignore[no-untyped-def]
        return access.can_hear(session, user=user, facts=recording_facts(session, recording_id=recording.id))

    assert hears(world.inspector, mine) and hears(world.inspector, other_team) and not hears(world.inspector, far)
    assert hears(world.team_inspector, mine) and not hears(world.team_inspector, other_team)
    assert hears(world.far_inspector, far) and not hears(world.far_inspector, mine)
    assert not hears(world.loose_inspector, mine)
    assert hears(world.leader, mine) and not hears(world.leader, other_team)
    assert hears(world.supervisor, other_team) and not hears(world.supervisor, far)
    assert hears(world.head, far)
    assert hears(world.agents[0], mine) and not hears(world.agents[1], mine)
    with pytest.raises(RecordingNotAllowed):
        evaluations.create_draft(session, recording_id=far.id, by=world.inspector)
    with pytest.raises(RecordingNotAllowed):
        evaluations.create_draft(session, recording_id=mine.id, by=world.loose_inspector)
    # Assigned by sampling, the unscoped inspector may hear it and score it.
    from qa.models import SamplingPlan

    plan = SamplingPlan(team_id=world.team.id, month="2026-01", seed=1, per_agent=1, targeted_per_agent=0,
                        min_seconds=30)
    session.add(plan)
    session.flush()
    session.add(Assignment(plan_id=plan.id, team_id=world.team.id, agent_id=world.agents[0].id,
                           recording_id=mine.id, inspector_id=world.loose_inspector.id, week=0, kind="random",
                           reason="random", rank=1, due_on=clock.now().date()))
    session.flush()
    assert hears(world.loose_inspector, mine)
    draft = evaluations.create_draft(session, recording_id=mine.id, by=world.loose_inspector)
    assert draft.assignment_id is not None


def test_only_a_completed_answered_call_is_evaluated(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    voicemail = record_call(session, agent=world.agents[0], started_at=clock.now(), kind="voicemail")
    with pytest.raises(RecordingNotEligible):
        evaluations.create_draft(session, recording_id=voicemail.id, by=world.inspector)
    with pytest.raises(RecordingNotAllowed):
        evaluations.create_draft(session, recording_id=999999, by=world.inspector)


def test_who_may_see_an_evaluation(session, world, clock, card) -> None:  # type: ignore[no-untyped-def]
    recording = record_call(session, agent=world.agents[0], started_at=clock.now())
    draft = evaluations.create_draft(session, recording_id=recording.id, by=world.inspector)
    for user in (world.agents[0], world.leader, world.supervisor):
        with pytest.raises(EvaluationNotFound):  # a draft is its author's alone
            evaluations.get(session, evaluation_id=draft.id, user=user)
    evaluations.save(session, evaluation_id=draft.id, by=world.inspector, answers=default_answers(card))
    evaluations.submit(session, evaluation_id=draft.id, by=world.inspector)
    for user in (world.agents[0], world.leader, world.supervisor, world.head, world.team_inspector):
        assert evaluations.get(session, evaluation_id=draft.id, user=user).id == draft.id
    for user in (world.agents[1], world.other_leader, world.far_inspector, world.loose_inspector):
        with pytest.raises(EvaluationNotFound):
            evaluations.get(session, evaluation_id=draft.id, user=user)
    assert [e.id for e in evaluations.list_for_agent(session, agent_id=world.agents[0].id,
                                                     user=world.agents[0])] == [draft.id]
    assert evaluations.list_for_agent(session, agent_id=world.agents[0].id, user=world.agents[1]) == []


def test_a_critical_failure_scores_zero(session, world, clock, card) -> None:  # type: ignore[no-untyped-def]
    recording = record_call(session, agent=world.agents[0], started_at=clock.now())
    draft = evaluations.create_draft(session, recording_id=recording.id, by=world.inspector)
    evaluations.save(session, evaluation_id=draft.id, by=world.inspector,
                     answers=default_answers(card, no_rudeness=0))
    submitted = evaluations.submit(session, evaluation_id=draft.id, by=world.inspector)
    assert submitted.auto_failed and submitted.score == 0.0 and submitted.base_score == 93.75  # 100 - 6.25
