"""The agent's side: acknowledging, disputing answers short of full marks within the window, and
arbitration that upholds or revises with a reason, the timeline keeping every previous score."""

from __future__ import annotations

import pytest

from core.errors import PermissionDenied, ValidationFailed
from qa import disputes, evaluations, scorecards
from qa.errors import DisputeRefused, EvaluationNotFound, WrongState
from tests.qa.conftest import default_answers, record_call


@pytest.fixture
def scored(session, world, clock):  # type: ignore[no-untyped-def]
    card = scorecards.seed_default(session)
    recording = record_call(session, agent=world.agents[0], started_at=clock.now())
    draft = evaluations.create_draft(session, recording_id=recording.id, by=world.inspector)
    evaluations.save(session, evaluation_id=draft.id, by=world.inspector,
                     answers=default_answers(card, courtesy=3, tone_pace=4, hold_transfer_phrases=None))
    evaluation = evaluations.submit(session, evaluation_id=draft.id, by=world.inspector)
    session.commit()
    questions = {q.code: q.id for q in card.questions}
    return evaluation, questions


def test_the_agent_acknowledges(session, world, scored) -> None:  # type: ignore[no-untyped-def]
    evaluation, questions = scored
    with pytest.raises(EvaluationNotFound):
        disputes.acknowledge(session, evaluation_id=evaluation.id, by=world.agents[1])
    disputes.acknowledge(session, evaluation_id=evaluation.id, by=world.agents[0])
    assert evaluation.status == "acknowledged"
    with pytest.raises(DisputeRefused):  # accepted: no dispute after that
        disputes.dispute(session, evaluation_id=evaluation.id, by=world.agents[0],
                         question_ids=[questions["courtesy"]], reason="on reflection")
    with pytest.raises(WrongState):
        disputes.acknowledge(session, evaluation_id=evaluation.id, by=world.agents[0])


def test_only_answers_short_of_full_marks_are_disputed(session, world, scored) -> None:  # type: ignore[no-untyped-def]
    evaluation, questions = scored
    with pytest.raises(DisputeRefused) as caught:
        disputes.dispute(session, evaluation_id=evaluation.id, by=world.agents[0],
                         question_ids=[questions["courtesy"], questions["summarise_need"],
                                       questions["hold_transfer_phrases"], questions["proactive_care"]],
                         reason="")
    problems = {tuple(e["loc"]): e["msg"] for e in caught.value.errors}
    assert ("reason",) in problems
    assert "full marks" in str(problems[("question_ids", questions["summarise_need"])])
    assert "N/A" in str(problems[("question_ids", questions["hold_transfer_phrases"])])
    assert ("question_ids", questions["proactive_care"]) in problems  # the bonus item was not answered
    assert ("question_ids", questions["courtesy"]) not in problems
    assert evaluation.status == "submitted"


def test_the_window_closes(session, world, clock, scored) -> None:  # type: ignore[no-untyped-def]
    evaluation, questions = scored
    clock.advance(days=7)
    with pytest.raises(DisputeRefused) as caught:
        disputes.dispute(session, evaluation_id=evaluation.id, by=world.agents[0],
                         question_ids=[questions["courtesy"]], reason="too late?")
    assert "window has closed" in caught.value.message and caught.value.params["until"]


