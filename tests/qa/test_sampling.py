"""Monthly sampling: quotas spread over the weeks, only eligible recordings, targeted extras with
their reasons, reproducible from the stored seed, topped up as weeks complete."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import literal, select

from core.errors import PermissionDenied
from qa import assignments, evaluations, sampling, scorecards
from qa.models import Assignment, SamplingPlan
from tests.qa.conftest import default_answers, make_ticket, rate_followup, record_call

JAN = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # midnight 1 January in Shanghai


def _month_of_calls(session, agents, per_week=10, duration=180):  # type: ignore[no-untyped-def]
    recordings = {}
    for agent in agents:
        for day in range(31):
            if day % 3 == 0 or per_week > 10:
                for _ in range(max(1, per_week // 3)):
                    rec = record_call(session, agent=agent, started_at=JAN + timedelta(days=day, hours=2),
                                      duration=duration, commit=False)
                    recordings.setdefault(agent.id, []).append(rec)
    session.commit()
    return recordings


def _picks(session, plan_id):  # type: ignore[no-untyped-def]
    return list(session.scalars(select(Assignment).where(Assignment.plan_id == plan_id)
                                .order_by(Assignment.agent_id, Assignment.recording_id)))


def test_every_agent_gets_the_quota_spread_over_weeks(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    _month_of_calls(session, world.agents)
    agent = world.agents[0]
    # Recordings that must never be picked: too short, unanswered, a voicemail, failed, another
    # team's, next month's, and one already evaluated.
    excluded = [record_call(session, agent=agent, started_at=JAN + timedelta(days=3), duration=20),
                record_call(session, agent=None, started_at=JAN + timedelta(days=3)),
                record_call(session, agent=agent, started_at=JAN + timedelta(days=3), kind="voicemail"),
                record_call(session, agent=agent, started_at=JAN + timedelta(days=3), status="absent"),
                record_call(session, agent=world.other_agent, started_at=JAN + timedelta(days=3)),
                record_call(session, agent=agent, started_at=JAN + timedelta(days=31, hours=1))]
    done = record_call(session, agent=agent, started_at=JAN + timedelta(days=4))
    evaluations.create_draft(session, recording_id=done.id, by=world.inspector)
    session.commit()

    result = sampling.build_month(session, team_id=world.team.id, month="2026-01", by=world.inspector)
    session.commit()
    assert (result.weeks_complete, result.added_random, result.added_targeted) == (4, 9, 0)
    picks = _picks(session, result.plan.id)
    assert {p.recording_id for p in picks}.isdisjoint({r.id for r in [*excluded, done]})
    for member in world.agents:
        mine = [p for p in picks if p.agent_id == member.id]
        assert len(mine) == 3 and all(p.kind == "random" and p.reason == "random" for p in mine)
        assert len({p.week for p in mine}) == 3  # three picks, three different weeks
        assert sorted(p.rank for p in mine) == [1, 2, 3]
    assert {p.inspector_id for p in picks} == {world.inspector.id, world.team_inspector.id}
    due = {p.week: p.due_on for p in picks}
    expected = {0: date(2026, 1, 14), 1: date(2026, 1, 21), 2: date(2026, 1, 28), 3: date(2026, 2, 7)}
    assert all(due[w] == expected[w] for w in due)
    # Building again finds nothing new.
    again = sampling.build_month(session, team_id=world.team.id, month="2026-01")
    assert (again.plan.id, again.added_random, again.added_targeted) == (result.plan.id, 0, 0)


def test_targeted_extras_cover_different_reasons(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    first, second, third = world.agents
    _month_of_calls(session, [first, second, third], per_week=3)
    day = JAN + timedelta(days=10)
    complaint = record_call(session, agent=first, started_at=day,
                            ticket=make_ticket(session, site=world.site, category="complaint"))
    escalated = record_call(session, agent=first, started_at=day,
                            ticket=make_ticket(session, site=world.site, escalated=True))
    long_first = record_call(session, agent=first, started_at=day, duration=1200)
    unhappy_ticket = make_ticket(session, site=world.site)
    unhappy = record_call(session, agent=second, started_at=day, ticket=unhappy_ticket)
    rate_followup(session, ticket=unhappy_ticket, satisfaction=1)
    short = record_call(session, agent=second, started_at=day, duration=45)
    long = record_call(session, agent=third, started_at=day, duration=1000)

    result = sampling.build_month(session, team_id=world.team.id, month="2026-01", seed=77)
    picks = {p.recording_id: p for p in _picks(session, result.plan.id)}
    expected = {complaint.id: "complaint", escalated.id: "escalation", unhappy.id: "low_satisfaction",
                short.id: "short_call", long.id: "long_call"}
    # Each is picked; one the random draw already took is not picked twice.
    assert set(expected) <= set(picks)
    assert all(picks[r].reason in (reason, "random") for r, reason in expected.items())
    targeted = [p for p in picks.values() if p.kind == "targeted"]
    assert result.added_targeted == len(targeted) and result.plan.targeted_per_agent == 2
    # The first agent's two extras go by priority (complaint, escalation, then the long call),
    # skipping what the random draw took: which ids it draws depends on the database's ids.
    drawn = {p.recording_id for p in picks.values() if p.kind == "random"}
    by_priority = [reason for rid, reason in ((complaint.id, "complaint"), (escalated.id, "escalation"),
                                              (long_first.id, "long_call")) if rid not in drawn]
    assert {p.reason for p in targeted if p.agent_id == first.id} == set(by_priority[:2])
    assert all(sum(1 for p in targeted if p.agent_id == a.id) <= 2 for a in world.agents)


def test_sampling_is_reproducible_from_the_stored_seed(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    _month_of_calls(session, world.agents)
    first = sampling.build_month(session, team_id=world.team.id, month="2026-01", seed=424242)
    chosen = {(p.agent_id, p.recording_id, p.week) for p in _picks(session, first.plan.id)}
    session.delete(first.plan)
    session.flush()
    session.execute(Assignment.__table__.delete())
    again = sampling.build_month(session, team_id=world.team.id, month="2026-01", seed=424242)
    assert again.plan.seed == 424242
    assert {(p.agent_id, p.recording_id, p.week) for p in _picks(session, again.plan.id)} == chosen
    session.delete(again.plan)
    session.flush()
    session.execute(Assignment.__table__.delete())
    other = sampling.build_month(session, team_id=world.team.id, month="2026-01", seed=5)
    assert {(p.agent_id, p.recording_id, p.week) for p in _picks(session, other.plan.id)} != chosen


def test_the_plan_grows_as_weeks_complete(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    _month_of_calls(session, world.agents[:1])
    agent_id = world.agents[0].id
    clock.set(datetime(2026, 1, 7, 12, tzinfo=UTC))  # week 1 not over in Shanghai
    assert sampling.build_month(session, team_id=world.team.id, month="2026-01").weeks_complete == 0
    clock.set(datetime(2026, 1, 8, 1, tzinfo=UTC))
    first = sampling.build_month(session, team_id=world.team.id, month="2026-01")
    assert (first.weeks_complete, first.added_random) == (1, 1)
    clock.set(datetime(2026, 1, 15, 1, tzinfo=UTC))
    assert sampling.build_month(session, team_id=world.team.id, month="2026-01").added_random == 1
    clock.set(datetime(2026, 2, 1, 1, tzinfo=UTC))
    assert sampling.build_month(session, team_id=world.team.id, month="2026-01").added_random == 1
    picks = [p for p in _picks(session, first.plan.id) if p.agent_id == agent_id]
    assert len(picks) == 3 and len({p.week for p in picks}) == 3


def test_sql_hash_matches_python(session) -> None:  # type: ignore[no-untyped-def]
    for number, seed in [(1, 1), (123456789, 2**31 - 2), (2**31 + 5, 99), (7, 0)]:
        assert session.scalar(select(sampling.seeded_hash_sql(literal(number), seed))) == \
            sampling.seeded_hash(number, seed)


def test_queue_and_coverage(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    _month_of_calls(session, world.agents)
    plan = sampling.build_month(session, team_id=world.team.id, month="2026-01").plan
    session.commit()
    queue = assignments.queue(session, user=world.inspector)
    assert queue and all(item["inspector_id"] == world.inspector.id for item in queue)
    assert [item["due_on"] for item in queue] == sorted(item["due_on"] for item in queue)
    assert queue[0]["overdue"] is True  # January's first weeks were due before 2 February
    card = scorecards.active(session)
    item = queue[0]
    evaluation = evaluations.create_draft(session, recording_id=item["recording_id"], by=world.inspector)
    evaluations.save(session, evaluation_id=evaluation.id, by=world.inspector, answers=default_answers(card))
    evaluations.submit(session, evaluation_id=evaluation.id, by=world.inspector)
    assert session.get(Assignment, item["id"]).status == "done"
    cover = assignments.coverage(session, team_id=world.team.id, month="2026-01", user=world.supervisor)
    assert cover["plan_id"] == plan.id and cover["planned"] == 9 and cover["evaluated"] == 1
    row = next(r for r in cover["agents"] if r["agent_id"] == item["agent_id"])
    assert (row["planned"], row["evaluated"], row["assignments_done"]) == (3, 1, 1)
    assert len(assignments.queue(session, user=world.inspector)) == len(queue) - 1


def test_only_inspectors_of_the_site_or_team_build_its_plan(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    for outsider in (world.far_inspector, world.loose_inspector, world.other_leader):
        with pytest.raises(PermissionDenied):
            sampling.build_month(session, team_id=world.team.id, month="2026-01", by=outsider)
    assert sampling.build_month(session, team_id=world.team.id, month="2026-01", by=world.team_inspector).plan
    assert session.scalar(select(SamplingPlan.created_by_id)) == world.team_inspector.id


def test_the_sweep_builds_every_team(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    _month_of_calls(session, world.agents[:1])
    assert sampling.build_due(session) == 3
    assert sampling.build_due(session) == 0
    months = set(session.scalars(select(SamplingPlan.month).where(SamplingPlan.team_id == world.team.id)))
    assert months == {"2026-01", "2026-02"}


def test_many_teams_at_once_pick_as_each_team_alone(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    _month_of_calls(session, [*world.agents, world.other_agent])
    clock.set(datetime(2026, 1, 2, tzinfo=UTC))  # plans made, nothing complete yet
    for team, seed in ((world.team, 11), (world.other_team, 12)):
        sampling.build_month(session, team_id=team.id, month="2026-01", seed=seed)
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    together = sampling.build_all(session, month="2026-01", teams=[world.team, world.other_team])
    assert {t: (r.added_random, r.added_targeted) for t, r in together.items()} == {
        world.team.id: (9, 0), world.other_team.id: (3, 0)}
    chosen = {(p.agent_id, p.recording_id, p.week, p.inspector_id) for p in session.scalars(select(Assignment))}
    assert {pick[3] for pick in chosen if pick[0] == world.other_agent.id} == {world.inspector.id}
    session.execute(Assignment.__table__.delete())
    for team in (world.team, world.other_team):
        sampling.build_month(session, team_id=team.id, month="2026-01")
    assert {(p.agent_id, p.recording_id, p.week, p.inspector_id) for p in session.scalars(select(Assignment))} == chosen
