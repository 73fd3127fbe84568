"""No Content-Security-Policy violation after htmx swaps: an element the reader changed the size
of (a resized text box, a chart's canvas) carries a style attribute, and htmx used to copy it onto
the element swapped in with the same id, an inline style the policy refuses. Replayed on the
desktop, the floor, a roster, the shifts and the duty pages; the console must stay clean."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.db import become_writer
from tests.agent_ui.desk import Desk, desk
from tests.browser.conftest import Browsing
from tests.factories import cheap_password_hashing
from tests.scheduling.conftest import World, world
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing", "desk", "world"]


def _resized(page: Any, selector: str) -> None:
    """What a reader's drag of a text box's corner leaves: an inline size (set through the CSSOM,
    which the policy allows, as the browser itself does); small, so nothing moves."""
    # Checked in the same task: the next swap of the element (ours, or the websocket's) replaces it.
    assert page.locator(selector).evaluate("el => { el.style.minHeight = '1px'; return el.getAttribute('style'); }")


def _clean(browsing: Browsing) -> None:
    """The refused forms' 409/422 are the point; anything else (a CSP violation) is not."""
    browsing.errors[:] = [e for e in browsing.errors if "status of 422" not in e and "status of 409" not in e]
    assert not browsing.errors, browsing.errors


def test_shifts_and_duty_pages_swap_without_inline_styles(browsing: Browsing, session: Session,
                                                          world: World) -> None:
    shifts = browsing.signed_in(world.agents[0].username, path="/shifts")
    _resized(shifts, "#shifts-main")
    shifts.locator('form[action="/shifts/days-off"] button[type="submit"]').click()  # no day: refused, swapped
    expect(shifts.locator("#days-off-refusal")).to_be_visible()
    _clean(browsing)

    duty = browsing.signed_in(world.leader.username, path="/duty")
    _resized(duty, "#log-system_problems")
    _resized(duty, "#duty-main")
    duty.locator("#log-inquiry_count").fill("-1")
    duty.get_by_role("button", name="Save the duty log").click()
    expect(duty.locator("#log-refusal")).to_be_visible()
    _clean(browsing)


def test_a_roster_swaps_without_inline_styles(browsing: Browsing, world: World) -> None:
    page = browsing.signed_in(world.leader.username, path="/shifts/rosters")
    page.locator("#roster-first").fill("2026-01-12")
    page.locator("#roster-last").fill("2026-01-18")
    page.get_by_role("button", name="Create the roster").click()
    page.wait_for_url("**/shifts/rosters/*")
    _resized(page, "#roster-main")
    _resized(page, "#assign-template")
    page.locator('#roster-main form[action*="/assign"] button[type="submit"]').click()  # assigned or refused: swapped either way
    expect(page.locator("#roster-main .alert")).to_be_visible()
    _clean(browsing)


def test_desktop_and_floor_swap_without_inline_styles(browsing: Browsing, desk: Desk, session: Session) -> None:
    board = browsing.signed_in("lead", path="/floor")
    expect(board.locator("html")).to_have_attribute("data-live", "open")
    expect(board.locator(".charts")).to_have_attribute("data-loaded", "true")
    _resized(board, "#backlog-panel")
    agent = browsing.signed_in("agent-a", path="/desktop")
    expect(agent.locator("html")).to_have_attribute("data-live", "open")
    _resized(agent, "#presence-panel")
    _resized(agent, "#tickets-panel")
    agent.locator("#presence-panel").get_by_role("button", name="Available").click()
    expect(agent.locator("#presence-panel .presence-state")).to_have_text("Available")
    # A new ticket for the agent: the desktop's list and the floor's backlog arrive over the websocket.
    # Written as the serialised writer: the test's session is a reader, and on SQLite a reader's
    # write fails at once while the app writes (database is locked, seen in CI).
    become_writer(session)
    ticket = ticket_service.open_ticket(session, category="complaint", by=desk.agent, customer_id=desk.customer.id,
                                        assignee_id=desk.agent.id)
    session.commit()
    expect(agent.locator("#tickets-panel")).to_contain_text(ticket.number)
    expect(board.locator("#backlog-panel")).to_contain_text(ticket.number)
    _clean(browsing)
