"""Notices (and the before-available check), roll call from the presence log, adherence, duty
logs and handovers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.errors import Conflict
from scheduling import adherence, dutylog, handover, notices, rollcall
from scheduling.errors import HandoverLocked, NotYourTurn
from telephony.models.routing import PresenceLog
from tests.scheduling.conftest import assign


def _presence(session, user, *changes):  # type: ignore[no-untyped-def]
    previous = "offline"
    for at, state in changes:
        session.add(PresenceLog(user_id=user.id, from_state=previous, to_state=state, at=at))
        previous = state
    session.commit()


def test_notices_must_be_acknowledged_before_going_available(session, world) -> None:  # type: ignore[no-untyped-def]
    from telephony import presence

    agent = world.agents[0]
    notice = notices.publish_notice(session, title="New greeting", body="Use the new greeting from today.",
                                    by=world.leader)
    session.commit()
    assert notices.unacknowledged(session, user=agent) == [notice]
    with pytest.raises(presence.NotReadyForCalls) as caught:
        presence.set_presence(session, user_id=agent.id, state="available")
    assert "New greeting" in caught.value.message
    session.rollback()
    notices.acknowledge(session, notice_id=notice.id, by=agent)
    notices.acknowledge(session, notice_id=notice.id, by=agent)  # twice is fine
    session.commit()
    assert notices.unacknowledged(session, user=agent) == []
    receipts = notices.read_receipts(session, notice_id=notice.id, by=world.leader)
    assert [r["user_id"] for r in receipts["read"]] == [agent.id]
    assert agent.id not in {r["user_id"] for r in receipts["unread"]} and len(receipts["unread"]) >= 3


def test_roll_call_late_absent_and_left_post(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    late, absent, early = world.agents[0], world.agents[1], world.agents[2]
    shifts = {a.id: assign(session, world, a, date(2026, 1, 6)) for a in (late, absent, early)}
    start = shifts[late.id].start_at  # 07:00 UTC
    _presence(session, late, (start + timedelta(minutes=25), "available"))
    _presence(session, early, (start - timedelta(minutes=12), "available"), (start + timedelta(hours=1), "away"),
              (start + timedelta(hours=1, minutes=21), "available"))
    clock.set(start + timedelta(hours=3))
    found = {s.user_id: e for s, e in rollcall.roll_call(session, site_id=world.site.id, start=start, by=world.leader)}
    assert found[late.id].status == "late" and found[late.id].minutes_late == 25
    assert [v["rule"] for v in found[late.id].violations] == ["rollcall.late"]
    assert found[absent.id].status == "absent"
    assert found[early.id].status == "on_time" and found[early.id].longest_away_minutes == 21
    assert [v["rule"] for v in found[early.id].violations] == ["rollcall.left_post"]
    day = adherence.for_day(session, user_id=early.id, day=date(2026, 1, 6))
    assert day.scheduled_minutes == 480 and day.adherent_minutes == 180 - 21
    assert day.at_post_minutes == 12 + 180 - 21 and day.adherence == pytest.approx(159 / 480)
    excused = rollcall.excuse(session, shift_id=shifts[absent.id].id, by=world.leader, note="Phoned in: flood")
    assert excused.status == "excused"


def test_roll_call_before_the_arrival_window_expects_the_person(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    """An afternoon shift looked at in the morning: the person has been available since the
    morning's shift, but arriving counts only from three hours before the start. They are
    expected, not "present, arrived" at a time still to come (seen in the demo: arrived 11:00 AM,
    read at 10:39 AM)."""
    agent = world.agents[0]
    shift = assign(session, world, agent, date(2026, 1, 6))  # 07:00 UTC
    _presence(session, agent, (shift.start_at - timedelta(hours=6), "available"))
    clock.set(shift.start_at - rollcall.ARRIVAL_WINDOW - timedelta(minutes=21))
    entry = rollcall.check_shift(session, shift=shift, by=world.leader)
    assert (entry.status, entry.arrived_at) == ("expected", None)
    clock.set(shift.start_at - timedelta(minutes=30))  # within the window: on time, since it opened
    entry = rollcall.check_shift(session, shift=shift, by=world.leader)
    assert entry.status == "on_time" and entry.arrived_at == shift.start_at - rollcall.ARRIVAL_WINDOW


def test_duty_log_and_handover(session, world) -> None:  # type: ignore[no-untyped-def]
    log = dutylog.open_log(session, site_id=world.site.id, day=date(2026, 1, 5), shift_kind="day", by=world.leader)
    assert log.figures_source["inquiry_count"] == "tickets" and log.inquiry_count == 0
    dutylog.update(session, log_id=log.id, by=world.leader, changes={"lookup_count": 7, "system_problems": "CRM slow"})
    with pytest.raises(Conflict):
        dutylog.close(session, log_id=log.id, by=world.leader)  # no accepted handover yet
    draft = handover.write(session, duty_log_id=log.id, by=world.leader, equipment_status="Headset 3 broken",
                           nothing_to_report=[n for n in handover.FIELDS if n != "equipment_status"])
    handover.submit(session, handover_id=draft.id, by=world.leader)
    assert set(draft.listed) == {"open_escalations", "complaints_due", "tickets_due", "staffing"}
    with pytest.raises(NotYourTurn):
        handover.accept(session, handover_id=draft.id, by=world.leader)  # not by the outgoing lead
    handover.return_with_questions(session, handover_id=draft.id, by=world.other_leader, questions="Which CRM issue?")
    handover.write(session, duty_log_id=log.id, by=world.leader, unresolved_issues="CRM ticket #42 with IT")
    handover.submit(session, handover_id=draft.id, by=world.leader)
    handover.accept(session, handover_id=draft.id, by=world.other_leader)
    assert draft.status == "accepted" and log.closed_at is not None
    with pytest.raises(HandoverLocked):
        handover.write(session, duty_log_id=log.id, by=world.leader, notices="edited later")
    handover.append(session, handover_id=draft.id, by=world.leader, text="Headset 3 replaced at 17:10")
    assert [a.text for a in handover.additions(session, handover_id=draft.id)] == ["Headset 3 replaced at 17:10"]
    week = dutylog.weekly(session, site_id=world.site.id, week_start=date(2026, 1, 5), by=world.leader)
    assert week["totals"]["lookup_count"] == 7 and week["system_problems"][0]["text"] == "CRM slow"
    assert datetime(2026, 1, 5, tzinfo=UTC) <= draft.next_start


def test_a_withdrawn_notice_no_longer_blocks_and_stays_visible(session, world) -> None:  # type: ignore[no-untyped-def]
    from core import audit
    from core.errors import Conflict, PermissionDenied
    from telephony import presence

    agent = world.agents[0]
    notice = notices.publish_notice(session, title="Wrong price list", body="Use list B.", by=world.leader)
    session.commit()
    with pytest.raises(presence.NotReadyForCalls):
        presence.set_presence(session, user_id=agent.id, state="available")
    session.rollback()
    with pytest.raises(PermissionDenied):
        notices.withdraw(session, notice_id=notice.id, by=agent)
    notices.withdraw(session, notice_id=notice.id, by=world.leader, reason="List B was wrong too")
    session.commit()
    assert notice.withdrawn_at is not None
    assert notices.unacknowledged(session, user=agent) == [] and notices.notices_for(session, user=agent) == []
    presence.set_presence(session, user_id=agent.id, state="available")  # no longer blocked
    session.commit()
    assert [n.id for n in notices.published_for(session, viewer=world.leader)] == [notice.id]  # still shown
    assert notices.withdrawn_by(session, notice_id=notice.id) == world.leader.id
    entry = audit.entries_for(session, object_type="notice", object_id=notice.id)[0]
    assert entry.action == "notice.withdrawn" and entry.details and "List B was wrong too" in entry.details
    with pytest.raises(Conflict):
        notices.withdraw(session, notice_id=notice.id, by=world.leader)
    with pytest.raises(PermissionDenied):
        notices.published_for(session, viewer=agent)


def test_handover_listings_for_the_pages(session, world) -> None:  # type: ignore[no-untyped-def]
    log = dutylog.open_log(session, site_id=world.site.id, day=date(2026, 1, 5), shift_kind="day", by=world.leader)
    assert handover.for_duty_log(session, duty_log_id=log.id) is None
    draft = handover.write(session, duty_log_id=log.id, by=world.leader, equipment_status="All fine",
                           nothing_to_report=list(handover.FIELDS))
    assert handover.for_duty_log(session, duty_log_id=log.id) is draft
    assert handover.waiting_for(session, viewer=world.other_leader) == []  # a draft waits for nobody
    handover.submit(session, handover_id=draft.id, by=world.leader)
    assert handover.waiting_for(session, viewer=world.other_leader) == [draft]
    assert handover.waiting_for(session, viewer=world.leader) == []  # not one's own


@pytest.mark.parametrize(("arrival", "away", "expected"), [
    (-10, 0, ("on_time", 0, [])),  # 10 minutes before the shift: on time
    (-9, 0, ("late", 0, [])),  # after the 10 minutes' lead, not yet a violation
    (19, 0, ("late", 19, [])),
    (20, 0, ("late", 20, ["rollcall.late"])),  # 20 minutes or more without leave
    (-15, 19, ("on_time", 0, [])),
    (-15, 20, ("on_time", 0, ["rollcall.left_post"])),  # away from the post for 20 minutes or more
])
def test_roll_call_thresholds(arrival: int, away: int, expected: tuple) -> None:  # type: ignore[type-arg]
    from scheduling.presence_source import Spell
    from scheduling.settings import DEFAULTS

    start = datetime(2026, 1, 6, 7, tzinfo=UTC)
    end = start + timedelta(hours=8)
    came = start + timedelta(minutes=arrival)
    spells = [Spell("offline", start - timedelta(hours=3), came)]
    if away:
        spells += [Spell("available", came, start + timedelta(hours=2)),
                   Spell("away", start + timedelta(hours=2), start + timedelta(hours=2, minutes=away)),
                   Spell("available", start + timedelta(hours=2, minutes=away), end)]
    else:
        spells.append(Spell("available", came, end))
    status, _arrived, late, _longest, found = rollcall.assess(start, end, spells, now=end, on_leave=False,
                                                              rules=DEFAULTS)
    assert (status, late, [v.rule for v in found]) == expected
    assert rollcall.assess(start, end, [], now=end, on_leave=True, rules=DEFAULTS)[0] == "on_leave"
    assert rollcall.assess(start, end, [], now=start + timedelta(minutes=19), on_leave=False,
                           rules=DEFAULTS)[0] == "expected"


def test_duty_log_counts_lookups_and_callbacks_from_the_hubs_records(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    from core import audit
    from telephony.models import Call

    clock.set(datetime(2026, 1, 5, 4, tzinfo=UTC))  # noon at the site (Asia/Shanghai)
    agent = world.agents[0]
    for _ in range(3):
        audit.record(session, action="customer.viewed", actor_id=agent.id, object_type="customer", object_id=1)
    audit.record(session, action="customer.view_refused", actor_id=agent.id, object_type="customer", object_id=1)
    audit.record(session, action="customer.viewed", actor_id=None, actor_name="cli", object_type="customer",
                 object_id=1)
    session.add_all([Call(call_sid=f"CA{n:032d}", leg="customer", direction="outbound-api", site_id=world.site.id,
                          started_at=datetime(2026, 1, 5, 3 + n, tzinfo=UTC)) for n in range(2)])
    session.add(Call(call_sid="CA" + "9" * 32, leg="customer", direction="outbound-api", site_id=world.site.id,
                     started_at=datetime(2026, 1, 6, 3, tzinfo=UTC)))  # the next day: another log's
    session.commit()
    log = dutylog.open_log(session, site_id=world.site.id, day=date(2026, 1, 5), shift_kind="day", by=world.leader)
    assert (log.lookup_count, log.proactive_count) == (3, 2)
    assert log.figures_source["lookup_count"] == "audit" and log.figures_source["proactive_count"] == "callbacks"
    dutylog.update(session, log_id=log.id, by=world.leader, changes={"lookup_count": 5})
    assert session.get(type(log), log.id).lookup_count == 5  # the leader may still correct it
