"""The scheduling pages in Chromium: a swap refused for its rules (the page lists them, through
htmx, without a reload), a handover refused while a part is blank, then written (or "nothing to
report") by the outgoing lead and accepted by the incoming one, a leave refusal's reason read by
the agent in English and Chinese, and the roster's forecast chart drawn from its JSON."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from tests.browser.conftest import Browsing
from tests.factories import cheap_password_hashing
from tests.scheduling.conftest import World, assign, world

__all__ = ["cheap_password_hashing", "world"]

WEDNESDAY = date(2026, 1, 7)


def _expected_refusal(browsing: Browsing) -> None:
    """Chromium logs the refused form's 422 as a failed load; that one is the point of the test."""
    browsing.errors[:] = [e for e in browsing.errors if "status of 422" not in e]


def test_a_swap_refused_for_its_rules(browsing: Browsing, session: Session, world: World) -> None:
    assign(session, world, world.agents[0], WEDNESDAY)
    assign(session, world, world.agents[3], WEDNESDAY)  # the partner already works then
    page = browsing.signed_in(world.agents[0].username, path="/shifts")
    page.locator("#swap-partner").select_option(str(world.agents[3].id))
    page.get_by_role("button", name="Ask for a swap").click()
    refusal = page.locator("#swap-refusal")
    expect(refusal).to_be_visible()
    expect(refusal.locator('[data-rule="swap.overlap"]')).to_contain_text(
        f"{world.agents[3].display_name} already works a shift at that time.")
    expect(refusal.locator('[data-rule="swap.skill_level"]')).to_be_visible()
    assert page.url.endswith("/shifts")
    _expected_refusal(browsing)


def test_a_swap_refusal_reads_in_chinese(browsing: Browsing, session: Session, world: World) -> None:
    assign(session, world, world.agents[0], WEDNESDAY)
    assign(session, world, world.agents[3], WEDNESDAY)
    page = browsing.signed_in(world.agents[0].username, path="/shifts", locale="zh-CN")
    page.locator("#swap-partner").select_option(str(world.agents[3].id))
    page.get_by_role("button", name="申请换班").click()
    expect(page.locator('#swap-refusal [data-rule="swap.overlap"]')).to_contain_text("在该时段已有班次")
    _expected_refusal(browsing)


def test_a_handover_written_then_accepted(browsing: Browsing, world: World) -> None:
    outgoing = browsing.signed_in(world.leader.username, path="/duty")
    outgoing.locator("#handover-equipment_status").fill("Headset 4 crackles")
    outgoing.locator("#handover-unresolved_issues").fill("Mrs Li waits for a callback")
    outgoing.get_by_role("button", name="Send to the incoming lead").click()
    # Blank parts are not a report: each is named beside its box, and what was typed stays.
    expect(outgoing.locator("#handover-refusal")).to_be_visible()
    expect(outgoing.locator("#missing-notices")).to_contain_text("Notices is empty")
    expect(outgoing.locator("#handover-notices")).to_have_attribute("aria-invalid", "true")
    expect(outgoing.locator("#missing-equipment_status")).to_have_count(0)
    expect(outgoing.locator("#handover-equipment_status")).to_have_value("Headset 4 crackles")
    _expected_refusal(browsing)
    outgoing.locator("#handover-superiors_instructions").fill("New price list from Friday")
    for name in ("difficult_issues", "staffing_changes", "notices", "customer_feedback"):
        outgoing.locator(f"#nothing-{name}").check()
    outgoing.get_by_role("button", name="Send to the incoming lead").click()
    expect(outgoing.locator("#duty-main .alert.success")).to_contain_text("sent to the incoming lead")
    expect(outgoing.locator(".handover-status")).to_have_text("Submitted")

    incoming = browsing.signed_in(world.other_leader.username, path="/duty")
    incoming.locator("#handovers-waiting a").click()
    expect(incoming.locator(".handover-fields")).to_contain_text("Headset 4 crackles")
    expect(incoming.locator("#handed-superiors_instructions")).to_contain_text("New price list from Friday")
    expect(incoming.locator("#handed-notices")).to_have_text("Nothing to report")
    incoming.get_by_role("button", name="Accept the handover").click()
    expect(incoming.locator("#handover-main .handover-status")).to_contain_text("Accepted")
    expect(incoming.locator("#handover-main .handover-status")).to_contain_text("locked")
    incoming.locator("#append-text").fill("Headset 4 replaced at 18:10")
    incoming.get_by_role("button", name="Append").click()
    expect(incoming.locator("#additions .addition")).to_contain_text("Headset 4 replaced at 18:10")

    outgoing.reload()
    expect(outgoing.locator(".handover-status")).to_have_text("Accepted")
    expect(outgoing.locator("#handover-panel form")).to_have_count(0)  # locked: nothing to edit


def test_a_handover_refused_for_blank_parts_reads_in_chinese(browsing: Browsing, world: World) -> None:
    page = browsing.signed_in(world.leader.username, path="/duty", locale="zh-CN")
    page.locator("#handover-equipment_status").fill("耳机正常")
    page.get_by_role("button", name="发送给接班班长").click()
    expect(page.locator("#missing-notices")).to_contain_text("通告为空")
    expect(page.locator("#handover-refusal")).not_to_contain_text("handover.missing")
    _expected_refusal(browsing)


