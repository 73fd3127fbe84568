"""Leave and swaps through their services: bad input, level-by-level approval, the swap flow,
and the monthly and payback limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from scheduling import leave, swaps
from scheduling.errors import LeaveRuleViolated, NotYourTurn, SwapRuleViolated
from scheduling.models import Shift
from tests.scheduling.conftest import assign


def test_leave_for_someone_elses_shift_and_in_the_past(session, world) -> None:  # type: ignore[no-untyped-def]
    other = assign(session, world, world.agents[1], date(2026, 1, 12))
    me = world.agents[0]
    with pytest.raises(LeaveRuleViolated) as caught:
        leave.request(session, user_id=me.id, kind="personal", start=other.start_at, end=other.end_at, by=me,
                      shift_id=other.id)
    assert [v.rule for v in caught.value.violations] == ["leave.not_own_shift"]
    with pytest.raises(LeaveRuleViolated) as caught:
        leave.request(session, user_id=me.id, kind="personal", start=datetime(2026, 1, 4, tzinfo=UTC),
                      end=datetime(2026, 1, 5, tzinfo=UTC), by=me)
    assert [v.rule for v in caught.value.violations] == ["leave.in_past"]


def test_personal_leave_level_by_level(session, world) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    request = leave.request(session, user_id=me.id, kind="personal", start=datetime(2026, 1, 12, tzinfo=UTC),
                            end=datetime(2026, 1, 14, tzinfo=UTC), by=me)
    assert request.steps == ["supervisor", "center_head"] and not request.late
    with pytest.raises(NotYourTurn):
        leave.approve(session, leave_id=request.id, by=world.leader)  # a team leader lacks the level
    leave.approve(session, leave_id=request.id, by=world.supervisor)
    assert request.status == "pending" and request.step_index == 1
    with pytest.raises(NotYourTurn):
        leave.approve(session, leave_id=request.id, by=world.supervisor)  # the next level is the center head's
    leave.approve(session, leave_id=request.id, by=world.center_head)
    assert request.status == "approved"


def test_sick_leave_reported_by_the_leader_and_late_refusal_is_absence(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    shift = assign(session, world, me, date(2026, 1, 6))
    nxt = assign(session, world, me, date(2026, 1, 8))
    sick = leave.request(session, user_id=me.id, kind="sick", start=shift.start_at, end=shift.end_at,
                         by=world.leader)
    assert sick.certificate_due_on == nxt.day and sick.steps == ["supervisor"]
    with pytest.raises(LeaveRuleViolated):
        leave.request(session, user_id=me.id, kind="personal", start=nxt.start_at, end=nxt.end_at, by=world.leader)
    session.rollback()
    clock.set(datetime(2026, 1, 7, 20, tzinfo=UTC))  # less than a day before the 08:00 shift
    late = leave.request(session, user_id=me.id, kind="personal", start=nxt.start_at, end=nxt.end_at, by=me)
    assert late.late
    leave.refuse(session, leave_id=late.id, by=world.supervisor, note="too late")
    assert late.status == "refused" and late.counts_as_absence


def _swap_flow(session, world, requester, partner, shift, pays_back_id=None):  # type: ignore[no-untyped-def]
    swap = swaps.request(session, shift_id=shift.id, partner_id=partner.id, by=requester, pays_back_id=pays_back_id)
    swaps.confirm(session, swap_id=swap.id, by=partner)
    leaders = {world.leader.team_id: world.leader, world.other_leader.team_id: world.other_leader}
    for leader in {leaders[requester.team_id].id: leaders[requester.team_id],
                   leaders[partner.team_id].id: leaders[partner.team_id]}.values():
        swaps.approve(session, swap_id=swap.id, by=leader)
    session.commit()
    return swap


def test_swap_with_oneself_is_refused(session, world) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    shift = assign(session, world, me, date(2026, 1, 12))
    with pytest.raises(SwapRuleViolated) as caught:
        swaps.request(session, shift_id=shift.id, partner_id=me.id, by=me)
    assert [v.rule for v in caught.value.violations] == ["swap.self"]


def test_swap_flow_payback_and_the_monthly_limit(session, world) -> None:  # type: ignore[no-untyped-def]
    a, b, c = world.agents[0], world.agents[1], world.agents[2]
    first = _swap_flow(session, world, a, b, assign(session, world, a, date(2026, 1, 12)))
    assert first.status == "registered" and session.get(Shift, first.shift_id).user_id == b.id
    # A owes B: no second swap before paying back.
    second_shift = assign(session, world, a, date(2026, 1, 14))
    with pytest.raises(SwapRuleViolated) as caught:
        swaps.request(session, shift_id=second_shift.id, partner_id=c.id, by=a)
    assert [v.rule for v in caught.value.violations] == ["swap.unpaid"]  # a owes b
    session.rollback()
    payback = _swap_flow(session, world, b, a, assign(session, world, b, date(2026, 1, 16)), pays_back_id=first.id)
    assert payback.status == "registered" and first.paid_back_at is not None
    second = _swap_flow(session, world, a, c, second_shift)
    _swap_flow(session, world, c, a, assign(session, world, c, date(2026, 1, 18)), pays_back_id=second.id)
    third_shift = assign(session, world, a, date(2026, 1, 22))
    with pytest.raises(SwapRuleViolated) as caught:
        swaps.request(session, shift_id=third_shift.id, partner_id=world.agents[3].id, by=a)
    assert [v.rule for v in caught.value.violations] == ["swap.max_per_month", "swap.skill_level"]
    # The swapped shift cannot then be taken as leave by whoever works it.
    session.rollback()
    taken = session.get(Shift, first.shift_id)
    with pytest.raises(LeaveRuleViolated) as caught:
        leave.request(session, user_id=b.id, kind="personal", start=taken.start_at, end=taken.end_at, by=b)
    assert [v.rule for v in caught.value.violations] == ["leave.swapped_shift"]


def test_only_the_right_people_confirm_and_approve(session, world) -> None:  # type: ignore[no-untyped-def]
    a, b = world.agents[0], world.agents[1]
    swap = swaps.request(session, shift_id=assign(session, world, a, date(2026, 1, 12)).id, partner_id=b.id, by=a)
    with pytest.raises(NotYourTurn):
        swaps.confirm(session, swap_id=swap.id, by=a)
    outsider = world.agents[2]
    with pytest.raises(Exception):  # an agent is no leader  # noqa: B017
        swaps.approve(session, swap_id=swap.id, by=outsider)
    swaps.approve(session, swap_id=swap.id, by=world.leader)
    assert swap.requester_leader_id == world.leader.id and swap.partner_leader_id is None
    swaps.approve(session, swap_id=swap.id, by=world.other_leader)
    assert swap.status == "proposed"  # still waiting for the partner's confirmation
    swaps.confirm(session, swap_id=swap.id, by=b)
    assert swap.status == "registered"


def test_no_swap_on_a_public_holiday(session, world) -> None:  # type: ignore[no-untyped-def]
    from scheduling import holidays

    a = world.agents[0]
    shift = assign(session, world, a, date(2026, 1, 12))
    holidays.add(session, site_id=None, day=date(2026, 1, 12), name="Test holiday")
    with pytest.raises(SwapRuleViolated) as caught:
        swaps.request(session, shift_id=shift.id, partner_id=world.agents[1].id, by=a)
    assert [v.rule for v in caught.value.violations] == ["swap.public_holiday"]
    assert timedelta(0) == timedelta(0)
