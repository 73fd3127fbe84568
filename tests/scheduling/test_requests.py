"""Leave and swaps through their services: bad input, level-by-level approval, the swap flow,
and the monthly and payback limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.errors import PermissionDenied
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
    with pytest.raises(PermissionDenied):  # an agent is no leader
        swaps.approve(session, swap_id=swap.id, by=outsider)
    assert (swap.requester_leader_id, swap.partner_leader_id) == (None, None)
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
    # Nor may whoever works that day take it as leave, unless it is a special case asked two days ahead.
    with pytest.raises(LeaveRuleViolated) as caught:
        leave.request(session, user_id=a.id, kind="personal", start=shift.start_at, end=shift.end_at, by=a)
    assert [v.rule for v in caught.value.violations] == ["leave.holiday_not_special"]
    special = leave.request(session, user_id=a.id, kind="personal", start=shift.start_at, end=shift.end_at, by=a,
                            holiday_special_case=True)
    assert special.status == "pending" and special.steps == ["supervisor"]


def test_medical_certificate_due_overdue_and_received(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    from core import audit
    from core.errors import PermissionDenied, ValidationFailed
    from scheduling.errors import AlreadyDecided

    me = world.agents[0]
    shift = assign(session, world, me, date(2026, 1, 6))
    back = assign(session, world, me, date(2026, 1, 8))
    sick = leave.request(session, user_id=me.id, kind="sick", start=shift.start_at, end=shift.end_at,
                         by=world.leader)
    personal = leave.request(session, user_id=me.id, kind="personal", start=datetime(2026, 1, 20, tzinfo=UTC),
                             end=datetime(2026, 1, 21, tzinfo=UTC), by=me)
    session.commit()
    assert [r.id for r in leave.certificates_due(session, viewer=world.supervisor)] == [sick.id]
    assert not leave.certificate_overdue(sick, today=back.day)  # due on the first day back
    clock.set(datetime(2026, 1, 9, 9, tzinfo=UTC))
    assert leave.certificate_overdue(sick, today=date(2026, 1, 9))
    assert leave.enforce_certificates(session) == 1 and sick.absence_rule == "leave.certificate_overdue"
    with pytest.raises(PermissionDenied):
        leave.record_certificate(session, leave_id=sick.id, by=me)  # a leader records it
    with pytest.raises(PermissionDenied):
        leave.certificates_due(session, viewer=me)
    with pytest.raises(ValidationFailed, match="needs no medical certificate"):
        leave.record_certificate(session, leave_id=personal.id, by=world.leader)
    leave.record_certificate(session, leave_id=sick.id, by=world.leader)
    session.commit()
    assert sick.certificate_received_at == datetime(2026, 1, 9, 9, tzinfo=UTC)
    assert not leave.certificate_overdue(sick, today=date(2026, 1, 9))
    assert leave.certificates_due(session, viewer=world.supervisor) == []
    with pytest.raises(AlreadyDecided):
        leave.record_certificate(session, leave_id=sick.id, by=world.leader)
    entry = audit.entries_for(session, object_type="leave", object_id=sick.id,
                              action_prefix="leave.certificate_received")[0]
    assert entry.actor_id == world.leader.id


def test_leave_and_swaps_listed_by_site(session, world) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_site, make_user

    me = world.agents[0]
    mine = leave.request(session, user_id=me.id, kind="personal", start=datetime(2026, 1, 20, tzinfo=UTC),
                         end=datetime(2026, 1, 21, tzinfo=UTC), by=me)
    elsewhere = make_site(session)
    stranger_leader = make_user(session, role="team_leader", site=elsewhere)
    session.commit()
    assert [r.id for r in leave.list_requests(session, viewer=world.leader)] == [mine.id]
    assert leave.list_requests(session, viewer=stranger_leader) == []
    assert [r.id for r in leave.list_requests(session, viewer=me)] == [mine.id]
    assert leave.list_requests(session, viewer=world.agents[1]) == []
    swap = swaps.request(session, shift_id=assign(session, world, me, date(2026, 1, 12)).id,
                         partner_id=world.agents[1].id, by=me)
    session.commit()
    assert [s.id for s in swaps.list_swaps(session, viewer=world.leader)] == [swap.id]
    assert swaps.list_swaps(session, viewer=stranger_leader) == []
    assert [s.id for s in swaps.list_swaps(session, viewer=world.agents[1])] == [swap.id]


def test_days_off_are_asked_for_coming_days_and_kept_by_the_solver_input(session, world) -> None:  # type: ignore[no-untyped-def]
    from core.errors import Conflict, PermissionDenied, ValidationFailed
    from scheduling import days_off, roster
    from tests.factories import make_site, make_user

    me = world.agents[0]
    wish = days_off.request(session, user_id=me.id, day=date(2026, 1, 13), by=me, reason="Wedding")
    for bad in (date(2026, 1, 5), date(2026, 1, 4), date(2026, 6, 1)):  # today (Berlin), the past, too far
        with pytest.raises(ValidationFailed):
            days_off.request(session, user_id=me.id, day=bad, by=me)
    with pytest.raises(Conflict):
        days_off.request(session, user_id=me.id, day=date(2026, 1, 13), by=me)
    with pytest.raises(PermissionDenied):
        days_off.request(session, user_id=me.id, day=date(2026, 1, 14), by=world.agents[1])
    stranger = make_user(session, role="team_leader", site=make_site(session))
    with pytest.raises(PermissionDenied):
        days_off.request(session, user_id=me.id, day=date(2026, 1, 14), by=stranger)
    days_off.request(session, user_id=me.id, day=date(2026, 1, 14), by=world.leader)  # a leader of the site may
    session.commit()
    assert [w.day for w in days_off.days_off_of(session, user_id=me.id, first=date(2026, 1, 12),
                                                last=date(2026, 1, 18))] == [date(2026, 1, 13), date(2026, 1, 14)]
    plan = roster.create(session, site_id=world.site.id, first_day=date(2026, 1, 12), last_day=date(2026, 1, 14),
                         by=world.leader)
    problem, _ = roster.build_problem(session, plan, {"slot_minutes": 60, "demand": {"": [1] * 72}})
    assert next(a for a in problem.agents if a.id == me.id).days_off == frozenset({1, 2})
    with pytest.raises(PermissionDenied):
        days_off.withdraw(session, day_off_id=wish.id, by=world.agents[1])
    days_off.withdraw(session, day_off_id=wish.id, by=me)
    session.commit()
    assert [w.day for w in days_off.days_off_of(session, user_id=me.id, first=date(2026, 1, 12),
                                                last=date(2026, 1, 18))] == [date(2026, 1, 14)]
