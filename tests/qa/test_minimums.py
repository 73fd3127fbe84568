"""QA as DOMAIN.md's "Quality assurance" part words it (seed 003: 每月每人监听不少于1-5次): each
agent is monitored no fewer than N times a month, N set per team between 1 and 5 (default 3); a
minimum, not a ceiling: targeted picks (complaints, low satisfaction, new agents) come on top,
bounded only by the inspectors' capacity; agents still below the minimum late in the month are
flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import PermissionDenied, ValidationFailed
from qa import assignments, sampling, settings
from qa.models import Assignment
from sqlalchemy import select
from tests.factories import make_user
from tests.qa.conftest import evaluate, make_ticket, record_call

JAN = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # midnight 1 January in Shanghai


def _calls(session, agents, per_day=1, **extra):  # type: ignore[no-untyped-def]
    for agent in agents:
        for day in range(0, 31, 2):
            for hour in range(per_day):
                record_call(session, agent=agent, started_at=JAN + timedelta(days=day, hours=2 + hour), commit=False,
                            **extra)
    session.commit()


def _picks(session, agent) -> list[Assignment]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(Assignment).where(Assignment.agent_id == agent.id)))


def test_each_team_sets_its_own_monthly_minimum_between_1_and_5_default_3(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    assert settings.team_minimum(session, team_id=world.team.id) == 3
    settings.set_team_minimum(session, team_id=world.other_team.id, value=5, by=world.supervisor)
    for bad in (0, 6):
        with pytest.raises(ValidationFailed):
            settings.set_team_minimum(session, team_id=world.team.id, value=bad, by=world.supervisor)
    for outsider in (world.leader, world.inspector, world.far_inspector):
        with pytest.raises(PermissionDenied):
            settings.set_team_minimum(session, team_id=world.team.id, value=4, by=outsider)
    session.commit()
    assert settings.team_minimum(session, team_id=world.other_team.id) == 5
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    _calls(session, [world.agents[0], world.other_agent])
    sampling.build_all(session, month="2026-01")
    assert len(_picks(session, world.agents[0])) == 3
    assert len(_picks(session, world.other_agent)) == 5


def test_the_minimum_is_not_a_ceiling_targeted_picks_come_on_top(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    settings.set_value(session, key="evaluations_per_agent", value=5)  # the default minimum, at the seed's top
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    agent = world.agents[0]
    _calls(session, [agent])
    complaints = {record_call(session, agent=agent, started_at=JAN + timedelta(days=day, hours=5),
                              ticket=make_ticket(session, site=world.site, category="complaint")).id
                  for day in (3, 9, 17, 21, 25, 29)}  # more than the 5 random picks could all take
    result = sampling.build_month(session, team_id=world.team.id, month="2026-01", seed=3)
    picks = _picks(session, agent)
    assert sum(p.kind == "random" for p in picks) == 5
    # The random picks hash the recording ids (which differ from run to run on PostgreSQL): a
    # complaint the random draw took already needs no targeted pick; the others come on top,
    # up to the two the inspectors' capacity leaves.
    left = len(complaints - {p.recording_id for p in picks if p.kind == "random"})
    targeted = [p for p in picks if p.kind == "targeted"]
    assert len(targeted) == result.added_targeted == min(2, left) >= 1
    assert {p.reason for p in targeted} == {"complaint"} and {p.recording_id for p in targeted} <= complaints
    assert len(picks) == 5 + len(targeted) > 5  # more than 5: the seed's numbers are a floor


def test_new_agents_get_targeted_picks_on_top(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2025, 12, 20, tzinfo=UTC))
    newcomer = make_user(session, team=world.team)  # joined in December
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    _calls(session, [newcomer, world.agents[0]], per_day=2)
    sampling.build_month(session, team_id=world.team.id, month="2026-01", seed=9)
    assert [p.reason for p in _picks(session, newcomer) if p.kind == "targeted"] == ["new_agent", "new_agent"]
    assert [p for p in _picks(session, world.agents[0]) if p.kind == "targeted"] == []  # long-serving


def test_targeted_picks_stay_within_the_inspectors_capacity(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    # Three inspectors serve the team (two for the whole site, shared with the other team, and one
    # for the team alone): 10 + 10 / 2 + 10 / 2 = 20 evaluations a month; 3 agents x 3 are the
    # minimum, so 11 are left for targeted picks, and 3 agents x 2 complaints ask for 6.
    settings.set_value(session, key="inspector_monthly_capacity", value=10)
    make_user(session, role="qa_inspector", site=world.site)
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    _calls(session, world.agents)
    complaints = {record_call(session, agent=agent, started_at=JAN + timedelta(days=day, hours=7),
                              ticket=make_ticket(session, site=world.site, category="complaint")).id
                  for agent in world.agents for day in (4, 12)}
    assert sampling.capacity(session, team_ids=[world.team.id]) == {world.team.id: 20}
    first = sampling.build_month(session, team_id=world.team.id, month="2026-01")
    drawn = set(session.scalars(select(Assignment.recording_id).where(Assignment.kind == "random")))
    assert first.added_targeted == len(complaints - drawn) > 0  # every complaint the draw left: within capacity
    session.execute(Assignment.__table__.delete())
    settings.set_value(session, key="inspector_monthly_capacity", value=5)  # 10 a month: 1 left over
    result = sampling.build_month(session, team_id=world.team.id, month="2026-01")
    assert (result.added_random, result.added_targeted) == (9, 1)


def test_agents_below_the_minimum_are_flagged_on_coverage_from_the_20th(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=JAN + timedelta(days=2))
    for day in (3, 4):
        evaluate(session, by=world.inspector, agent=world.agents[1], started_at=JAN + timedelta(days=day))
    settings.set_team_minimum(session, team_id=world.team.id, value=2, by=world.supervisor)
    session.commit()
    clock.set(datetime(2026, 1, 19, 12, tzinfo=UTC))  # the 19th in Shanghai: too early to flag
    early = assignments.coverage(session, team_id=world.team.id, month="2026-01", user=world.leader)
    assert early["minimum"] == 2 and not any(row["below_minimum"] for row in early["agents"])
    clock.set(datetime(2026, 1, 19, 16, tzinfo=UTC))  # midnight: the 20th in Shanghai
    late = assignments.coverage(session, team_id=world.team.id, month="2026-01", user=world.leader)
    flagged = {row["agent_id"] for row in late["agents"] if row["below_minimum"]}
    assert flagged == {world.agents[0].id, world.agents[2].id}
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))  # a month gone by: still flagged
    past = assignments.coverage(session, team_id=world.team.id, month="2026-01", user=world.leader)
    assert {row["agent_id"] for row in past["agents"] if row["below_minimum"]} == flagged
