"""Leave as DOMAIN.md's "Leave" part words it (seed 003: 请事假要逐级办理，不允许越级请假): days
counted by shift, each approval step by a different person of at least that step's rank and never
an admin, business and study leave to the center head, an overdue medical certificate turning
sick leave into absence until it arrives, and the reason of a refusal kept for the requester."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

import pytest

from core.models import Role
from scheduling import leave, rollcall
from scheduling.errors import LeaveRuleViolated, NotYourTurn
from tests.factories import make_user
from tests.scheduling.conftest import assign


def _kinds(session, user) -> list[str]:  # type: ignore[no-untyped-def]
    from tickets import escalation

    return sorted(n.kind for n in escalation.notifications_for(session, user.id))


def test_days_are_counted_by_shift_a_night_shift_across_midnight_is_one_day(session, world) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    night = assign(session, world, me, date(2026, 1, 12), night=True)  # 22:00 to 06:00 in Berlin
    one = leave.request(session, user_id=me.id, kind="personal", start=night.start_at, end=night.end_at, by=me)
    assert one.steps == ["supervisor"]  # one shift, one day: the supervisor approves
    # The night of the month's last day runs into February: still one day.
    last = assign(session, world, me, date(2026, 1, 31), night=True)
    month_end = leave.request(session, user_id=me.id, kind="personal", start=last.start_at, end=last.end_at, by=me)
    assert month_end.steps == ["supervisor"]
    # Two night shifts are two days: more than one day goes on to the center head.
    first, second = (assign(session, world, me, date(2026, 1, d), night=True) for d in (20, 21))
    two = leave.request(session, user_id=me.id, kind="personal", start=first.start_at, end=second.end_at, by=me)
    assert two.steps == ["supervisor", "center_head"]


def test_each_approval_step_is_taken_by_a_different_person_of_at_least_that_steps_rank(session, world) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    shifts = [assign(session, world, me, date(2026, 1, d)) for d in (12, 13)]
    two_days = leave.request(session, user_id=me.id, kind="personal", start=shifts[0].start_at,
                             end=shifts[1].end_at, by=me)
    assert two_days.steps == ["supervisor", "center_head"]
    with pytest.raises(NotYourTurn):
        leave.approve(session, leave_id=two_days.id, by=world.leader)  # below the supervisor's rank
    # Level by level: the center head does not take the supervisor's step of a request that comes
    # to the center head next; having approved it they could not decide their own step, and a
    # center with one center head would hold the request for ever.
    with pytest.raises(NotYourTurn) as caught:
        leave.approve(session, leave_id=two_days.id, by=world.center_head)
    assert [v.rule for v in caught.value.violations] == ["leave.approver_needed_later"]
    assert two_days not in leave.waiting_for(session, viewer=world.center_head)
    assert two_days in leave.waiting_for(session, viewer=world.supervisor)
    leave.approve(session, leave_id=two_days.id, by=world.supervisor)
    with pytest.raises(NotYourTurn) as caught:  # not the same person twice
        leave.approve(session, leave_id=two_days.id, by=world.supervisor)
    assert "leave.approver_repeated" in [v.rule for v in caught.value.violations]
    assert two_days.status == "pending" and two_days.step_index == 1
    assert two_days in leave.waiting_for(session, viewer=world.center_head)
    leave.approve(session, leave_id=two_days.id, by=world.center_head)
    assert two_days.status == "approved"
    # A rank above the step is enough where no later step is theirs: the center head decides a
    # one-day leave when the supervisor cannot.
    third = assign(session, world, me, date(2026, 1, 15))
    one_day = leave.request(session, user_id=me.id, kind="personal", start=third.start_at, end=third.end_at, by=me)
    assert one_day.steps == ["supervisor"]
    leave.approve(session, leave_id=one_day.id, by=world.center_head)
    assert one_day.status == "approved"


def test_an_admin_is_not_a_leave_approver(session, world) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    shift = assign(session, world, me, date(2026, 1, 12))
    request = leave.request(session, user_id=me.id, kind="personal", start=shift.start_at, end=shift.end_at, by=me)
    admin = make_user(session, role=Role.admin, site=world.site)
    for decide in (leave.approve, functools.partial(leave.refuse, reason="staffing")):
        with pytest.raises(NotYourTurn) as caught:
            decide(session, leave_id=request.id, by=admin)
        assert [v.rule for v in caught.value.violations] == ["leave.approver_admin"]
    assert request.status == "pending" and request.step_index == 0


@pytest.mark.parametrize("kind", ["business", "study"])
def test_business_and_study_leave_are_approved_by_the_center_head(session, world, kind: str) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    shift = assign(session, world, me, date(2026, 1, 12))
    request = leave.request(session, user_id=me.id, kind=kind, start=shift.start_at, end=shift.end_at, by=me,
                            reason="Training course")
    assert request.steps == ["supervisor", "center_head"]  # one day, yet up to the center head, level by level
    leave.approve(session, leave_id=request.id, by=world.supervisor)
    assert request.status == "pending"
    leave.approve(session, leave_id=request.id, by=world.center_head)
    assert request.status == "approved"
    with pytest.raises(LeaveRuleViolated) as caught:  # only the person asks for it
        leave.request(session, user_id=me.id, kind=kind, start=shift.start_at, end=shift.end_at, by=world.leader)
    assert "leave.only_self" in [v.rule for v in caught.value.violations]


def test_an_overdue_medical_certificate_turns_sick_leave_into_absence_until_it_arrives(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    sick_day = assign(session, world, me, date(2026, 1, 7))
    assign(session, world, me, date(2026, 1, 9))  # the first day back
    sick = leave.request(session, user_id=me.id, kind="sick", start=sick_day.start_at, end=sick_day.end_at,
                         by=world.leader)  # phoned in: the team leader reports it
    leave.approve(session, leave_id=sick.id, by=world.supervisor)
    session.commit()
    clock.set(datetime(2026, 1, 9, 10, tzinfo=UTC))  # due today: a reminder, no absence yet
    leave.enforce_certificates(session)
    session.commit()
    assert not sick.counts_as_absence and _kinds(session, me) == ["leave.certificate_due"]
    clock.set(datetime(2026, 1, 10, 9, tzinfo=UTC))  # the day after: overdue
    for _ in range(2):  # the sweep may run any number of times
        leave.enforce_certificates(session)
        session.commit()
    assert sick.status == "approved" and sick.counts_as_absence and sick.absence_rule == "leave.certificate_overdue"
    assert _kinds(session, me) == ["leave.certificate_due", "leave.certificate_overdue"]
    assert _kinds(session, world.leader) == ["leave.certificate_due", "leave.certificate_overdue"]
    entry = rollcall.check_shift(session, shift=sick_day)
    assert entry.status == "absent" and [v["rule"] for v in entry.violations] == ["leave.certificate_overdue"]
    # The certificate arrives: the absence is withdrawn, and the person is told.
    leave.record_certificate(session, leave_id=sick.id, by=world.leader)
    session.commit()
    assert not sick.counts_as_absence and sick.absence_rule is None
    assert "leave.absence_withdrawn" in _kinds(session, me)
    assert rollcall.check_shift(session, shift=sick_day).status == "on_leave"
    leave.enforce_certificates(session)
    assert not sick.counts_as_absence


def test_a_refusal_keeps_its_reason_for_the_requester(session, world) -> None:  # type: ignore[no-untyped-def]
    from core.errors import ValidationFailed

    me = world.agents[0]
    shift = assign(session, world, me, date(2026, 1, 12))
    request = leave.request(session, user_id=me.id, kind="personal", start=shift.start_at, end=shift.end_at, by=me)
    with pytest.raises(ValidationFailed):  # a refusal says why
        leave.refuse(session, leave_id=request.id, by=world.supervisor, reason="other", note=" ")
    with pytest.raises(ValidationFailed):
        leave.refuse(session, leave_id=request.id, by=world.supervisor, reason="because", note="")
    assert request.status == "pending"
    leave.refuse(session, leave_id=request.id, by=world.supervisor, reason="staffing", note="Three are away")
    assert request.status == "refused"
    refusal = leave.refusal_of(session, leave_id=request.id)
    assert (refusal.reason, refusal.note, refusal.step) == ("leave.refused.staffing", "Three are away", "supervisor")


def test_nobody_approves_their_own_leave_and_a_step_needs_at_least_its_rank(session, world) -> None:  # type: ignore[no-untyped-def]
    boss = world.supervisor
    own = leave.request(session, user_id=boss.id, kind="personal", start=datetime(2026, 1, 20, 8, tzinfo=UTC),
                        end=datetime(2026, 1, 20, 16, tzinfo=UTC), by=boss)
    assert own.steps == ["center_head"]  # a supervisor's superior decides it
    with pytest.raises(NotYourTurn) as caught:
        leave.approve(session, leave_id=own.id, by=boss)
    assert [v.rule for v in caught.value.violations] == ["leave.approver_self"]
    assert leave.waiting_for(session, viewer=boss) == []  # not offered to them either
    with pytest.raises(NotYourTurn) as caught:
        leave.approve(session, leave_id=own.id, by=world.leader)
    assert [v.rule for v in caught.value.violations] == ["leave.needs_center_head"]
    assert [r.id for r in leave.waiting_for(session, viewer=world.center_head)] == [own.id]
    leave.approve(session, leave_id=own.id, by=world.center_head)
    assert own.status == "approved"


def test_a_supervisors_own_leave_goes_to_the_center_head_who_decides_it_alone(session, world) -> None:  # type: ignore[no-untyped-def]
    """Level by level, a supervisor's superior is the center head: their leave, of one day or
    more, waits for the center head alone. Before, a two-day request waited at the supervisor's
    step, which the one center head could not take (it is their own step next), for ever."""
    boss = world.supervisor
    two_days = leave.request(session, user_id=boss.id, kind="personal", start=datetime(2026, 1, 12, 8, tzinfo=UTC),
                             end=datetime(2026, 1, 13, 16, tzinfo=UTC), by=boss)
    assert two_days.steps == ["center_head"]
    assert two_days in leave.waiting_for(session, viewer=world.center_head)
    leave.approve(session, leave_id=two_days.id, by=world.center_head)
    assert two_days.status == "approved"
    one = leave.request(session, user_id=boss.id, kind="personal", start=datetime(2026, 1, 20, 8, tzinfo=UTC),
                        end=datetime(2026, 1, 20, 16, tzinfo=UTC), by=boss)
    assert one.steps == ["center_head"]
    with pytest.raises(NotYourTurn):
        leave.approve(session, leave_id=one.id, by=boss)  # never one's own
    # An agent's and a team leader's leave still start with the supervisor.
    mine = world.agents[0]
    shift = assign(session, world, mine, date(2026, 1, 20))
    assert leave.request(session, user_id=mine.id, kind="personal", start=shift.start_at, end=shift.end_at,
                         by=mine).steps == ["supervisor"]
