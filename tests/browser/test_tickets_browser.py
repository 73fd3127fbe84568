"""A team leader works a ticket in Chromium: opens it from the list, adds a note, resolves it and
grants a callback authorisation; the agent then sees the customer's details (htmx swaps and the
plain post-redirect-get both go through the real app)."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core import assignments
from tests.agent_ui.desk import Desk, callback_ticket, desk
from tests.browser.conftest import Browsing, LiveServer
from tests.factories import cheap_password_hashing
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing", "desk"]


def test_a_team_leader_resolves_a_ticket_and_authorises_a_callback(browsing: Browsing, live_server: LiveServer,
                                                                  desk: Desk, session: Session) -> None:
    ticket_id = callback_ticket(session, desk)
    number = ticket_service.get(session, ticket_id=ticket_id, user=None).number
    # The team leader is the store's named manager: who grants callback authorisations.
    assignments.assign_site_manager(session, site_id=desk.site.id, user_id=desk.team_leader.id, by=None)
    session.commit()

    lead = browsing.signed_in("lead", path="/tickets")
    lead.get_by_label("Customer phone").fill("138 0013 8000")
    lead.get_by_role("button", name="Search").click()
    expect(lead.locator("#ticket-results")).to_contain_text(number)
    assert "138" not in lead.url
    lead.get_by_role("link", name=number).click()
    lead.wait_for_url(f"**/tickets/{ticket_id}")

    lead.get_by_label("New note").fill("Customer asked for a call after 6 pm.")
    lead.get_by_role("button", name="Add note").click()
    expect(lead.locator(".notes")).to_contain_text("Customer asked for a call after 6 pm.")

    lead.get_by_label("Resolution (needed to resolve)").fill("Explained the refund; agent will call back.")
    lead.get_by_role("button", name="Move to Resolved").click()
    expect(lead.locator("#ticket-status")).to_have_text("Resolved")
    expect(lead.locator("#to-resolved")).to_have_count(0)

    grant_form = lead.locator("#grant-form")
    grant_form.get_by_label("Agent").select_option(label="An Agent")
    grant_form.get_by_label("For").select_option("60")
    grant_form.get_by_label("Reason").fill("Promised a call back after 6 pm")
    grant_form.get_by_role("button", name="Grant").click()
    expect(lead.locator("#saved-grant")).to_be_visible()

    lead.goto("/authorisations")
    row = lead.locator("tbody tr").first
    expect(row).to_contain_text("An Agent")
    expect(row.locator(".countdown")).to_have_attribute("role", "timer")

    agent = browsing.signed_in("agent-a", path=f"/customers/{desk.customer.id}")
    card = agent.locator("#customer-card")
    expect(card).to_contain_text("Wang Fang")
    expect(card).to_contain_text("+8613800138000")
    expect(agent.locator("#customer-grant-countdown")).to_be_visible()


def test_a_team_leader_reassigns_tags_and_answers_a_complaint(browsing: Browsing, live_server: LiveServer,
                                                             desk: Desk, session: Session) -> None:
    ticket = ticket_service.open_ticket(session, category="complaint", by=desk.agent, customer_id=desk.customer.id)
    session.commit()

    lead = browsing.signed_in("lead", path=f"/tickets/{ticket.id}")
    assign_form = lead.locator("#assign-form")
    assign_form.get_by_label("Assignee").select_option(label="Bo Teammate")
    assign_form.get_by_role("button", name="Assign").click()
    expect(lead.locator("#ticket-assignee")).to_have_text("Bo Teammate")

    lead.get_by_label("New tag").fill("Late delivery")
    lead.get_by_role("button", name="Add tag").click()
    remove = lead.get_by_role("button", name="Remove the tag Late delivery")
    expect(remove).to_be_visible()
    remove.click()
    expect(remove).to_have_count(0)

    reply_form = lead.locator("#reply-form")
    reply_form.get_by_label("How the customer was answered").select_option("phone")
    reply_form.get_by_label("What the customer was told").fill("Refund agreed, courier apologised")
    reply_form.get_by_role("button", name="Record the reply").click()
    expect(lead.locator("#reply-answered")).to_contain_text("on time")
    expect(lead.locator(".notes")).to_contain_text("Refund agreed, courier apologised")


def test_the_hubs_own_reason_for_an_escalation_is_shown_in_the_readers_language(
        browsing: Browsing, live_server: LiveServer, desk: Desk, session: Session) -> None:
    """A deadline that passed escalates the ticket with the hub's own words for why: a msgid the
    timeline shows translated (a person's typed reason stays as typed)."""
    from tickets import sla

    ticket_id = callback_ticket(session, desk)
    due = ticket_service.get(session, ticket_id=ticket_id, user=None).sla_due_at
    assert due is not None
    assert sla.check(session, ticket_id=ticket_id, now=due + timedelta(minutes=1)) == "breached"
    session.commit()

    lead = browsing.signed_in("lead", path=f"/tickets/{ticket_id}", locale="zh-CN")
    timeline = lead.locator(".timeline")
    expect(timeline).to_contain_text("时限已过")
    expect(timeline).not_to_contain_text("deadline passed")


def test_a_ticket_closed_as_a_repeat_call_says_so_in_the_readers_language(
        browsing: Browsing, live_server: LiveServer, desk: Desk, session: Session) -> None:
    """Attaching a repeat call closes the new ticket with the hub's words (translated) and names
    the ticket its calls went to."""
    from tickets import repeat_calls

    earlier = ticket_service.open_ticket(session, category="inquiry", by=desk.agent, customer_id=desk.customer.id)
    repeat = ticket_service.open_ticket(session, category="inquiry", by=desk.agent, customer_id=desk.customer.id)
    repeat_calls.attach_calls(session, ticket_id=repeat.id, to_ticket_id=earlier.id, by=desk.agent)
    session.commit()

    lead = browsing.signed_in("lead", path=f"/tickets/{repeat.id}", locale="zh-CN")
    timeline = lead.locator(".timeline")
    expect(timeline).to_contain_text("重复来电")
    expect(timeline).to_contain_text(earlier.number)
    expect(timeline).not_to_contain_text("A repeat call")


def test_a_chinese_team_leader_tags_in_chinese_and_finds_the_ticket_by_it(browsing: Browsing,
                                                                           live_server: LiveServer,
                                                                           desk: Desk, session: Session) -> None:
    """Chinese tags were refused; now kept as typed, shown on the ticket and found by the list's tag filter."""
    from core import users

    ticket = ticket_service.open_ticket(session, category="complaint", by=desk.agent, customer_id=desk.customer.id)
    users.set_locale(session, user_id=desk.team_leader.id, locale="zh_Hans")
    session.commit()

    lead = browsing.signed_in("lead", path=f"/tickets/{ticket.id}", locale="zh-CN")
    lead.locator("#tag-new").fill("  周一起   断线 ")
    lead.locator("#tag-form button[type=submit]").click()
    expect(lead.locator("#ticket-tags")).to_have_text("周一起 断线")
    lead.goto("/tickets")
    lead.locator("#filter-tag").fill("周一起 断线")
    lead.locator("#filter-tag").press("Enter")
    expect(lead.locator(f'a[href="/tickets/{ticket.id}"]').first).to_be_visible()
    lead.locator("#filter-tag").fill("别的标签")
    lead.locator("#filter-tag").press("Enter")
    expect(lead.locator(f'a[href="/tickets/{ticket.id}"]')).to_have_count(0)