def test_arbitration_revises_and_keeps_the_previous_score(session, world, clock, scored) -> None:  # type: ignore[no-untyped-def]
    evaluation, questions = scored
    before = evaluation.score
    clock.advance(days=6, hours=23)
    item = disputes.dispute(session, evaluation_id=evaluation.id, by=world.agents[0],
                            question_ids=[questions["courtesy"], questions["tone_pace"]],
                            reason="The caller was shouting; I stayed calm.")
    assert evaluation.status == "disputed" and item.score_before == before
    with pytest.raises(PermissionDenied):  # not the author
        disputes.arbitrate(session, dispute_id=item.id, by=world.inspector, decision="uphold", reason="fine")
    with pytest.raises(PermissionDenied):  # not the agent
        disputes.arbitrate(session, dispute_id=item.id, by=world.agents[0], decision="uphold", reason="fine")
    with pytest.raises(ValidationFailed):  # only the disputed answers change
        disputes.arbitrate(session, dispute_id=item.id, by=world.team_inspector, decision="revise", reason="r",
                           answers=[{"question_id": questions["standard_phrases"], "value": 1}])
    with pytest.raises(ValidationFailed):
        disputes.arbitrate(session, dispute_id=item.id, by=world.team_inspector, decision="revise", reason=" ",
                           answers=[{"question_id": questions["courtesy"], "value": 5}])
    assert [d.id for d in disputes.open_disputes(session, user=world.team_inspector)] == [item.id]
    assert disputes.open_disputes(session, user=world.inspector) == []
    revised = disputes.arbitrate(session, dispute_id=item.id, by=world.team_inspector, decision="revise",
                                 reason="Calm under pressure: courtesy is a 5.",
                                 answers=[{"question_id": questions["courtesy"], "value": 5}])
    session.commit()
    assert revised.status == "resolved" and revised.score > before
    assert (item.status, item.score_before, item.score_after) == ("revised", before, revised.score)
    events = evaluations.timeline(session, evaluation_id=evaluation.id, user=world.supervisor)
    assert [e.kind for e in events] == ["created", "submitted", "disputed", "revised"]
    assert (events[-1].from_score, events[-1].to_score) == (before, revised.score)
    assert events[-1].reason.startswith("Calm") and events[-1].details["changes"][str(questions["courtesy"])] == {
        "from": {"value": 3, "not_applicable": False}, "to": {"value": 5, "not_applicable": False}}
    with pytest.raises(WrongState):
        disputes.arbitrate(session, dispute_id=item.id, by=world.supervisor, decision="uphold", reason="again")


def test_a_supervisor_upholds_and_names_arbitrators(session, world, scored) -> None:  # type: ignore[no-untyped-def]
    evaluation, questions = scored
    item = disputes.dispute(session, evaluation_id=evaluation.id, by=world.agents[0],
                            question_ids=[questions["courtesy"]], reason="disagree")
    with pytest.raises(ValidationFailed):  # the author cannot arbitrate their own evaluation
        disputes.assign_arbitrator(session, dispute_id=item.id, arbitrator_id=world.inspector.id, by=world.supervisor)
    disputes.assign_arbitrator(session, dispute_id=item.id, arbitrator_id=world.team_inspector.id,
                               by=world.supervisor)
    assert disputes.open_disputes(session, user=world.far_inspector) == []
    upheld = disputes.arbitrate(session, dispute_id=item.id, by=world.supervisor, decision="uphold",
                                reason="The tone was curt at 1:10.")
    assert upheld.status == "resolved" and upheld.score == item.score_before == item.score_after
    assert item.status == "upheld" and item.decided_by_id == world.supervisor.id


def test_naming_the_arbitrator(session, world, scored) -> None:  # type: ignore[no-untyped-def]
    evaluation, questions = scored
    item = disputes.dispute(session, evaluation_id=evaluation.id, by=world.agents[0],
                            question_ids=[questions["courtesy"]], reason="disagree")
    names = {u.id for u in disputes.arbitrator_candidates(session, dispute_id=item.id, by=world.supervisor)}
    assert world.team_inspector.id in names and world.supervisor.id in names
    assert world.inspector.id not in names and world.far_inspector.id not in names  # the author; another site
    with pytest.raises(PermissionDenied):  # inspectors do not name arbitrators
        disputes.arbitrator_candidates(session, dispute_id=item.id, by=world.team_inspector)
    with pytest.raises(PermissionDenied):
        disputes.assign_arbitrator(session, dispute_id=item.id, arbitrator_id=world.team_inspector.id,
                                   by=world.team_inspector)
    with pytest.raises(ValidationFailed):  # an agent is no arbitrator
        disputes.assign_arbitrator(session, dispute_id=item.id, arbitrator_id=world.agents[1].id, by=world.supervisor)
    with pytest.raises(ValidationFailed):  # nor is an unknown person
        disputes.assign_arbitrator(session, dispute_id=item.id, arbitrator_id=999_999, by=world.supervisor)
    disputes.assign_arbitrator(session, dispute_id=item.id, arbitrator_id=world.team_inspector.id, by=world.supervisor)
    assert [d.id for d in disputes.open_disputes(session, user=world.team_inspector)] == [item.id]
    with pytest.raises(PermissionDenied):  # assigned to another: a fellow inspector may not decide it
        disputes.arbitrate(session, dispute_id=item.id, by=world.loose_inspector, decision="uphold", reason="x")
    disputes.arbitrate(session, dispute_id=item.id, by=world.team_inspector, decision="uphold", reason="Fair.")
    with pytest.raises(WrongState):  # decided: nobody is named any more
        disputes.assign_arbitrator(session, dispute_id=item.id, arbitrator_id=world.supervisor.id,
                                   by=world.supervisor)
