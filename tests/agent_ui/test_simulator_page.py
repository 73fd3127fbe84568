"""The carrier simulator's page (/simulator, mounted by the demo): the simulated calls with what
each is doing and the agents with their presence and phone, in English and Chinese, customers'
numbers masked, refreshed by htmx; without a simulator it says so."""

from __future__ import annotations

import pytest

from agent_ui.pages.simulator import mask
from agent_ui.pages.simulator import router as simulator_page
from tests.telephony.hub import CALLER, available, eager_tasks, hub, sim

__all__ = ["eager_tasks", "hub", "sim"]


@pytest.fixture
def page_client(app, client):  # type: ignore[no-untyped-def]
    app.include_router(simulator_page)
    return client


def test_the_page_shows_calls_and_agents_with_numbers_masked(page_client, sim, hub, session) -> None:
    available(session, hub.agent)
    waiting = sim.place_call(CALLER)
    sim.pump()
    sim.press(waiting, "1")
    sim.pump()  # the agent's phone rings for the caller
    menu = sim.place_call("+8613800138099")
    sim.pump()
    page = page_client.get("/simulator")
    assert page.status_code == 200
    text = page.text
    assert "Carrier simulator" in text and "Simulated calls" in text
    assert "In the menu" in text and "Ringing" in text and "Agent's phone" in text
    assert hub.agent.display_name in text and "Call offered" in text
    assert CALLER not in text and CALLER[-8:] not in text and "•••• 8000" in text and "•••• 8099" in text
    assert 'hx-trigger="every 3s"' in text
    assert sim.call(menu).alive


def test_the_page_speaks_chinese(page_client, sim, hub, session) -> None:
    sim.place_call(CALLER)
    sim.pump()
    page = page_client.get("/simulator", headers={"Accept-Language": "zh-CN"})
    assert "运营商模拟器" in page.text and "在语音菜单中" in page.text and "Carrier simulator" not in page.text


def test_htmx_gets_only_the_live_part(page_client, sim) -> None:
    fragment = page_client.get("/simulator", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="simulator-live"') and "<html" not in fragment.text
    assert "No calls right now." in fragment.text


def test_without_a_simulator_the_page_says_so(page_client) -> None:
    page = page_client.get("/simulator")
    assert page.status_code == 404 and "No carrier simulator is running" in page.text


def test_numbers_keep_only_their_last_four_digits() -> None:
    assert mask("+8613800138001") == "•••• 8001"
    assert mask("12") == "••••"
