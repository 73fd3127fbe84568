"""The scheduling pages: shifts, leave and swaps (refusals list every broken rule, in Chinese too),
rosters (calendar, hand edits, generation and its progress, the forecast chart's JSON), roll call,
duty log, handovers and notices; sign-in and roles; plain posts redirect, htmx gets a block."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Role
from scheduling import shifts
from scheduling.models import (DutyLog, Handover, HandoverAddition, LeaveRequest, Notice, RosterJob, Shift,
                               SwapRequest)
from tests.factories import cheap_password_hashing, fresh, make_user, signed_in_client
from tests.scheduling.conftest import World, assign, world
from tests.telephony.hub import eager_tasks

__all__ = ["cheap_password_hashing", "eager_tasks", "world"]

HX = {"HX-Request": "true"}
WEDNESDAY = date(2026, 1, 7)  # the clock starts on Monday 2026-01-05, 10:00 in Berlin
PAGES = ["/shifts", "/shifts/rosters", "/duty", "/duty/weekly", "/notices"]


def _zh(client: TestClient) -> None:
    client.cookies.set("hotline_locale", "zh_Hans")


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_strangers_to_sign_in(client: TestClient, world: World, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/signin?next={path}"


def test_agents_cannot_open_the_leaders_pages(client: TestClient, world: World) -> None:
    signed_in_client(client, world.agents[0])
    for path in ("/shifts/rosters", "/duty", "/duty/weekly", "/duty/handovers/1"):
        assert client.get(path).status_code == 403, path
    assert client.post("/notices", data={"title": "x", "body": "y"}).status_code == 403
    assert client.post("/shifts/rosters/1/assign", data={}).status_code == 403
    assert client.get("/shifts").status_code == 200 and client.get("/notices").status_code == 200


def test_qa_inspectors_have_no_shift_requests(client: TestClient, session: Session, world: World) -> None:
    signed_in_client(client, make_user(session, role=Role.qa_inspector, site=world.site))
    assert client.get("/shifts").status_code == 403


def test_the_shifts_page_lists_my_shifts_without_inline_scripts(client: TestClient, session: Session,
                                                                world: World) -> None:
    assign(session, world, world.agents[0], WEDNESDAY)
    signed_in_client(client, world.agents[0])
    page = client.get("/shifts")
    assert page.status_code == 200 and 'id="my-shifts"' in page.text and "Day shift" in page.text
    assert 'name="csrf_token"' in page.text
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", page.text) == []
    assert not re.search(r"\son[a-z]+=|style=", page.text)
    partial = client.get("/shifts", headers=HX)
    assert "<html" not in partial.text and 'id="shifts-main"' in partial.text


def _refused_swap(client: TestClient, session: Session, world: World) -> int:
    mine = assign(session, world, world.agents[0], WEDNESDAY)
    assign(session, world, world.agents[3], WEDNESDAY)  # the partner works then too, at skill level 1
    signed_in_client(client, world.agents[0])
    return mine.id


def test_a_refused_swap_lists_every_broken_rule(client: TestClient, session: Session, world: World) -> None:
    shift_id = _refused_swap(client, session, world)
    response = client.post("/shifts/swaps", data={"shift_id": shift_id, "partner_id": world.agents[3].id})
    assert response.status_code == 422
    rules = re.findall(r'data-rule="([a-z_.]+)"', response.text)
    assert "swap.overlap" in rules and "swap.skill_level" in rules
    assert f"{world.agents[3].display_name} already works a shift at that time." in response.text
    assert fresh(session).scalar(select(SwapRequest.id)) is None


def test_a_refused_swap_is_explained_in_chinese(client: TestClient, session: Session, world: World) -> None:
    shift_id = _refused_swap(client, session, world)
    _zh(client)
    response = client.post("/shifts/swaps", data={"shift_id": shift_id, "partner_id": world.agents[3].id},
                           headers=HX)
    assert response.status_code == 422 and "<html" not in response.text
    assert f"{world.agents[3].display_name} 在该时段已有班次。" in response.text
    assert "技能等级不可比" in response.text and "违反" in response.text


def test_a_swap_is_asked_confirmed_approved_and_registered(client: TestClient, session: Session,
                                                          world: World) -> None:
    shift = assign(session, world, world.agents[0], WEDNESDAY)
    signed_in_client(client, world.agents[0])
    response = client.post("/shifts/swaps", data={"shift_id": shift.id, "partner_id": world.agents[1].id},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/shifts"
    assert "Your swap request was sent." in client.get("/shifts").text
    swap_id = fresh(session).scalar(select(SwapRequest.id))
    signed_in_client(client, world.agents[1])
    assert client.post(f"/shifts/swaps/{swap_id}/confirm", follow_redirects=False).status_code == 303
    assert client.post(f"/shifts/swaps/{swap_id}/approve").status_code == 409  # only leaders approve
    for leader in (world.leader, world.other_leader):
        signed_in_client(client, leader)
        assert client.post(f"/shifts/swaps/{swap_id}/approve", follow_redirects=False).status_code == 303
    assert fresh(session).get(SwapRequest, swap_id).status == "registered"
    assert session.get(Shift, shift.id).user_id == world.agents[1].id


def test_leave_refused_then_asked_and_approved(client: TestClient, session: Session, world: World) -> None:
    signed_in_client(client, world.agents[0])
    refused = client.post("/shifts/leave", data={"kind": "personal", "start": "2026-01-04T08:00",
                                                 "end": "2026-01-04T16:00"})
    assert refused.status_code == 422 and 'data-rule="leave.in_past"' in refused.text
    _zh(client)
    assert "不能从过去开始" in client.post("/shifts/leave", data={"kind": "personal", "start": "2026-01-04T08:00",
                                                                "end": "2026-01-04T16:00"}).text
    client.cookies.delete("hotline_locale")
    asked = client.post("/shifts/leave", data={"kind": "personal", "start": "2026-01-09T08:00",
                                               "end": "2026-01-09T16:00", "reason": "Family"},
                        follow_redirects=False)
    assert asked.status_code == 303
    leave = fresh(session).scalar(select(LeaveRequest))
    assert leave.status == "pending" and leave.start_at == datetime(2026, 1, 9, 7, 0, tzinfo=UTC)  # Berlin time
    signed_in_client(client, world.supervisor)
    page = client.get("/shifts").text
    assert 'id="leave-to-decide"' in page
    # The approver reads why the leave is asked before deciding.
    to_decide = page.split('id="leave-to-decide"', 1)[1].split("</table>", 1)[0]
    assert ">Reason</th>" in to_decide and "<td>Family</td>" in to_decide
    assert client.post(f"/shifts/leave/{leave.id}/approve", follow_redirects=False).status_code == 303
    assert fresh(session).get(LeaveRequest, leave.id).status == "approved"


def _roster(client: TestClient, world: World) -> int:
    signed_in_client(client, world.leader)
    created = client.post("/shifts/rosters", data={"first_day": "2026-01-06", "last_day": "2026-01-12",
                                                   "team_id": world.team.id}, follow_redirects=False)
    assert created.status_code == 303, created.text
    return int(created.headers["location"].rsplit("/", 1)[1])


def test_roster_calendar_with_hand_edits(client: TestClient, session: Session, world: World) -> None:
    roster_id = _roster(client, world)
    page = client.get(f"/shifts/rosters/{roster_id}")
    assert page.status_code == 200 and 'id="roster-calendar"' in page.text
    assert world.agents[0].display_name in page.text and world.agents[1].display_name not in page.text  # by team
    data = {"user_id": world.agents[0].id, "day": "2026-01-07", "template_id": world.day.id}
    assert client.post(f"/shifts/rosters/{roster_id}/assign", data=data, follow_redirects=False).status_code == 303
    shift = fresh(session).scalar(select(Shift).where(Shift.roster_id == roster_id))
    assert shift is not None and shift.user_id == world.agents[0].id
    # The night before the day shift leaves no rest: refused, with the rules in the reader's language.
    night = {"user_id": world.agents[0].id, "day": "2026-01-06", "template_id": world.night.id}
    refused = client.post(f"/shifts/rosters/{roster_id}/assign", data=night, headers=HX)
    assert refused.status_code == 422 and 'data-rule="shift.' in refused.text and "<html" not in refused.text
    _zh(client)
    assert "班次" in client.post(f"/shifts/rosters/{roster_id}/assign", data=night).text
    month = client.get(f"/shifts/rosters/{roster_id}?view=month&start=2026-01-01").text
    assert month.count('<th scope="col" class') == 31
    shift_id = shift.id
    removed = client.post(f"/shifts/rosters/{roster_id}/shifts/{shift_id}/remove", follow_redirects=False)
    assert removed.status_code == 303
    assert fresh(session).scalar(select(Shift.id).where(Shift.id == shift_id)) is None


def test_roster_generation_shows_progress_and_the_forecast(client: TestClient, session: Session, world: World,
                                                           eager_tasks: None) -> None:  # noqa: F811
    roster_id = _roster(client, world)
    calls = ",".join(["0"] * 8 + ["20"] * 8 + ["0"] * 8)
    response = client.post(f"/shifts/rosters/{roster_id}/generate",
                           data={"calls": calls, "aht_seconds": "240", "time_limit": "5"}, follow_redirects=False)
    assert response.status_code == 303
    job = fresh(session).scalar(select(RosterJob).where(RosterJob.roster_id == roster_id))
    assert job.status == "done"
    fragment = client.get(f"/shifts/rosters/{roster_id}/jobs/{job.id}", headers=HX)
    assert 'id="roster-progress"' in fragment.text and "every 1s" not in fragment.text and "Done" in fragment.text
    coverage = client.get(f"/shifts/rosters/{roster_id}/coverage.json?start=2026-01-06").json()
    assert len(coverage["labels"]) == 7 * 24 and max(n or 0 for n in coverage["needed"]) > 0
    assert max(coverage["scheduled"]) > 0
    bad = client.post(f"/shifts/rosters/{roster_id}/generate", data={"calls": "1,2,3"})
    assert bad.status_code == 422 and "Give 24 numbers of calls" in bad.text
    assert re.search(r'id="gen-calls"[^>]*maxlength="400"', bad.text)  # 24 numbers fit; the box says so


def test_a_running_job_is_polled_every_second(client: TestClient, session: Session, world: World) -> None:
    roster_id = _roster(client, world)
    session.add(RosterJob(roster_id=roster_id, status="running", solutions=3, objective=960.0, bound=900.0,
                          gap=0.0625, elapsed_seconds=1.5))
    session.commit()
    job_id = session.scalar(select(RosterJob.id))
    fragment = client.get(f"/shifts/rosters/{roster_id}/jobs/{job_id}", headers=HX).text
    assert 'hx-trigger="every 1s"' in fragment and "Solving" in fragment and ">3<" in fragment


def test_roll_call_shows_an_absence_with_its_rule(client: TestClient, session: Session, world: World,
                                                  clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 1, 4, 9, 0, tzinfo=UTC))
    assign(session, world, world.agents[0], date(2026, 1, 5))
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))  # the shift began at 08:00 Berlin; nobody came
    signed_in_client(client, world.leader)
    page = client.get("/duty?day=2026-01-05")
    assert page.status_code == 200 and 'data-rule="rollcall.absent"' in page.text and "Absent" in page.text
    shift_id = fresh(session).scalar(select(Shift.id))
    refused = client.post(f"/duty/rollcall/{shift_id}/excuse?day=2026-01-05&kind=day", data={"note": ""})
    assert refused.status_code == 422 and "Say why the lateness or absence is excused." in refused.text
    excused = client.post(f"/duty/rollcall/{shift_id}/excuse", data={"note": "Phoned in", "back": "/duty?day=2026-01-05"},
                          follow_redirects=False)
    assert excused.status_code == 303 and excused.headers["location"] == "/duty?day=2026-01-05"
    _zh(client)
    assert "已准假" in client.get("/duty?day=2026-01-05").text


def test_duty_log_and_handover_refuse_text_past_the_limit_and_keep_what_was_typed(
        client: TestClient, session: Session, world: World) -> None:
    """A part longer than the hub keeps is refused (it was cut at 10,000 characters without a
    word), the textarea states the limit, and a refused duty log keeps what was typed."""
    signed_in_client(client, world.leader)
    page = client.get("/duty")
    assert re.search(r'<textarea id="log-notes"[^>]*maxlength="10000"', page.text)
    assert re.search(r'<textarea id="handover-notices"[^>]*maxlength="10000"', page.text)
    log_id = int(re.search(r'action="/duty/logs/(\d+)\?', page.text).group(1))
    long = "Line 7 drops calls. " * 600  # 12,000 characters
    refused = client.post(f"/duty/logs/{log_id}", headers=HX, data={
        "inquiry_count": "1", "lookup_count": "2", "proactive_count": "3", "system_problems": "Headset 4 broken",
        "notes": long})
    assert refused.status_code == 422
    assert re.search(r'<textarea id="log-notes"[^>]*aria-invalid="true"', refused.text)
    assert "12000" in refused.text and "10000" in refused.text
    assert "Headset 4 broken" in refused.text and long.strip() in html.unescape(refused.text)
    assert fresh(session).scalar(select(DutyLog.notes)) in ("", None)  # nothing half-written
    wrong_count = client.post(f"/duty/logs/{log_id}", headers=HX, data={
        "inquiry_count": "many", "lookup_count": "2", "proactive_count": "3", "system_problems": "Headset 4 broken"})
    assert wrong_count.status_code == 422 and "Headset 4 broken" in wrong_count.text
    assert 'value="many"' in wrong_count.text
    handover = client.post(f"/duty/logs/{log_id}/handover", headers=HX, data={
        "equipment_status": long, "action": "save"})
    assert handover.status_code == 422 and "12000" in handover.text
    assert re.search(r'<textarea id="handover-equipment_status"[^>]*aria-invalid="true"', handover.text)
    assert fresh(session).scalar(select(Handover)) is None
    _zh(client)
    chinese = client.post(f"/duty/logs/{log_id}", headers=HX, data={
        "inquiry_count": "1", "lookup_count": "2", "proactive_count": "3", "notes": long})
    assert chinese.status_code == 422 and "最多" in chinese.text


def test_duty_log_handover_accept_and_additions(client: TestClient, session: Session, world: World) -> None:
    signed_in_client(client, world.leader)
    page = client.get("/duty")
    assert 'id="dutylog-panel"' in page.text and "from tickets" in page.text
    log_id = int(re.search(r'action="/duty/logs/(\d+)\?', page.text).group(1))
    saved = client.post(f"/duty/logs/{log_id}", data={"inquiry_count": "0", "lookup_count": "12",
                                                      "proactive_count": "3", "system_problems": "Headset 4 broken",
                                                      "back": "/duty"}, follow_redirects=False)
    assert saved.status_code == 303
    bad = client.post(f"/duty/logs/{log_id}", data={"inquiry_count": "-1", "lookup_count": "1",
                                                    "proactive_count": "1"})
    assert bad.status_code == 422 and "Counts are whole numbers" in bad.text
    weekly = client.get("/duty/weekly").text
    assert "Headset 4 broken" in weekly and ">12<" in weekly
    assert 'id="weekly-tickets"' in weekly and "Supervised (escalated)" in weekly  # the supervisor's totals
    blank = client.post(f"/duty/logs/{log_id}/handover", data={"equipment_status": "Headset 4 broken",
                                                               "action": "submit"}, headers=HX)
    assert blank.status_code == 422 and 'id="missing-notices"' in blank.text  # blank parts are not a report
    assert "Notices is empty: write it, or tick “nothing to report”." in blank.text
    assert 'id="missing-equipment_status"' not in blank.text and "Headset 4 broken" in blank.text
    assert fresh(session).scalar(select(Handover)) is None  # nothing half-written
    nothing = [n for n in ("difficult_issues", "unresolved_issues", "staffing_changes", "notices",
                           "superiors_instructions", "customer_feedback")]
    sent = client.post(f"/duty/logs/{log_id}/handover", data={"equipment_status": "Headset 4 broken",
                                                              "nothing": nothing, "action": "submit"},
                       follow_redirects=False)
    assert sent.status_code == 303
    handover = fresh(session).scalar(select(Handover))
    assert handover.status == "submitted"
    # The outgoing lead cannot accept their own handover.
    own = client.post(f"/duty/handovers/{handover.id}/accept")
    assert own.status_code == 409 and "The incoming lead, not the outgoing one" in own.text
    signed_in_client(client, world.other_leader)
    assert f'href="/duty/handovers/{handover.id}"' in client.get("/duty").text
    returned = client.post(f"/duty/handovers/{handover.id}/return", data={"text": ""})
    assert returned.status_code == 422
    _zh(client)
    assert "请先说明需要回答的问题" in client.post(f"/duty/handovers/{handover.id}/return", data={"text": ""}).text
    client.cookies.delete("hotline_locale")
    accepted = client.post(f"/duty/handovers/{handover.id}/accept", follow_redirects=False)
    assert accepted.status_code == 303
    assert fresh(session).get(Handover, handover.id).status == "accepted"
    page = client.get(f"/duty/handovers/{handover.id}").text
    assert "locked" in page and 'id="append-panel"' in page
    added = client.post(f"/duty/handovers/{handover.id}/append", data={"text": "Headset replaced"}, headers=HX)
    assert added.status_code == 200 and "Added after acceptance" in added.text and "Headset replaced" in added.text
    assert fresh(session).scalar(select(HandoverAddition.text)) == "Headset replaced"
    too_long = client.post(f"/duty/handovers/{handover.id}/append", data={"text": "x" * 10_001}, headers=HX)
    assert too_long.status_code == 422 and "10001" in too_long.text and "x" * 10_001 in too_long.text
    assert 'maxlength="10000"' in too_long.text


def test_notices_published_acknowledged_with_read_receipts(client: TestClient, session: Session,
                                                           world: World) -> None:
    signed_in_client(client, world.leader)
    refused = client.post("/notices", data={"title": "", "body": ""})
    assert refused.status_code == 422 and "A notice needs a title and a text." in refused.text
    assert re.search(r'<textarea id="notice-body"[^>]*maxlength="10000"', refused.text)  # the limit is stated
    long = "Use the new greeting." * 500  # 10,500 characters: refused whole, not cut at 10,000
    too_long = client.post("/notices", data={"title": "New script", "body": long}, headers=HX)
    assert too_long.status_code == 422 and "10500" in too_long.text and long in html.unescape(too_long.text)
    assert fresh(session).scalar(select(Notice)) is None
    assert client.post("/notices", data={"title": "New script", "body": "Use the new greeting."},
                       follow_redirects=False).status_code == 303
    page = client.get("/notices").text
    assert "New script" in page and world.agents[0].display_name in page  # not read yet
    signed_in_client(client, world.agents[0])
    notice_id = int(re.search(r'action="/notices/(\d+)/acknowledge"', client.get("/notices").text).group(1))
    assert client.post(f"/notices/{notice_id}/acknowledge", follow_redirects=False).status_code == 303
    assert "acknowledge" not in client.get("/notices").text.split('id="notice-list"')[1].split("</article>")[0]
    signed_in_client(client, world.leader)
    receipts = client.get("/notices").text
    unread = re.search(r'class="unread-names">([^<]*)<', receipts).group(1)
    assert world.agents[0].display_name not in unread and world.agents[1].display_name in unread
    _zh(client)
    assert "发布通告" in client.get("/notices").text


def test_every_rule_refusal_reads_in_chinese() -> None:
    """Each broken rule a page can show has its Chinese text, with the same named values."""
    import string

    from babel.messages.pofile import read_po

    from scheduling.rules import MESSAGES

    with open("agent_ui/translations/zh_Hans/LC_MESSAGES/messages.po", "rb") as handle:
        catalogue = read_po(handle, locale="zh_Hans")
    names = string.Formatter()
    for code, english in MESSAGES.items():
        message = catalogue.get(code)
        assert message is not None and message.string, code
        assert {f[1] for f in names.parse(english) if f[1]} == {f[1] for f in names.parse(message.string) if f[1]}, code


def test_a_medical_certificate_overdue_then_received(client: TestClient, session: Session, world: World,
                                                     clock) -> None:  # type: ignore[no-untyped-def]
    from scheduling import leave as leave_service

    me = world.agents[0]
    shift = assign(session, world, me, WEDNESDAY)
    assign(session, world, me, date(2026, 1, 9))
    sick = leave_service.request(session, user_id=me.id, kind="sick", start=shift.start_at, end=shift.end_at,
                                 by=world.leader)
    session.commit()
    clock.set(datetime(2026, 1, 10, 9, tzinfo=UTC))  # the day after the first day back
    signed_in_client(client, me)
    own = client.get("/shifts").text
    assert "Hand in a medical certificate by 2026-01-09." in own and "Overdue" in own
    assert client.post(f"/shifts/leave/{sick.id}/certificate").status_code == 409  # agents do not record it
    signed_in_client(client, world.supervisor)  # the approver sees what is overdue
    page = client.get("/shifts").text
    row = page.split(f'id="certificate-{sick.id}"')[1].split("</tr>")[0]
    assert "overdue" in page.split(f'id="certificate-{sick.id}"')[0][-40:] and "Overdue" in row
    _zh(client)
    assert "待交的病假证明" in client.get("/shifts").text
    client.cookies.delete("hotline_locale")
    done = client.post(f"/shifts/leave/{sick.id}/certificate", follow_redirects=False)
    assert done.status_code == 303
    assert fresh(session).get(LeaveRequest, sick.id).certificate_received_at is not None
    page = client.get("/shifts").text
    assert "The medical certificate is recorded as received." in page and f'id="certificate-{sick.id}"' not in page
    again = client.post(f"/shifts/leave/{sick.id}/certificate", headers=HX)
    assert again.status_code == 409 and "already recorded as received" in again.text


def test_a_leader_withdraws_a_notice(client: TestClient, session: Session, world: World) -> None:
    from scheduling import notices as notice_service

    notice = notice_service.publish_notice(session, title="Old prices", body="Prices from list A.", by=world.leader)
    session.commit()
    signed_in_client(client, world.agents[0])
    assert client.post(f"/notices/{notice.id}/withdraw").status_code == 403
    signed_in_client(client, world.leader)
    withdrawn = client.post(f"/notices/{notice.id}/withdraw", data={"reason": "Wrong list"}, follow_redirects=False)
    assert withdrawn.status_code == 303
    page = client.get("/notices").text
    article = page.split(f'id="notice-{notice.id}"')[1].split("</article>")[0]
    assert "Withdrawn" in article and world.leader.display_name in article and "Withdraw the notice" not in article
    again = client.post(f"/notices/{notice.id}/withdraw", headers=HX)
    assert again.status_code == 409 and "already withdrawn" in again.text
    signed_in_client(client, world.agents[0])
    assert "Old prices" not in client.get("/notices").text  # agents no longer see it or need to read it


def _calls_last_week(session: Session, world: World, clock) -> None:  # type: ignore[no-untyped-def]
    """Ten answered calls on Monday 2026-01-05 at 09:00 Berlin, made through telephony's services."""
    from telephony import calls, offers, routing
    from telephony.presence import get_presence, set_presence
    from tests.telephony.hub import voice_params

    agent = world.agents[0]
    clock.set(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    set_presence(session, user_id=agent.id, state="available")
    session.commit()
    for _ in range(10):
        call, _ = calls.open_inbound(session, params=voice_params(), site_id=world.site.id)
        routing.enqueue(session, call_id=call.id, skill_code="hotline", category="inquiry", tier="normal")
        clock.advance(seconds=5)
        offers.answer(session, offer_id=get_presence(session, user_id=agent.id).current_offer_id)
        clock.advance(seconds=120)
        routing.call_ended(session, call_id=call.id)
        clock.advance(seconds=30)
        routing.finish_wrap_ups(session)
        session.commit()
    clock.set(datetime(2026, 1, 10, 9, 0, tzinfo=UTC))


def test_the_forecast_from_call_history_against_the_roster(client: TestClient, session: Session, world: World,
                                                           clock, eager_tasks: None) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _calls_last_week(session, world, clock)
    signed_in_client(client, world.leader)
    created = client.post("/shifts/rosters", data={"first_day": "2026-01-12", "last_day": "2026-01-18",
                                                   "team_id": world.team.id}, follow_redirects=False)
    roster_id = int(created.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/shifts/rosters/{roster_id}").text
    basis = page.split('id="forecast-basis"')[1].split("</dl>")[0]
    assert "<dd>10</dd>" in basis and "<dd>150</dd>" in basis  # calls offered; 120 s talk + 30 s wrap-up
    before = client.get(f"/shifts/rosters/{roster_id}/coverage.json?start=2026-01-12").json()
    assert before["source"] == "history" and before["slot_minutes"] == 30 and len(before["labels"]) == 7 * 48
    monday_nine = before["labels"].index("01-12 09:00")
    assert before["needed"][monday_nine] > 0 and before["needed"][monday_nine + 2] == 0
    assert before["needed"][before["labels"].index("01-13 09:00")] == 0  # only Mondays had calls
    response = client.post(f"/shifts/rosters/{roster_id}/generate",
                           data={"source": "history", "weeks": "8", "time_limit": "5"}, follow_redirects=False)
    assert response.status_code == 303
    job = fresh(session).scalar(select(RosterJob).where(RosterJob.roster_id == roster_id))
    assert job.status == "done" and job.params["slot_minutes"] == 30
    after = client.get(f"/shifts/rosters/{roster_id}/coverage.json?start=2026-01-12").json()
    assert after["source"] == "generation" and after["needed"] == before["needed"]
    # The team's two agents cover what they can of Monday morning; the rest shows as uncovered.
    assert 0 < after["scheduled"][monday_nine] <= 2
    assert job.uncovered == sum(max(0, n - s) for n, s in zip(after["needed"], after["scheduled"], strict=True))


def test_generation_from_an_empty_history_is_refused(client: TestClient, world: World) -> None:
    roster_id = _roster(client, world)
    empty = client.post(f"/shifts/rosters/{roster_id}/generate", data={"source": "history", "weeks": "8"})
    assert empty.status_code == 422 and "no calls in that history" in empty.text
    assert client.post(f"/shifts/rosters/{roster_id}/generate",
                       data={"source": "history", "weeks": "40"}).status_code == 422
    bad = client.post(f"/shifts/rosters/{roster_id}/generate", data={"source": "guess"})
    assert bad.status_code == 422 and "Choose where the demand comes from." in bad.text
    _zh(client)
    assert "历史来电" in client.post(f"/shifts/rosters/{roster_id}/generate",
                                     data={"source": "history", "weeks": "8"}).text


def test_a_day_off_asked_and_withdrawn(client: TestClient, session: Session, world: World) -> None:
    from scheduling.models import DayOffRequest

    signed_in_client(client, world.agents[0])
    past = client.post("/shifts/days-off", data={"day": "2026-01-04"})
    assert past.status_code == 422 and "A day off is asked for a day after today." in past.text
    assert client.post("/shifts/days-off", data={"day": "soon"}).status_code == 422
    asked = client.post("/shifts/days-off", data={"day": "2026-01-14", "reason": "Exam"}, follow_redirects=False)
    assert asked.status_code == 303
    page = client.get("/shifts").text
    assert "The day is asked off" in page and "2026-01-14" in page.split('id="my-days-off"')[1]
    again = client.post("/shifts/days-off", data={"day": "2026-01-14"}, headers=HX)
    assert again.status_code == 409 and "already asked off" in again.text and "<html" not in again.text
    _zh(client)
    assert "我不想上班的日子" in client.get("/shifts").text
    wish_id = fresh(session).scalar(select(DayOffRequest.id))
    signed_in_client(client, world.agents[1])
    assert client.post(f"/shifts/days-off/{wish_id}/withdraw").status_code == 409  # not theirs
    signed_in_client(client, world.agents[0])
    assert client.post(f"/shifts/days-off/{wish_id}/withdraw", follow_redirects=False).status_code == 303
    assert fresh(session).scalar(select(DayOffRequest.id)) is None


def test_roll_call_page_lists_qas_common_problems_for_the_briefing(client: TestClient, session: Session,
                                                                    world: World) -> None:
    from datetime import date

    from core.models import Role
    from qa import coaching
    from tests.factories import make_user

    inspector = make_user(session, role=Role.qa_inspector, site=world.site)
    monday = date(2026, 1, 5)
    plan = coaching.draft_training_plan(session, team_id=world.team.id, week_start=monday, by=inspector)
    coaching.update_training_plan(session, plan_id=plan.id, by=inspector, common_problems=[
        {"text_en": "Confirm the caller's need before answering", "note": "Repeat it back"}])
    coaching.publish_training_plan(session, plan_id=plan.id, by=inspector)
    session.commit()
    signed_in_client(client, world.leader)
    page = client.get("/duty?day=2026-01-07").text
    assert 'id="briefing-items"' in page and "Confirm the caller&#39;s need before answering" in page
    assert "Repeat it back" in page
    assert 'id="briefing-empty"' in client.get("/duty?day=2026-02-20").text  # no plan in the two weeks before


def _visible(html: str) -> str:
    """The page's text as read on screen: tags and their attributes removed."""
    return re.sub(r"<[^>]+>", " ", html)


def test_the_requester_reads_why_their_leave_was_refused(client: TestClient, session: Session, world: World) -> None:
    from scheduling import leave as leave_service

    me = world.agents[0]
    shift = assign(session, world, me, WEDNESDAY)
    request = leave_service.request(session, user_id=me.id, kind="personal", start=shift.start_at, end=shift.end_at,
                                    by=me)
    session.commit()
    signed_in_client(client, world.supervisor)
    page = client.get("/shifts").text
    assert f'action="/shifts/leave/{request.id}/refuse"' in page and 'name="reason"' in page
    missing = client.post(f"/shifts/leave/{request.id}/refuse", data={"reason": "other", "note": ""}, headers=HX)
    assert missing.status_code == 422 and "Say why the leave is refused." in missing.text
    bad = client.post(f"/shifts/leave/{request.id}/refuse", data={"reason": "mood", "note": "x"})
    assert bad.status_code == 422 and "Choose why the leave is refused." in bad.text
    assert fresh(session).get(LeaveRequest, request.id).status == "pending"
    refused = client.post(f"/shifts/leave/{request.id}/refuse",
                          data={"reason": "staffing", "note": "Two colleagues are on a course"}, follow_redirects=False)
    assert refused.status_code == 303
    signed_in_client(client, me)
    row = client.get("/shifts").text.split('id="my-leave"')[1].split("</table>")[0]
    assert "Refused" in row and "Not enough people would be left on duty." in row
    assert "Two colleagues are on a course" in row and "Supervisor" in row
    assert "leave.refused" not in _visible(row)  # the rule's code is never shown raw
    _zh(client)
    row = client.get("/shifts").text.split('id="my-leave"')[1].split("</table>")[0]
    assert "已拒绝" in row and "值班人手不足" in row and "leave.refused" not in _visible(row)


def test_an_admin_gets_no_leave_to_decide(client: TestClient, session: Session, world: World) -> None:
    from scheduling import leave as leave_service

    me = world.agents[0]
    shift = assign(session, world, me, WEDNESDAY)
    request = leave_service.request(session, user_id=me.id, kind="personal", start=shift.start_at, end=shift.end_at,
                                    by=me)
    session.commit()
    signed_in_client(client, make_user(session, role=Role.admin, site=world.site))
    assert 'id="leave-to-decide"' not in client.get("/shifts").text
    refused = client.post(f"/shifts/leave/{request.id}/approve", headers=HX)
    assert refused.status_code == 409 and "does not approve leave" in refused.text
    assert fresh(session).get(LeaveRequest, request.id).status == "pending"


def test_a_swapped_shift_left_empty_lists_both_parties_on_the_roll_call(  # type: ignore[no-untyped-def]
        client: TestClient, session: Session, world: World, clock) -> None:
    from scheduling import swaps

    a, b = world.agents[0], world.agents[1]
    shift = assign(session, world, a, WEDNESDAY)
    swap = swaps.request(session, shift_id=shift.id, partner_id=b.id, by=a)
    swaps.confirm(session, swap_id=swap.id, by=b)
    session.commit()
    signed_in_client(client, world.supervisor)  # a supervisor does not approve swaps: the team leaders do
    assert f'action="/shifts/swaps/{swap.id}/approve"' not in client.get("/shifts").text
    assert client.post(f"/shifts/swaps/{swap.id}/approve").status_code == 409
    for leader in (world.leader, world.other_leader):
        signed_in_client(client, leader)
        assert client.post(f"/shifts/swaps/{swap.id}/approve", follow_redirects=False).status_code == 303
    clock.set(shift.start_at + timedelta(hours=1))
    signed_in_client(client, world.leader)  # a day later: a new sign-in
    page = client.get("/duty?day=2026-01-07").text
    mine, theirs = (page.split(f'id="rollcall-{shift.id}-{who.id}"')[1].split("</tr>")[0] for who in (a, b))
    assert "Absent" in mine and "swapped this shift away" in mine and "both people of the swap" in mine
    assert "Absent" in theirs
    excused = client.post(f"/duty/rollcall/{shift.id}/excuse", data={"note": "B agreed in writing", "user_id": a.id,
                                                                    "back": "/duty?day=2026-01-07"},
                          follow_redirects=False)
    assert excused.status_code == 303
    page = client.get("/duty?day=2026-01-07").text
    assert "Excused" in page.split(f'id="rollcall-{shift.id}-{a.id}"')[1].split("</tr>")[0]
    assert "Absent" in page.split(f'id="rollcall-{shift.id}-{b.id}"')[1].split("</tr>")[0]


def test_the_handover_form_fills_in_staffing_and_has_every_part(client: TestClient, session: Session, world: World,
                                                                 clock) -> None:  # type: ignore[no-untyped-def]
    from scheduling import leave as leave_service

    me = world.agents[0]
    clock.set(datetime(2026, 1, 4, 9, tzinfo=UTC))
    tomorrow = assign(session, world, me, date(2026, 1, 6))
    off = leave_service.request(session, user_id=me.id, kind="personal", start=tomorrow.start_at,
                                end=tomorrow.end_at, by=me)
    leave_service.approve(session, leave_id=off.id, by=world.supervisor)
    session.commit()
    clock.set(datetime(2026, 1, 5, 9, tzinfo=UTC))
    signed_in_client(client, world.leader)
    page = client.get("/duty?day=2026-01-05").text
    preview = page.split('id="staffing-preview"')[1].split("</ul>")[0]
    assert me.display_name in preview and "Personal leave" in preview
    for part in ("Superiors' instructions", "Customers' suggestions and complaints", "Nothing to report"):
        assert part in html.unescape(page), part
    _zh(client)
    page = client.get("/duty?day=2026-01-05").text
    assert "上级指示" in page and "客户建议与投诉" in page and "无事项" in page


def test_reminders_are_shown_where_people_work_and_dismissed(client: TestClient, session: Session, world: World,
                                                             clock) -> None:  # type: ignore[no-untyped-def]
    from scheduling import leave as leave_service
    from scheduling import tasks

    me = world.agents[0]
    sick = assign(session, world, me, WEDNESDAY)
    assign(session, world, me, date(2026, 1, 9))
    leave_service.request(session, user_id=me.id, kind="sick", start=sick.start_at, end=sick.end_at, by=world.leader)
    session.commit()
    clock.set(datetime(2026, 1, 10, 8, tzinfo=UTC))  # the day after the first day back
    tasks.sweep_certificates()
    signed_in_client(client, me)
    for path in ("/", "/shifts"):
        panel = client.get(path).text.split('id="reminders"')[1].split("</section>")[0]
        assert "Your medical certificate was due on Jan 9, 2026" in panel and 'href="/shifts#my-leave"' in panel
    _zh(client)
    assert "您的病假证明应于 2026年1月9日 交回" in client.get("/shifts").text
    client.cookies.delete("hotline_locale")
    signed_in_client(client, world.leader)
    panel = client.get("/duty?day=2026-01-10").text.split('id="reminders"')[1].split("</section>")[0]
    assert f"{me.display_name}&#39;s medical certificate was due on Jan 9, 2026" in panel
    assert 'href="/shifts#certificates"' in panel
    reminder_id = int(re.search(r'action="/reminders/(\d+)/dismiss"', panel).group(1))
    signed_in_client(client, me)
    assert client.post(f"/reminders/{reminder_id}/dismiss", data={"back": "/shifts"},
                       follow_redirects=False).status_code == 303  # not theirs: nothing happens
    signed_in_client(client, world.leader)
    gone = client.post(f"/reminders/{reminder_id}/dismiss", data={"back": "/duty"}, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/duty"
    assert 'id="reminders"' not in client.get("/duty?day=2026-01-10").text
    signed_in_client(client, me)
    assert 'id="reminders"' in client.get("/shifts").text  # the agent's own stays until they dismiss it


@pytest.mark.parametrize("role", [Role.center_head, Role.admin])
def test_the_duty_pages_let_a_viewer_without_a_site_pick_one(client: TestClient, session: Session, world: World,
                                                            role: Role) -> None:
    """A center head or admin attached to no site used to get a server error (a duty log with no
    site); with two sites they now pick one, and the links on the page keep that site."""
    from tests.factories import make_site
    other = make_site(session, name="Harbour store", code="HBR")
    session.commit()
    signed_in_client(client, make_user(session, role=role, site=None))
    _zh(client)
    for path in ("/duty", "/duty/weekly"):
        chooser = client.get(path)
        assert chooser.status_code == 200 and 'id="site-choice"' in chooser.text and "选择门店" in chooser.text
        assert f'href="{path}?site={other.id}"' in chooser.text and f'href="{path}?site={world.site.id}"' in chooser.text
        assert client.get(f"{path}?site=999999").text.count('id="site-choice"') == 1  # an unknown site asks again
    page = client.get(f"/duty?site={world.site.id}&day=2026-01-05")
    assert page.status_code == 200 and 'id="rollcall-panel"' in page.text and 'id="site-picked"' in page.text
    assert f"kind=night&amp;site={world.site.id}" in page.text
    log = session.scalars(select(DutyLog).where(DutyLog.site_id == world.site.id)).one()
    assert log.day == date(2026, 1, 5)
    weekly = client.get(f"/duty/weekly?site={other.id}")
    assert weekly.status_code == 200 and 'id="weekly"' in weekly.text and f"site={other.id}" in weekly.text


# Shift templates -----------------------------------------------------------------------------

def test_a_leader_defines_a_shift_template_the_roster_then_offers(client: TestClient, session: Session,
                                                                  world: World) -> None:
    from scheduling import shifts as shift_service

    signed_in_client(client, world.agents[0])
    assert client.get("/shifts/templates").status_code == 403
    signed_in_client(client, world.leader)
    page = client.get("/shifts/templates")
    assert page.status_code == 200 and 'id="template-list"' in page.text and ">Day<" in page.text
    assert not re.search(r"\son[a-z]+=|style=", page.text)
    saved = client.post("/shifts/templates", data={"name": "Late", "kind": "custom", "start": "14:00",
                                                   "length": "7.5", "skill": "hotline"}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/shifts/templates"
    late = [t for t in shift_service.list_templates(fresh(session), site_id=world.site.id) if t.name == "Late"][0]
    assert (late.kind, late.start_minute, late.length_minutes, late.skill_id) == ("custom", 840, 450, world.skill.id)
    assert "The shift template was saved" in client.get("/shifts/templates").text
    roster_id = _roster(client, world)
    assert f'value="{late.id}"' in client.get(f"/shifts/rosters/{roster_id}").text


def test_a_leader_edits_a_shift_template_for_shifts_assigned_from_then_on(client: TestClient, session: Session,
                                                                          world: World) -> None:
    given = assign(session, world, world.agents[0], WEDNESDAY)
    given_times = (given.start_at, given.end_at)
    signed_in_client(client, world.leader)
    page = client.get("/shifts/templates")
    assert f'action="/shifts/templates/{world.day.id}"' in page.text and 'id="template-list"' in page.text
    assert not re.search(r"\son[a-z]+=|style=", page.text)
    saved = client.post(f"/shifts/templates/{world.day.id}", data={
        "name": "Early", "kind": "day", "start": "07:00", "length": "7", "skill": ""}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/shifts/templates"
    early = fresh(session).get(type(world.day), world.day.id)
    assert (early.name, early.start_minute, early.length_minutes, early.skill_id) == ("Early", 420, 420, None)
    assert "The shift template was changed" in client.get("/shifts/templates").text
    # The shift given before keeps its times; one assigned now takes the new ones.
    kept = fresh(session).get(Shift, given.id)
    assert (kept.start_at, kept.end_at) == given_times
    later = assign(session, world, world.agents[0], WEDNESDAY + timedelta(days=2))
    assert later.end_at - later.start_at == timedelta(hours=7)
    # A refused edit is shown in that template's own form, opened, in the reader's language.
    refused = client.post(f"/shifts/templates/{world.day.id}", data={"name": "Early", "start": "7", "length": "0"},
                          headers=HX)
    assert refused.status_code == 422 and "<html" not in refused.text
    prefix = f"t{world.day.id}-"
    assert f'id="{prefix}start-error"' in refused.text and f'id="{prefix}length-error"' in refused.text
    assert 'id="start-error"' not in refused.text  # the new-template form stays clean
    _zh(client)
    chinese = client.post(f"/shifts/templates/{world.day.id}", data={"name": "早班", "start": "8am", "length": "8"})
    assert chinese.status_code == 422 and "请填写开始时间，例如 08:00。" in chinese.text


def test_a_template_taken_out_of_use_is_not_offered_but_shifts_keep_it(client: TestClient, session: Session,
                                                                       world: World) -> None:
    roster_id = _roster(client, world)
    data = {"user_id": world.agents[0].id, "day": "2026-01-07", "template_id": world.night.id}
    assert client.post(f"/shifts/rosters/{roster_id}/assign", data=data, follow_redirects=False).status_code == 303
    retired = client.post(f"/shifts/templates/{world.night.id}/active", data={"active": "0"}, follow_redirects=False)
    assert retired.status_code == 303
    templates = client.get("/shifts/templates").text
    assert "The shift template is out of use" in templates and "No longer in use" in templates
    assert "Use again" in templates
    calendar = client.get(f"/shifts/rosters/{roster_id}").text
    offered = re.search(r'<select id="assign-template" name="template_id">(.*?)</select>', calendar, re.S)
    assert offered and f'value="{world.night.id}"' not in offered.group(1)
    assert f'value="{world.day.id}"' in offered.group(1)
    assert 'roster-shift shift-night">Night ' in calendar  # the shift given before still shows its template
    kept = fresh(session).scalar(select(Shift).where(Shift.roster_id == roster_id))
    assert kept is not None and kept.template_id == world.night.id
    # Asked for anyway (an old form), it is refused in words, in both languages.
    data["day"] = "2026-01-09"
    refused = client.post(f"/shifts/rosters/{roster_id}/assign", data=data)
    assert refused.status_code == 422 and "That shift template is no longer in use" in refused.text
    _zh(client)
    assert "该班次模板已停用" in client.post(f"/shifts/rosters/{roster_id}/assign", data=data).text
    assert "重新启用" in client.get("/shifts/templates").text
    back = client.post(f"/shifts/templates/{world.night.id}/active", data={"active": "1"}, follow_redirects=False)
    assert back.status_code == 303
    calendar = client.get(f"/shifts/rosters/{roster_id}").text
    assert f'value="{world.night.id}"' in calendar


def test_a_leader_cannot_change_another_sites_templates(client: TestClient, session: Session, world: World) -> None:
    from core.models import Site
    from scheduling import shifts as shift_service
    from tests.factories import make_site

    other: Site = make_site(session)
    theirs = shift_service.create_template(session, site_id=other.id, name="Theirs", start="09:00", length_minutes=480)
    session.commit()
    signed_in_client(client, world.leader)
    refused = client.post(f"/shifts/templates/{theirs.id}/active", data={"active": "0"})
    assert refused.status_code == 409
    assert fresh(session).get(type(theirs), theirs.id).active is True


def test_a_shift_template_refused_beside_its_fields_in_both_languages(client: TestClient, session: Session,
                                                                      world: World) -> None:
    signed_in_client(client, world.leader)
    refused = client.post("/shifts/templates", data={"name": "", "start": "25:00", "length": "30"}, headers=HX)
    assert refused.status_code == 422 and "<html" not in refused.text and 'id="templates-main"' in refused.text
    for field in ("name", "start", "length"):
        assert f'id="{field}-error"' in refused.text, field
    assert "A shift lasts more than 0 and at most 24 hours" in refused.text
    unknown = client.post("/shifts/templates", data={"name": "X", "start": "08:00", "length": "8", "skill": "nope"})
    assert unknown.status_code == 422 and 'id="skill-error"' in unknown.text
    _zh(client)
    chinese = client.post("/shifts/templates", data={"name": "夜班", "start": "8am", "length": "8"})
    assert chinese.status_code == 422 and "请填写开始时间，例如 08:00。" in chinese.text
    from scheduling import shifts as shift_service

    assert {t.name for t in shift_service.list_templates(fresh(session), site_id=world.site.id)} == {"Day", "Night"}


def test_my_shifts_name_their_template_and_a_swap_says_what_it_waits_for(client: TestClient, session: Session,
                                                                          world: World) -> None:
    """Two templates of one kind (the demo's Early and Late are both day shifts) read apart by
    name, and a proposed swap's pending steps read as separate words, in both languages."""
    late = shifts.create_template(session, site_id=world.site.id, name="Late", start="14:00", length_minutes=480,
                                  kind="day", skill_code="hotline")
    session.commit()
    shift = shifts.assign(session, user_id=world.agents[0].id, day=WEDNESDAY, template_id=late.id,
                          by=world.leader)
    session.commit()
    signed_in_client(client, world.agents[0])
    client.post("/shifts/swaps", data={"shift_id": shift.id, "partner_id": world.agents[1].id})
    page = client.get("/shifts").text
    mine = page.split('id="my-shifts"', 1)[1].split("</table>", 1)[0]
    assert "Late" in mine and "Day shift" in mine
    assert re.search(r'<option value="%d"[^>]*>[^<]*· Late</option>' % shift.id, page)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "colleague to confirm · team leaders to approve" in text
    _zh(client)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get("/shifts").text))
    assert "已提出：待同事确认 · 待班长审批" in text  # a Chinese colon after the state


def test_the_for_labels_of_leave_and_notices_read_right_in_chinese(client: TestClient, world: World) -> None:
    """One English word, three meanings: a grant lasts *for* two hours (时长), but leave is asked
    *for* a person and a notice is *for* a team; those two labels read as a duration in Chinese."""
    signed_in_client(client, world.leader)
    _zh(client)
    leave = client.get("/shifts").text
    assert re.search(r'<label for="leave-user">请假人</label>', leave)
    notices = client.get("/notices").text
    assert re.search(r'<label for="notice-team">发送对象</label>', notices)
