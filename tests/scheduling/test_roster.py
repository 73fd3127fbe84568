"""Roster generation as a job: progress on the job row and as events, shifts written, hand edits."""

from __future__ import annotations

from datetime import date

import pytest

from core.events import InProcessBus, get_bus
from scheduling import roster
from scheduling.errors import ShiftRuleViolated
from scheduling.models import DayOffRequest, RosterJob
from scheduling.rules.shifts import schedule_violations
from scheduling.settings import policy
from scheduling import shifts as shift_service


def _demand(days: int, per_day: list[tuple[int, int, int]]) -> list[int]:
    """Agents per 30-minute slot from (first slot, last slot, agents) ranges of each local day."""
    needs = [0] * (48 * days)
    for d in range(days):
        for first, last, n in per_day:
            for k in range(first, last):
                needs[d * 48 + k] = n
    return needs


def test_generate_a_roster_and_edit_it(session, world) -> None:  # type: ignore[no-untyped-def]
    session.add(DayOffRequest(user_id=world.agents[0].id, day=date(2026, 1, 13)))
    plan = roster.create(session, site_id=world.site.id, first_day=date(2026, 1, 12), last_day=date(2026, 1, 14),
                         by=world.leader)
    # Two agents 08:00-16:00 and one overnight, local time, each of three days.
    job = roster.start_generation(session, roster_id=plan.id, demand={"hotline": _demand(3, [(16, 32, 2), (44, 48, 1)])},
                                  slot_minutes=30, by=world.leader, time_limit_seconds=10)
    session.commit()
    received: list = []
    unsubscribe = get_bus().subscribe(received.append)
    assert roster.run_job(job.id) == "done"
    assert roster.run_job(job.id) == "done"  # idempotent: a finished job is left alone
    session.expire_all()
    job = session.get(RosterJob, job.id)
    assert job.solver_status == "OPTIMAL" and job.uncovered == 0 and job.gap == 0
    assert job.solutions >= 1 and job.objective == job.bound == 9 * 480
    made = roster.shifts_of_roster(session, roster_id=plan.id)
    assert len(made) == 9
    assert not any(s.user_id == world.agents[0].id and s.day == date(2026, 1, 13) for s in made)
    assert schedule_violations([shift_service.facts(s) for s in made], policy(session)) == []
    unsubscribe()
    if isinstance(get_bus(), InProcessBus):  # Redis delivers on its listener thread, later
        assert "roster.progress" in {e.topic for e in received}
    # A hand edit re-checks the rules: a second shift the same day is refused.
    busy = made[0]
    with pytest.raises(ShiftRuleViolated):
        roster.assign(session, roster_id=plan.id, user_id=busy.user_id, day=busy.day, template_id=world.night.id,
                      by=world.leader)
    session.rollback()
    roster.unassign(session, roster_id=plan.id, shift_id=busy.id, by=world.leader)
    session.commit()
    assert len(roster.shifts_of_roster(session, roster_id=plan.id)) == 8


def test_generation_input_is_checked(session, world) -> None:  # type: ignore[no-untyped-def]
    from core.errors import PermissionDenied, ValidationFailed

    plan = roster.create(session, site_id=world.site.id, first_day=date(2026, 1, 12), last_day=date(2026, 1, 12),
                         by=world.leader)
    with pytest.raises(ValidationFailed):
        roster.start_generation(session, roster_id=plan.id, demand={"nope": [1]}, slot_minutes=30, by=world.leader)
    with pytest.raises(PermissionDenied):
        roster.start_generation(session, roster_id=plan.id, demand={"": [1]}, slot_minutes=30, by=world.agents[0])


def test_rosters_listed_by_site_with_their_latest_job(session, world) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_site, make_user

    plan = roster.create(session, site_id=world.site.id, first_day=date(2026, 1, 12), last_day=date(2026, 1, 18),
                         by=world.leader)
    stranger = make_user(session, role="team_leader", site=make_site(session))
    session.commit()
    assert roster.list_rosters(session, viewer=world.leader) == [plan]
    assert roster.list_rosters(session, viewer=stranger) == []
    assert plan in roster.list_rosters(session, viewer=world.center_head)
    assert roster.latest_job(session, roster_id=plan.id) is None
    first = roster.start_generation(session, roster_id=plan.id, demand={"": [1]}, slot_minutes=60, by=world.leader)
    second = roster.start_generation(session, roster_id=plan.id, demand={"": [2]}, slot_minutes=60, by=world.leader)
    assert first.id < second.id and roster.latest_job(session, roster_id=plan.id) == second


def test_a_roster_across_the_spring_change_keeps_local_times(session, world) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from scheduling.forecast import interval_starts

    berlin = ZoneInfo("Europe/Berlin")
    plan = roster.create(session, site_id=world.site.id, first_day=date(2026, 3, 28), last_day=date(2026, 3, 30),
                         by=world.leader)
    # One agent from 08:00 to 16:00 local each day; 29 March has 23 hourly slots.
    demand = []
    for offset in range(3):
        hours = interval_starts(date(2026, 3, 28 + offset), interval_minutes=60, zone="Europe/Berlin")
        demand += [1 if 8 <= moment.astimezone(berlin).hour < 16 else 0 for moment in hours]
    assert len(demand) == 24 + 23 + 24
    job = roster.start_generation(session, roster_id=plan.id, demand={"hotline": demand}, slot_minutes=60,
                                  by=world.leader, time_limit_seconds=10)
    session.commit()
    assert roster.run_job(job.id) == "done"
    session.expire_all()
    made = sorted(roster.shifts_of_roster(session, roster_id=plan.id), key=lambda s: s.start_at)
    assert session.get(RosterJob, job.id).uncovered == 0 and len(made) == 3
    assert [s.start_at for s in made] == [datetime(2026, 3, 28, 7, tzinfo=UTC), datetime(2026, 3, 29, 6, tzinfo=UTC),
                                          datetime(2026, 3, 30, 6, tzinfo=UTC)]  # 08:00 CET, then CEST
    assert {s.start_at.astimezone(berlin).hour for s in made} == {8}
    assert all((s.end_at - s.start_at).total_seconds() == 8 * 3600 for s in made)


