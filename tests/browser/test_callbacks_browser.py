"""A callback end to end in Chromium, as in the demo: the hub dials from the hotline's number, the
simulated customer misses the first attempt and answers the next, the agent's phone rings and is
answered from the desktop, and the desktop shows each step as it happens (dialling, ringing, no
answer with the next attempt's time, answered, connected, ended). And the carrier simulator's
page (/simulator) in English and Chinese."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from core.config import get_settings
from telephony import control_tasks
from telephony.simulator.customers import Customers
from tests.agent_ui.desk import CALLER, Desk, desk, grant_for
from tests.browser.conftest import Browsing, LiveServer, eventually
from tests.factories import cheap_password_hashing

__all__ = ["cheap_password_hashing", "desk"]

HOTLINE = "+862160000000"


def _customer_legs(sim, number: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.sid for c in sim.calls.values() if c.to == number and c.alive]


def test_a_callback_shows_each_step_on_the_desktop(browsing: Browsing, live_server: LiveServer, desk: Desk,
                                                   session: Session, clock: FrozenClock, settings,
                                                   monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(settings, "twilio_caller_id", HOTLINE)  # as the demo sets it
    number = desk.customer.primary_phone.number
    grant_id = grant_for(session, desk)
    agent = browsing.signed_in("agent-a", path="/desktop")
    expect(agent.locator("html")).to_have_attribute("data-live", "open")
    progress = agent.locator("#callbacks-panel .callback-progress")

    agent.locator(f"#dial-{grant_id}").click()
    expect(progress).to_contain_text("Attempt 1 of 3")
    expect(progress).to_contain_text(re.compile("Dialling the customer|The customer's phone is ringing"))
    eventually(lambda: _customer_legs(live_server.sim, number), what="the customer's phone ringing")
    expect(progress).to_contain_text("The customer's phone is ringing")
    [first] = _customer_legs(live_server.sim, number)
    assert live_server.sim.call(first).from_ == HOTLINE

    # The customer misses it: the phone rings out, and the next attempt is scheduled.
    with live_server.carrier() as sim:
        Customers(answer=0.0, busy=0.0).tick(sim, 0.0)
        sim.advance(31)
    expect(progress).to_contain_text("No answer")
    expect(progress).to_contain_text("next attempt at")

    # Half an hour later the paced dialler (the beat's task) dials again; this time they answer.
    clock.advance(minutes=get_settings().callback_retry_minutes, seconds=1)
    control_tasks.dial_due()
    expect(progress).to_contain_text("Attempt 2 of 3")
    eventually(lambda: _customer_legs(live_server.sim, number), what="the second attempt ringing")
    customers = Customers(answer=1.0, busy=0.0, pick_up_after=(2.0, 2.0))
    with live_server.carrier() as sim:
        customers.tick(sim, 0.0)
        customers.tick(sim, 2.0)  # picks up after two seconds of ringing
        sim.pump()
    [second] = _customer_legs(live_server.sim, number)
    eventually(lambda: live_server.sim.phone(f"agent_{desk.agent.id}").ringing(), what="the agent's phone ringing")
    expect(progress).to_contain_text("The customer answered: your phone is ringing")
    expect(agent.locator("html")).to_have_class(re.compile(r"\bphone-ringing\b"))  # the desktop rings
    expect(agent.locator("#live-announcer")).to_contain_text("your phone is ringing")

    agent.locator("#callbacks-panel .callback-answer button").click()
    expect(progress).to_contain_text("Connected with the customer")
    expect(agent.locator("html")).not_to_have_class(re.compile(r"\bphone-ringing\b"))
    assert live_server.sim.phone(f"agent_{desk.agent.id}").active()

    with live_server.carrier() as sim:
        sim.advance(5)
        sim.hangup(second)
        sim.pump()
    expect(progress).to_contain_text("Call ended")


def test_the_simulator_page_in_english_and_chinese(browsing: Browsing, live_server: LiveServer, desk: Desk,
                                                    session: Session) -> None:
    with live_server.carrier() as sim:
        sim.place_call(CALLER)
        sim.pump()
    page = browsing.signed_in("agent-a", path="/simulator")
    expect(page.locator("h1")).to_have_text("Carrier simulator")
    expect(page.locator("#sim-calls")).to_contain_text("In the menu")
    expect(page.locator("#sim-calls")).to_contain_text("•••• " + CALLER[-4:])
    expect(page.locator("main")).not_to_contain_text(CALLER)
    with live_server.carrier() as sim:
        sim.place_call("+8613900000077")
        sim.pump()
    expect(page.locator("#sim-in-progress")).to_have_text("2", timeout=8000)  # htmx refreshes every 3 s

    chinese = browsing.signed_in("boss", path="/simulator", locale="zh-CN")
    expect(chinese.locator("h1")).to_have_text("运营商模拟器")
    expect(chinese.locator("#sim-calls")).to_contain_text("在语音菜单中")