def test_an_agent_reads_why_their_leave_was_refused(browsing: Browsing, session: Session, world: World) -> None:
    from scheduling import leave

    me = world.agents[0]
    shift = assign(session, world, me, WEDNESDAY)
    request = leave.request(session, user_id=me.id, kind="personal", start=shift.start_at, end=shift.end_at, by=me)
    session.commit()
    supervisor = browsing.signed_in(world.supervisor.username, path="/shifts")
    row = supervisor.locator("#leave-to-decide tr", has_text=me.display_name)
    row.locator(f"#refuse-reason-{request.id}").select_option("staffing")
    row.locator(f"#refuse-note-{request.id}").fill("Three colleagues are on a course that day")
    row.get_by_role("button", name="Refuse").click()
    expect(supervisor.locator("#shifts-main .alert.success")).to_contain_text("The leave request was decided.")

    agent = browsing.signed_in(me.username, path="/shifts")
    reason = agent.locator("#my-leave .refusal-reason")
    expect(reason).to_contain_text("Not enough people would be left on duty.")
    expect(reason).to_contain_text("Three colleagues are on a course that day")
    expect(agent.locator("#my-leave")).not_to_contain_text("leave.refused")
    chinese = browsing.signed_in(me.username, path="/shifts", locale="zh-CN")
    expect(chinese.locator("#my-leave .refusal-reason")).to_contain_text("值班人手不足")
    expect(chinese.locator("#my-leave .leave-state")).to_contain_text("已拒绝")


def test_the_roster_chart_draws(browsing: Browsing, world: World) -> None:
    page = browsing.signed_in(world.leader.username, path="/shifts/rosters")
    page.locator("#roster-first").fill("2026-01-06")
    page.locator("#roster-last").fill("2026-01-12")
    page.get_by_role("button", name="Create the roster").click()
    expect(page.locator("#roster-calendar")).to_be_visible()
    page.locator("#assign-day").fill("2026-01-07")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator("#roster-main .alert.success")).to_contain_text("The shift was assigned.")
    expect(page.locator(".roster-shift")).to_have_count(1)
    expect(page.locator("[data-coverage-url]")).to_have_attribute("data-loaded", "true")


def test_a_notice_withdrawn_and_a_certificate_recorded(browsing: Browsing, session: Session, world: World) -> None:
    from scheduling import leave, notices

    notices.publish_notice(session, title="Old price list", body="Use list A.", by=world.leader)
    shift = assign(session, world, world.agents[0], WEDNESDAY)
    assign(session, world, world.agents[0], date(2026, 1, 9))
    leave.request(session, user_id=world.agents[0].id, kind="sick", start=shift.start_at, end=shift.end_at,
                  by=world.leader)
    session.commit()
    page = browsing.signed_in(world.leader.username, path="/notices")
    page.locator(".withdraw-form input[name=reason]").fill("List A is out of date")
    page.get_by_role("button", name="Withdraw the notice").click()
    expect(page.locator("#notices-main .alert.success")).to_contain_text("The notice was withdrawn")
    expect(page.locator(".notice.withdrawn .withdrawn-note")).to_contain_text(world.leader.display_name)
    expect(page.get_by_role("button", name="Withdraw the notice")).to_have_count(0)

    page.goto(page.url.replace("/notices", "/shifts"))
    expect(page.locator("#certificates .certificate")).to_have_count(1)
    page.get_by_role("button", name="Certificate received").click()
    expect(page.locator("#shifts-main .alert.success")).to_contain_text("recorded as received")
    expect(page.locator("#certificates")).to_have_count(0)


@pytest.mark.parametrize(("locale", "turn_down", "why"), [("en-GB", "Turn down", "Why:"), ("zh-CN", "拒绝", "原因：")])
def test_a_swap_turned_down_tells_the_requester_why(browsing: Browsing, session: Session, world: World,
                                                    locale: str, turn_down: str, why: str) -> None:
    from sqlalchemy import select

    from scheduling import swaps
    from scheduling.models import SwapRequest

    shift = assign(session, world, world.agents[0], WEDNESDAY)
    swaps.request(session, shift_id=shift.id, partner_id=world.agents[1].id, by=world.agents[0])
    session.commit()
    swap_id = session.scalar(select(SwapRequest.id))
    leader = browsing.signed_in(world.leader.username, path="/shifts", locale=locale)
    leader.locator(f"#swap-note-{swap_id}").fill("Nobody left for the evening queue.")
    leader.locator("#swap-list").get_by_role("button", name=turn_down).click()
    expect(leader.locator(f"#swap-note-{swap_id}")).to_have_count(0)
    requester = browsing.signed_in(world.agents[0].username, path="/shifts", locale=locale)
    expect(requester.locator("#swap-list .refusal-reason")).to_contain_text(why)
    expect(requester.locator("#swap-list .refusal-reason")).to_contain_text("Nobody left for the evening queue.")


@pytest.mark.parametrize(("locale", "notices"), [("en-GB", "Notices"), ("zh-CN", "通告")])
def test_a_qa_inspectors_notices_link_opens(browsing: Browsing, session: Session, world: World, locale: str,
                                            notices: str) -> None:
    from core.models import Role
    from scheduling import notices as notice_service
    from tests.factories import make_user

    inspector = make_user(session, role=Role.qa_inspector, site=world.site)
    notice_service.publish_notice(session, title="New greeting", body="Use the new greeting.", by=world.leader)
    session.commit()
    page = browsing.signed_in(inspector.username, path="/", locale=locale)
    page.locator("nav.mainnav").get_by_role("link", name=notices, exact=True).click()
    page.wait_for_url("**/notices")
    expect(page.locator("main")).to_contain_text("New greeting")
