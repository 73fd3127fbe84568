"""Coaching tasks from scores below the threshold, the weekly summary and training plan, and the
common problems raised at the next roll-call briefing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.errors import NotFound, PermissionDenied, ValidationFailed
from qa import coaching, scorecards, settings
from qa.errors import WrongState
from qa.models import CoachingTask
from tests.qa.conftest import evaluate

MONDAY = date(2026, 1, 12)
WEEK = datetime(2026, 1, 12, 2, tzinfo=UTC)  # Monday 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _card(session):  # type: ignore[no-untyped-def]
    scorecards.seed_default(session)
    session.commit()


def test_a_low_score_asks_the_team_leader_to_coach(session, world) -> None:  # type: ignore[no-untyped-def]
    good = evaluate(session, by=world.inspector, agent=world.agents[0], started_at=WEEK)
    low = evaluate(session, by=world.inspector, agent=world.agents[1], started_at=WEEK, courtesy=1, tone_pace=1)
    failed = evaluate(session, by=world.inspector, agent=world.agents[2], started_at=WEEK, no_rudeness=0)
    assert good.score == 100.0 and low.score < 80 and failed.auto_failed
    tasks = coaching.tasks_for(session, user=world.leader)
    assert {(t.evaluation_id, t.kind) for t in tasks} == {(low.id, "evaluation"), (failed.id, "evaluation")}
    assert coaching.tasks_for(session, user=world.other_leader) == []
    assert len(coaching.tasks_for(session, user=world.supervisor)) == 2
    with pytest.raises(NotFound):
        coaching.complete_task(session, task_id=tasks[0].id, by=world.other_leader)
    done = coaching.complete_task(session, task_id=tasks[0].id, by=world.leader, note="Listened together.")
    assert done.status == "done" and coaching.tasks_for(session, user=world.leader) == [tasks[1]]
    with pytest.raises(WrongState):
        coaching.complete_task(session, task_id=tasks[0].id, by=world.leader)


def test_monthly_average_below_the_threshold_makes_one_task(session, world) -> None:  # type: ignore[no-untyped-def]
    for day in (0, 7):
        evaluate(session, by=world.inspector, agent=world.agents[0], started_at=WEEK + timedelta(days=day),
                 courtesy=2, summarise_need=3)  # 100 - 14.06 - 10 = 75.94 each
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    assert coaching.monthly_coaching(session, month="2026-01", start=start, end=end) == 1
    assert coaching.monthly_coaching(session, month="2026-01", start=start, end=end) == 0
    task = session.query(CoachingTask).filter_by(kind="monthly_average").one()
    assert (task.agent_id, task.month, task.score, task.team_id) == (world.agents[0].id, "2026-01", 75.94, world.team.id)


def test_weekly_summary_finds_common_problems_and_individuals(session, world) -> None:  # type: ignore[no-untyped-def]
    first, second, third = world.agents
    settings.set_value(session, key="common_problem_percent", value=50)
    evaluate(session, by=world.inspector, agent=first, started_at=WEEK, summarise_need=2, courtesy=2)
    evaluate(session, by=world.inspector, agent=second, started_at=WEEK + timedelta(days=1), summarise_need=4)
    evaluate(session, by=world.inspector, agent=third, started_at=WEEK + timedelta(days=2))
    evaluate(session, by=world.inspector, agent=third, started_at=WEEK + timedelta(days=8), summarise_need=1)  # next week
    summary = coaching.weekly_summary(session, team_id=world.team.id, week_start=MONDAY, user=world.inspector)
    assert (summary["evaluations"], summary["agents_evaluated"]) == (3, 3)
    problems = [p["question_code"] for p in summary["common_problems"]]
    assert problems == ["summarise_need"]  # 2 of 3 short of full marks; courtesy's 1 of 3 is under 50 %
    assert summary["questions"][0]["code"] == "summarise_need"  # weakest first
    assert summary["questions"][0]["average"] == round((25 + 75 + 100) / 3, 2)
    assert [i["agent_id"] for i in summary["individuals"]] == [first.id]
    assert summary["individuals"][0]["focus"] == ["courtesy", "summarise_need"]
    with pytest.raises(PermissionDenied):
        coaching.weekly_summary(session, team_id=world.team.id, week_start=MONDAY, user=world.far_inspector)


def test_training_plan_is_edited_published_and_briefed(session, world) -> None:  # type: ignore[no-untyped-def]
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=WEEK, tone_pace=2)
    plan = coaching.draft_training_plan(session, team_id=world.team.id, week_start=MONDAY, by=world.inspector)
    assert [p["question_code"] for p in plan.common_problems] == ["tone_pace"]
    assert coaching.briefing_items(session, team_id=world.team.id, on_date=MONDAY + timedelta(days=7)) == []
    coaching.update_training_plan(session, plan_id=plan.id, by=world.inspector, body="Tone drill on Wednesday.",
                                  common_problems=[{**plan.common_problems[0], "note": "Smile while speaking."}])
    with pytest.raises(PermissionDenied):
        coaching.update_training_plan(session, plan_id=plan.id, by=world.far_inspector, body="x")
    coaching.publish_training_plan(session, plan_id=plan.id, by=world.inspector)
    with pytest.raises(WrongState):
        coaching.update_training_plan(session, plan_id=plan.id, by=world.inspector, body="changed")
    # Refreshing a published plan changes nothing.
    assert coaching.draft_training_plan(session, team_id=world.team.id, week_start=MONDAY,
                                        by=world.inspector).body == "Tone drill on Wednesday."
    items = coaching.briefing_items(session, team_id=world.team.id, on_date=MONDAY + timedelta(days=7))
    assert [(i["question_code"], i["note"], i["text_zh"]) for i in items] == [
        ("tone_pace", "Smile while speaking.", "吐字清晰、语气亲切、语速音量适中")]
    assert coaching.briefing_items(session, team_id=world.other_team.id, on_date=MONDAY + timedelta(days=7)) == []
    assert coaching.briefing_items(session, team_id=world.team.id, on_date=MONDAY + timedelta(days=15)) == []
    assert coaching.briefing_items(session, team_id=world.team.id, on_date=MONDAY - timedelta(days=1)) == []


def test_training_plan_edits_are_checked_and_read(session, world) -> None:  # type: ignore[no-untyped-def]
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=WEEK, tone_pace=2)
    assert coaching.plan_for(session, team_id=world.team.id, week_start=MONDAY, user=world.leader) is None
    with pytest.raises(ValidationFailed):
        coaching.plan_for(session, team_id=world.team.id, week_start=MONDAY + timedelta(days=1), user=world.leader)
    plan = coaching.draft_training_plan(session, team_id=world.team.id, week_start=MONDAY, by=world.inspector)
    assert coaching.plan_for(session, team_id=world.team.id, week_start=MONDAY, user=world.leader).id == plan.id
    assert coaching.get_plan(session, plan_id=plan.id, user=world.leader).id == plan.id
    with pytest.raises(PermissionDenied):
        coaching.get_plan(session, plan_id=plan.id, user=world.other_leader)
    with pytest.raises(NotFound):
        coaching.get_plan(session, plan_id=999_999, user=world.leader)
    with pytest.raises(ValidationFailed) as refused:
        coaching.update_training_plan(session, plan_id=plan.id, by=world.inspector, body="x" * 10_001,
                                      common_problems=[{"text_en": "", "note": ""}, {"text_en": "y" * 501}],
                                      individuals=[{"agent_id": world.agents[0].id, "note": "z" * 501}])
    assert [e["loc"] for e in refused.value.errors] == [["body"], ["common_problems", 0], ["common_problems", 1],
                                                         ["individuals", 0]]
    assert coaching.get_plan(session, plan_id=plan.id, user=world.inspector).body == ""  # nothing half-saved


def test_briefing_is_read_by_the_team_and_its_managers(session, world) -> None:  # type: ignore[no-untyped-def]
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=WEEK, tone_pace=2)
    plan = coaching.draft_training_plan(session, team_id=world.team.id, week_start=MONDAY, by=world.inspector)
    coaching.publish_training_plan(session, plan_id=plan.id, by=world.inspector)
    later = MONDAY + timedelta(days=7)
    for reader in (world.leader, world.agents[0], world.inspector, world.supervisor):
        assert len(coaching.briefing_items(session, team_id=world.team.id, on_date=later, user=reader)) == 1
    for outsider in (world.other_leader, world.far_inspector):
        with pytest.raises(PermissionDenied):
            coaching.briefing_items(session, team_id=world.team.id, on_date=later, user=outsider)


def test_a_coaching_note_has_a_limit(session, world) -> None:  # type: ignore[no-untyped-def]
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=WEEK, courtesy=1, tone_pace=1)
    task = coaching.tasks_for(session, user=world.leader)[0]
    with pytest.raises(ValidationFailed):
        coaching.complete_task(session, task_id=task.id, by=world.leader, note="n" * 2001)
    assert coaching.complete_task(session, task_id=task.id, by=world.leader, note="Talked it through.").status == "done"
