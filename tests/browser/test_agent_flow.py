"""An agent's day in Chromium against the real app and the carrier simulator: sign in, go
available, a call arrives and is answered, the ticket is written and saved, the call ends and
wrap-up runs; and a callback whose authorisation expires while the agent watches."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from core.db import session_scope
from telephony import presence, routing
from tests.agent_ui.desk import CALLER, Desk, desk, grant_for
from tests.browser.conftest import Browsing, LiveServer, eventually
from tests.factories import cheap_password_hashing, fresh
from tickets import grants
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing", "desk"]


def test_an_agent_takes_a_call_writes_the_ticket_and_wraps_up(browsing: Browsing, live_server: LiveServer,
                                                             desk: Desk, session: Session,
                                                             clock: FrozenClock) -> None:
    board = browsing.signed_in("boss", path="/floor")
    expect(board.locator("html")).to_have_attribute("data-live", "open")
    expect(board.locator("#stat-available")).to_have_text("0")

    agent = browsing.signed_in("agent-a", path="/desktop")
    expect(agent.locator("html")).to_have_attribute("data-live", "open")
    agent.get_by_role("button", name="Available").click()
    expect(agent.locator("#presence-panel .presence-state")).to_have_text("Available")
    # The supervisor's wallboard follows without a reload.
    expect(board.locator("#stat-available")).to_have_text("1")
    expect(board.locator('[data-state="available"]')).to_contain_text("An Agent")

    with live_server.carrier() as sim:
        sid = sim.place_call(CALLER)
        sim.pump()
        assert sim.press(sid, "1")
    offer = agent.locator("#offer-panel")
    expect(offer).to_contain_text("Incoming call")
    expect(offer).to_contain_text("Wang Fang")  # the call offered to them: the full card
    expect(agent.locator("#offer-countdown")).to_have_attribute("role", "timer")
    expect(board.locator("#stat-available")).to_have_text("0")
    eventually(lambda: live_server.sim.phone(f"agent_{desk.agent.id}").ringing(), what="the browser phone ringing")

    agent.get_by_role("button", name="Accept").click()
    expect(agent.locator("#call-panel")).to_contain_text("On a call")
    expect(agent.locator("#presence-panel .presence-state")).to_have_text("On a call")
    expect(board.locator('[data-state="on_call"]')).to_contain_text("An Agent")

    agent.get_by_label("Category").select_option("complaint")
    expect(agent.locator("#ticket-save-status")).to_contain_text("Saved at")
    agent.get_by_label("Notes").fill("The parcel arrived two days late.")
    agent.get_by_label("Notes").press("End")  # a keyup: the form saves itself after a pause
    expect(agent.locator("#ticket-save-status")).to_contain_text("Saved at", timeout=5000)
    ticket_id = int(agent.locator("#ticket-form").get_attribute("action").rsplit("/", 1)[1])
    eventually(lambda: ticket_service.get(fresh(session), ticket_id=ticket_id, user=None).description
               == "The parcel arrived two days late.", what="the notes saved")
    assert ticket_service.get(session, ticket_id=ticket_id, user=None).category == "complaint"

    agent.get_by_role("button", name="End call").click()
    expect(agent.locator("#presence-panel .presence-state")).to_have_text("Wrap-up")
    expect(agent.locator("#wrap-up-countdown")).to_be_visible()
    expect(agent.locator("#call-panel")).to_contain_text("Call ended: wrap-up")
    agent.get_by_label("Resolution").fill("Refunded the postage.")
    agent.get_by_role("button", name="Resolve ticket").click()
    expect(agent.locator("#ticket-panel")).to_contain_text("Resolved")

    # Wrap-up runs its course on the server's clock; the sweep makes the agent available again.
    clock.advance(seconds=31)
    with session_scope() as own:
        routing.sweep(own)
    expect(agent.locator("#presence-panel .presence-state")).to_have_text("Available")
    expect(board.locator("#stat-available")).to_have_text("1")
    assert presence.get_presence(fresh(session), user_id=desk.agent.id).state == "available"


def test_a_callback_button_disables_when_its_authorisation_runs_out(browsing: Browsing, desk: Desk,
                                                                   session: Session, clock: FrozenClock) -> None:
    expiring = grant_for(session, desk, minutes=1)
    clock.advance(seconds=57)  # the page is rendered three seconds before the expiry
    agent = browsing.signed_in("agent-a", path="/desktop")
    expect(agent.locator("html")).to_have_attribute("data-live", "open")
    button = agent.locator(f"#dial-{expiring}")
    expect(button).to_be_enabled()
    expect(agent.locator(f"#grant-countdown-{expiring}")).to_have_attribute("data-countdown-to",
                                                                           "2026-01-05T09:01:00+00:00")
    # The page's own countdown, on the server's time, disables the button at the expiry.
    expect(button).to_be_disabled(timeout=6000)
    expect(agent.locator("#callbacks-panel .grant-state").first).to_have_text("Expired")
    # Only the state is left: not "Expired · expires in Expired".
    expect(agent.locator("#callbacks-panel .callback-state").first).to_have_text(re.compile(r"^\s*Expired\s*$"),
                                                                                use_inner_text=True)

    # The server agrees: its sweep announces the expiry and the panel it sends keeps it disabled.
    clock.advance(seconds=5)
    with session_scope() as own:
        assert grants.record_expiries(own) == 1
    expect(agent.locator(f"#dial-{expiring}")).to_have_attribute("disabled", "")

    # A revocation reaches the page over the websocket at once.
    revoked = grant_for(session, desk, minutes=120)
    expect(agent.locator(f"#dial-{revoked}")).to_be_enabled()
    grants.revoke_grant(session, grant_id=revoked, by=desk.supervisor)
    session.commit()
    expect(agent.locator(f"#dial-{revoked}")).to_be_disabled()


@pytest.mark.parametrize(("locale", "accept", "inquiry", "complaint"), [
    ("en-GB", "Accept", "Inquiry", "Complaint"),
    ("zh-CN", "接听", "咨询", "投诉"),
])
def test_during_a_call_the_ticket_stands_beside_the_card_that_follows_it(
        browsing: Browsing, live_server: LiveServer, desk: Desk, session: Session, locale: str, accept: str,
        inquiry: str, complaint: str) -> None:
    presence.set_presence(session, user_id=desk.agent.id, state="available")
    session.commit()
    agent = browsing.signed_in("agent-a", path="/desktop", locale=locale)
    agent.set_viewport_size({"width": 1280, "height": 800})
    expect(agent.locator("html")).to_have_attribute("data-live", "open")
    with live_server.carrier() as sim:
        sid = sim.place_call(CALLER)
        sim.pump()
        assert sim.press(sid, "1")
    expect(agent.locator("#offer-panel")).to_contain_text("Wang Fang")
    eventually(lambda: live_server.sim.phone(f"agent_{desk.agent.id}").ringing(), what="the browser phone ringing")
    agent.locator("#offer-panel").get_by_role("button", name=accept).click()
    card, ticket = agent.locator("#call-panel"), agent.locator("#ticket-panel")
    expect(ticket.locator("#ticket-form")).to_be_visible()
    ticket_id = int(agent.locator("#ticket-form").get_attribute("action").rsplit("/", 1)[1])
    # Side by side at 1280 x 800: the form starts right of the card, at the same height, both on screen.
    card_box, ticket_box = card.bounding_box(), ticket.bounding_box()
    assert ticket_box["x"] >= card_box["x"] + card_box["width"] - 1, (card_box, ticket_box)
    assert abs(ticket_box["y"] - card_box["y"]) < 5 and ticket_box["y"] < 800, (card_box, ticket_box)
    listed = card.locator(f"#card-ticket-{ticket_id}")
    expect(listed).to_contain_text(inquiry)
    expect(listed.locator("a.ticket-number")).to_have_attribute("href", f"/tickets/{ticket_id}")
    # "My tickets" beside the queue is narrow at 1280: its SLA badge stays on one line (it read
    # "On / time" in a tall pill), as high as the tier badge in the call's title.
    sla = agent.locator(f"#tickets-panel tr:has(a[href='/tickets/{ticket_id}']) .badge.sla")
    expect(sla).to_be_visible()
    one_line = agent.locator("#call-title .badge").bounding_box()["height"]
    assert sla.bounding_box()["height"] <= one_line + 1, (sla.bounding_box(), one_line)

    agent.locator("#ticket-category").select_option("complaint")
    expect(listed).to_contain_text(complaint)  # the card follows the ticket without a reload
    with live_server.carrier() as sim:
        sim.hangup(sid)
        sim.pump()
