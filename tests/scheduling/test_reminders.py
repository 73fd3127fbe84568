"""Reminders that beat's sweeps send, tested on the injected clock: a handover not accepted within
N minutes of the shift change, and medical certificates due (then overdue). Each sweep is
idempotent: however often it runs, a person is told once; what is done settles the reminder."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from core import users, worker
from scheduling import dutylog, handover, leave, tasks
from scheduling.settings import set_value
from tests.factories import fresh
from tests.scheduling.conftest import assign
from tickets import escalation

MONDAY = date(2026, 1, 12)


def _unread(session, user) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.kind for n in escalation.notifications_for(fresh(session), user.id, unread_only=True)]


def test_the_sweeps_are_run_by_beat() -> None:
    assert {"scheduling.sweep_handovers", "scheduling.sweep_certificates"} <= set(worker.SWEEPS)


def test_a_handover_not_accepted_within_n_minutes_of_the_shift_change_is_reminded(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    users.set_skill(session, user_id=world.leader.id, skill_code="hotline", level=3)
    shift = assign(session, world, world.leader, MONDAY)  # the outgoing lead's day shift, 08:00 to 16:00
    set_value(session, key="handover_accept_minutes", value=20)
    log = dutylog.open_log(session, site_id=world.site.id, day=MONDAY, shift_kind="day", by=world.leader)
    draft = handover.write(session, duty_log_id=log.id, by=world.leader, equipment_status="All fine",
                           nothing_to_report=[n for n in handover.FIELDS if n != "equipment_status"])
    handover.submit(session, handover_id=draft.id, by=world.leader)
    session.commit()
    clock.set(shift.end_at + timedelta(minutes=19))
    assert tasks.sweep_handovers() == 0
    clock.set(shift.end_at + timedelta(minutes=20))
    for _ in range(2):
        tasks.sweep_handovers()
    for person in (world.leader, world.other_leader, world.supervisor):  # outgoing, incoming, their supervisor
        assert _unread(session, person) == ["handover.not_accepted"], person.username
    assert _unread(session, world.agents[0]) == []
    note = escalation.notifications_for(session, world.other_leader.id)[0]
    assert note.params["handover_id"] == draft.id and note.params["minutes"] == 20
    handover.accept(session, handover_id=draft.id, by=world.other_leader)
    session.commit()
    assert _unread(session, world.leader) == [] and _unread(session, world.supervisor) == []
    assert tasks.sweep_handovers() == 0


def test_a_shift_change_long_past_is_not_reminded(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    # A leader browsing last week's duty page opens its log; nobody is reminded of it.
    dutylog.open_log(session, site_id=world.site.id, day=date(2026, 1, 1), shift_kind="day", by=world.leader)
    session.commit()
    assert tasks.sweep_handovers() == 0


def test_medical_certificates_due_are_reminded_by_the_sweep(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    sick = assign(session, world, me, date(2026, 1, 7))
    assign(session, world, me, date(2026, 1, 9))
    leave.request(session, user_id=me.id, kind="sick", start=sick.start_at, end=sick.end_at, by=world.leader)
    session.commit()
    clock.set(datetime(2026, 1, 9, 7, tzinfo=UTC))
    tasks.sweep_certificates()
    assert _unread(session, me) == ["leave.certificate_due"] == _unread(session, world.leader)
    clock.set(datetime(2026, 1, 10, 7, tzinfo=UTC))
    assert tasks.sweep_certificates() == 1
    assert sorted(_unread(session, me)) == ["leave.certificate_due", "leave.certificate_overdue"]
    assert tasks.sweep_certificates() == 0


def test_a_handover_whose_duty_log_was_never_opened_is_reminded_too(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    # Nobody opened the duty page of the outgoing lead's shift: no log, no handover written. The
    # shift change is known from the roster all the same, and is reminded like any other.
    from scheduling.models import DutyLog

    users.set_skill(session, user_id=world.leader.id, skill_code="hotline", level=3)
    shift = assign(session, world, world.leader, MONDAY)  # the outgoing lead's day shift, 08:00 to 16:00
    assign(session, world, world.agents[0], MONDAY)  # an agent's shift ends then too: not a lead's
    session.commit()
    clock.set(shift.end_at + timedelta(minutes=29))
    assert tasks.sweep_handovers() == 0 and session.query(DutyLog).count() == 0
    clock.set(shift.end_at + timedelta(minutes=30))
    assert tasks.sweep_handovers() == 1
    assert tasks.sweep_handovers() == 0  # once
    for person in (world.leader, world.other_leader, world.supervisor):
        assert _unread(session, person) == ["handover.not_accepted"], person.username
    assert _unread(session, world.agents[0]) == []
    note = escalation.notifications_for(fresh(session), world.leader.id)[0]
    assert (note.params["day"], note.params["shift_kind"], note.params["handover_id"]) == ("2026-01-12", "day", None)
    # The lead writes the handover late; its acceptance settles the reminder.
    log = dutylog.open_log(session, site_id=world.site.id, day=MONDAY, shift_kind="day", by=world.leader)
    assert note.params["duty_log_id"] == log.id
    draft = handover.write(session, duty_log_id=log.id, by=world.leader, nothing_to_report=list(handover.FIELDS))
    handover.submit(session, handover_id=draft.id, by=world.leader)
    handover.accept(session, handover_id=draft.id, by=world.other_leader)
    session.commit()
    assert _unread(session, world.leader) == [] and _unread(session, world.supervisor) == []
    assert tasks.sweep_handovers() == 0


def test_a_long_past_shift_change_with_no_duty_log_is_not_reminded(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    users.set_skill(session, user_id=world.leader.id, skill_code="hotline", level=3)
    shift = assign(session, world, world.leader, MONDAY)
    session.commit()
    clock.set(shift.end_at + timedelta(days=1, minutes=1))
    assert tasks.sweep_handovers() == 0
    assert _unread(session, world.leader) == []