def test_the_solver_leaves_each_agent_room_for_a_swap(session, world) -> None:  # type: ignore[no-untyped-def]
    """The demo's solver gave everyone 36 of 40 hours, so every swap broke the weekly rule: now
    each agent keeps one longest shift free in the week (an uncovered slot is reported instead)."""
    from scheduling.rules.shifts import weekly_minutes

    plan = roster.create(session, site_id=world.site.id, first_day=date(2026, 1, 12), last_day=date(2026, 1, 18),
                         by=world.leader)
    three = [a.id for a in world.agents[:3]]
    job = roster.start_generation(session, roster_id=plan.id, demand={"hotline": _demand(7, [(16, 32, 2)])},
                                  slot_minutes=30, by=world.leader, time_limit_seconds=10, user_ids=three)
    session.commit()
    assert roster.run_job(job.id) == "done"
    session.expire_all()
    made = roster.shifts_of_roster(session, roster_id=plan.id)
    limit = policy(session).max_weekly_minutes
    for agent_id in three:
        own = [shift_service.facts(s) for s in made if s.user_id == agent_id]
        assert all(minutes + 480 <= limit for minutes in weekly_minutes(own).values()), agent_id
    job = session.get(RosterJob, job.id)
    assert len(made) == 12 and job.uncovered == 2 * 16  # 14 day shifts wanted, 3 people x 4 shifts given


def test_a_roster_without_shift_templates_fails_and_says_why(session, world, client) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_site, make_user, signed_in_client

    bare = make_site(session, timezone="Asia/Shanghai")
    lead = make_user(session, role="team_leader", site=bare)
    make_user(session, site=bare)
    plan = roster.create(session, site_id=bare.id, first_day=date(2026, 1, 12), last_day=date(2026, 1, 13), by=lead)
    job = roster.start_generation(session, roster_id=plan.id, demand={"": [1] * 48}, slot_minutes=60, by=lead,
                                  time_limit_seconds=5)
    session.commit()
    assert roster.run_job(job.id) == "failed"
    session.expire_all()
    assert session.get(RosterJob, job.id).message == roster.NO_TEMPLATES
    signed_in_client(client, lead)
    page = client.get(f"/shifts/rosters/{plan.id}/jobs/{job.id}", headers={"Accept-Language": "en", "HX-Request": "true"})
    assert page.status_code == 200
    assert "There are no shift templates for this site" in page.text and "roster.no_templates" not in page.text
    page = client.get(f"/shifts/rosters/{plan.id}/jobs/{job.id}", headers={"Accept-Language": "zh-CN", "HX-Request": "true"})
    assert "没有班次模板" in page.text and "roster.no_templates" not in page.text


def test_an_impossible_roster_fails_with_a_reason(session, world) -> None:  # type: ignore[no-untyped-def]
    from scheduling.solver import Agent, Candidate, RosterProblem, solve

    # One agent and one shift, already worked twice over in the week: the model has no solution.
    problem = RosterProblem([Agent(1, fixed=frozenset({0, 1}))],
                            [Candidate(0, 0, 480, "w"), Candidate(0, 600, 1080, "w")], 60, {None: [1]},
                            min_rest_minutes=660)
    assert solve(problem, time_limit_seconds=5).objective is None
    plan = roster.create(session, site_id=world.site.id, first_day=date(2026, 1, 12), last_day=date(2026, 1, 12),
                         by=world.leader)
    job = roster.start_generation(session, roster_id=plan.id, demand={"": [1]}, slot_minutes=60, by=world.leader,
                                  user_ids=[])
    session.commit()
    assert roster.run_job(job.id) == "failed"
    session.expire_all()
    assert session.get(RosterJob, job.id).message == roster.NO_AGENTS


def test_publishing_checks_the_whole_roster_against_the_rules_in_force(session, world) -> None:  # type: ignore[no-untyped-def]
    """Shifts are checked as they are made; the rules may change before the roster is published
    (here the weekly hours are lowered), and a roster that breaks them is not published."""
    from scheduling.errors import RosterRuleViolated
    from scheduling.settings import set_value

    plan = roster.create(session, site_id=world.site.id, first_day=date(2026, 1, 12), last_day=date(2026, 1, 18),
                         by=world.leader)
    agent = world.agents[0]
    for day in range(12, 17):  # five day shifts of 8 hours: the default 40 hours a week
        roster.assign(session, roster_id=plan.id, user_id=agent.id, day=date(2026, 1, day),
                      template_id=world.day.id, by=world.leader)
    session.commit()
    set_value(session, key="max_weekly_minutes", value=32 * 60)
    session.commit()

    with pytest.raises(RosterRuleViolated) as refused:
        roster.publish_roster(session, roster_id=plan.id, by=world.leader)
    assert [v.rule for v in refused.value.violations] == ["shift.max_weekly_hours"]
    session.rollback()
    assert roster.get(session, roster_id=plan.id).status != "published"

    set_value(session, key="max_weekly_minutes", value=40 * 60)
    assert roster.publish_roster(session, roster_id=plan.id, by=world.leader).status == "published"
