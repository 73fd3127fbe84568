"""Assigning shifts by hand: local times to UTC (DST included) and every rule re-checked."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.errors import PermissionDenied
from scheduling import shifts
from scheduling.errors import ShiftRuleViolated
from tests.scheduling.conftest import assign


def test_night_shift_across_spring_forward_in_berlin(session, world) -> None:  # type: ignore[no-untyped-def]
    shift = assign(session, world, world.agents[0], date(2026, 3, 28), night=True)
    assert shift.start_at == datetime(2026, 3, 28, 21, 0, tzinfo=UTC)  # 22:00 CET
    assert shift.end_at == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 8 real hours: 07:00 CEST on the wall clock
    autumn = assign(session, world, world.agents[1], date(2026, 10, 24), night=True)
    assert autumn.start_at == datetime(2026, 10, 24, 20, 0, tzinfo=UTC)  # 22:00 CEST
    assert autumn.end_at.astimezone(shifts.site_zone(session, world.site.id)).hour == 5  # 05:00 CET


def test_overlapping_and_back_to_back_shifts_are_refused(session, world) -> None:  # type: ignore[no-untyped-def]
    agent = world.agents[0]
    assign(session, world, agent, date(2026, 1, 10), night=True)  # 22:00 -> 06:00
    with pytest.raises(ShiftRuleViolated) as caught:
        shifts.assign(session, user_id=agent.id, day=date(2026, 1, 10), template_id=world.day.id, by=world.leader)
    assert [v.rule for v in caught.value.violations] == ["shift.min_rest"]  # 08-16 then 22:00: 6 h of rest
    session.rollback()
    with pytest.raises(ShiftRuleViolated) as caught:
        shifts.assign(session, user_id=agent.id, day=date(2026, 1, 10), template_id=world.night.id, by=world.leader)
    assert [v.rule for v in caught.value.violations] == ["shift.overlap"]
    assert caught.value.errors[0]["rule"] == "shift.overlap"


def test_skill_past_and_permissions(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_user

    newcomer = make_user(session, team=world.team)
    with pytest.raises(ShiftRuleViolated) as caught:
        shifts.assign(session, user_id=newcomer.id, day=date(2026, 1, 4), template_id=world.day.id, by=world.leader)
    assert [v.rule for v in caught.value.violations] == ["shift.in_past", "shift.skill"]
    session.rollback()
    with pytest.raises(PermissionDenied):
        shifts.assign(session, user_id=newcomer.id, day=date(2026, 1, 9), template_id=world.day.id,
                      by=world.agents[0])


def test_unassign_future_only(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    shift = assign(session, world, world.agents[0], date(2026, 1, 6))
    clock.set(datetime(2026, 1, 6, 9, tzinfo=UTC))
    with pytest.raises(ShiftRuleViolated):
        shifts.unassign(session, shift_id=shift.id, by=world.leader)
