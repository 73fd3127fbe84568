"""Handovers as DOMAIN.md's "Shifts, roll call and handover" words them: every part is written or
explicitly "nothing to report" (never a blank), staffing changes (swaps, absences) filled in from
leave, swaps and roll call, and places for superiors' instructions and for customers' suggestions
and complaints, which the handover meeting covers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.errors import ValidationFailed
from scheduling import dutylog, handover, leave, swaps
from scheduling.errors import HandoverIncomplete
from tests.scheduling.conftest import assign

MONDAY = date(2026, 1, 12)


def _log(session, world):  # type: ignore[no-untyped-def]
    log = dutylog.open_log(session, site_id=world.site.id, day=MONDAY, shift_kind="day", by=world.leader)
    session.commit()
    return log


def test_every_part_of_a_handover_is_written_or_explicitly_nothing_to_report(session, world) -> None:  # type: ignore[no-untyped-def]
    blank = handover.write(session, duty_log_id=_log(session, world).id, by=world.leader)
    with pytest.raises(HandoverIncomplete) as caught:
        handover.submit(session, handover_id=blank.id, by=world.leader)
    assert [v.rule for v in caught.value.violations] == [f"handover.missing.{name}" for name in handover.FIELDS]
    assert blank.status == "draft"
    with pytest.raises(ValidationFailed):  # only the handover's own parts can be "nothing to report"
        handover.write(session, duty_log_id=blank.duty_log_id, by=world.leader, nothing_to_report=["weather"])
    written = handover.write(session, duty_log_id=blank.duty_log_id, by=world.leader,
                             equipment_status="Headset 3 crackles", difficult_issues="  ",
                             nothing_to_report=[n for n in handover.FIELDS if n not in ("equipment_status",
                                                                                         "difficult_issues")])
    with pytest.raises(HandoverIncomplete) as caught:  # blank spaces are not a report
        handover.submit(session, handover_id=written.id, by=world.leader)
    assert [v.rule for v in caught.value.violations] == ["handover.missing.difficult_issues"]
    handover.write(session, duty_log_id=blank.duty_log_id, by=world.leader,
                   nothing_to_report=[n for n in handover.FIELDS if n != "equipment_status"])
    assert handover.submit(session, handover_id=written.id, by=world.leader).status == "submitted"
    assert set(written.nothing_to_report) == set(handover.FIELDS) - {"equipment_status"}


def test_staffing_changes_are_filled_in_from_leave_swaps_and_roll_call(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    a, b, c = world.agents[0], world.agents[1], world.agents[2]
    clock.set(datetime(2026, 1, 10, 9, tzinfo=UTC))
    absent = assign(session, world, c, MONDAY)  # nobody will come
    swapped = assign(session, world, a, MONDAY)
    swap = swaps.request(session, shift_id=swapped.id, partner_id=b.id, by=a)
    swaps.confirm(session, swap_id=swap.id, by=b)
    for leader in (world.leader, world.other_leader):
        swaps.approve(session, swap_id=swap.id, by=leader)
    tomorrow = assign(session, world, a, MONDAY + timedelta(days=1))
    off = leave.request(session, user_id=a.id, kind="personal", start=tomorrow.start_at, end=tomorrow.end_at, by=a)
    leave.approve(session, leave_id=off.id, by=world.supervisor)
    session.commit()
    clock.set(absent.start_at + timedelta(hours=3))
    log = _log(session, world)
    items = handover.staffing(session, duty_log_id=log.id)
    kinds = {(i["kind"], i.get("user_id") or i.get("to_id")) for i in items}
    assert ("swap", b.id) in kinds and ("leave", a.id) in kinds and ("rollcall", c.id) in kinds
    absence = next(i for i in items if i["kind"] == "rollcall" and i["user_id"] == c.id)
    assert absence["status"] == "absent"
    swap_item = next(i for i in items if i["kind"] == "swap")
    assert (swap_item["from_id"], swap_item["to_id"]) == (a.id, b.id)
    # Filled in, so the staffing part needs no typing; it is kept as sent.
    draft = handover.write(session, duty_log_id=log.id, by=world.leader,
                           nothing_to_report=[n for n in handover.FIELDS if n != "staffing_changes"])
    handover.submit(session, handover_id=draft.id, by=world.leader)
    assert draft.listed["staffing"] == items


def test_a_handover_has_parts_for_superiors_instructions_and_customer_suggestions_and_complaints(session, world) -> None:  # type: ignore[no-untyped-def]
    assert {"superiors_instructions", "customer_feedback"} <= set(handover.FIELDS)
    draft = handover.write(session, duty_log_id=_log(session, world).id, by=world.leader,
                           superiors_instructions="The center head: new price list from Friday",
                           customer_feedback="Two callers asked for longer opening hours")
    assert draft.superiors_instructions == "The center head: new price list from Friday"
    assert draft.customer_feedback == "Two callers asked for longer opening hours"


def test_open_escalations_and_what_falls_due_in_the_next_shift_are_listed_automatically(session, world,
                                                                                        clock) -> None:  # type: ignore[no-untyped-def]
    from tickets import service as ticket_service

    log = _log(session, world)
    draft = handover.write(session, duty_log_id=log.id, by=world.leader, nothing_to_report=list(handover.FIELDS))
    within, after = draft.next_start + timedelta(hours=2), draft.next_end + timedelta(hours=2)
    escalated = ticket_service.open_ticket(session, category="inquiry", site_id=world.site.id)
    due_soon = ticket_service.open_ticket(session, category="inquiry", site_id=world.site.id)
    due_later = ticket_service.open_ticket(session, category="inquiry", site_id=world.site.id)
    complaint = ticket_service.open_ticket(session, category="complaint", site_id=world.site.id)
    escalated.status, escalated.sla_due_at = "escalated", after
    due_soon.sla_due_at, due_later.sla_due_at = within, after
    complaint.sla_due_at, complaint.reply_due_at = after, within
    session.commit()
    handover.submit(session, handover_id=draft.id, by=world.leader)
    listed = {key: [item["ticket_id"] for item in items] for key, items in draft.listed.items() if key != "staffing"}
    assert listed["open_escalations"] == [escalated.id]
    assert due_soon.id in listed["tickets_due"] and due_later.id not in listed["tickets_due"]
    assert listed["complaints_due"] == [complaint.id]
