"""The desktop's in-call controls in Chromium against the real app and the carrier simulator:
hold and resume (the panel follows over the websocket), a warm transfer to a queue and its
cancel, and a paused recording."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from tests.agent_ui.desk import CALLER, Desk, desk
from tests.browser.conftest import Browsing, LiveServer, eventually
from tests.factories import cheap_password_hashing

__all__ = ["cheap_password_hashing", "desk"]


def test_hold_transfer_and_recording_pause_from_the_call_panel(browsing: Browsing, live_server: LiveServer,
                                                               desk: Desk, session: Session) -> None:
    agent = browsing.signed_in("agent-a", path="/desktop")
    expect(agent.locator("html")).to_have_attribute("data-live", "open")
    agent.get_by_role("button", name="Available").click()
    expect(agent.locator("#presence-panel .presence-state")).to_have_text("Available")
    with live_server.carrier() as sim:
        sid = sim.place_call(CALLER)
        sim.pump()
        assert sim.press(sid, "1")
    eventually(lambda: live_server.sim.phone(f"agent_{desk.agent.id}").ringing(), what="the browser phone ringing")
    agent.get_by_role("button", name="Accept").click()
    controls = agent.locator("#call-controls")
    expect(controls).to_be_visible()
    # The caller hears "connecting you" and then joins the agent's conference.
    def joined() -> bool:
        with live_server.carrier() as sim:
            sim.advance(1)
            sim.pump()
            return sim.call(sid).waiting == "conference"

    eventually(joined, what="the caller in the agent's conference")

    controls.get_by_role("button", name="Hold", exact=True).click()
    expect(agent.locator("#hold-state")).to_contain_text("Caller on hold")
    controls.get_by_role("button", name="Resume", exact=True).click()
    expect(agent.locator("#hold-state")).to_have_count(0)
    expect(agent.locator("#hold-time")).to_contain_text("Time on hold this call:")

    controls.get_by_role("button", name="Pause recording").click()
    expect(agent.locator("#recording-state")).to_contain_text("Recording paused")

    # No queue is chosen until the agent picks one: a click on Transfer alone moves nobody.
    queue = agent.get_by_label("Transfer to queue")
    expect(queue).to_have_value("")
    controls.get_by_role("button", name="Transfer", exact=True).click()
    assert queue.evaluate("el => !el.validity.valid")
    expect(agent.locator("#transfer-state")).to_have_count(0)
    queue.select_option("complaint")
    controls.get_by_role("button", name="Transfer", exact=True).click()
    expect(agent.locator("#transfer-state")).to_contain_text("Transferring to the Complaints queue")
    expect(agent.locator("#recording-state")).to_have_count(0)  # resumed by the transfer
    controls.get_by_role("button", name="Cancel transfer").click()
    expect(agent.locator("#transfer-state")).to_have_count(0)
    expect(agent.locator("#call-control-error")).to_be_hidden()
    expect(agent.locator("#call-panel")).to_contain_text("On a call")
