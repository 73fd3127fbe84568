"""The floor in Chromium: the wallboard follows presence and queue changes over the websocket
without a reload, the figures' charts draw from their JSON, and the page reads in Chinese."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from tests.agent_ui.desk import CALLER, Desk, desk, set_presence
from tests.browser.conftest import Browsing, LiveServer
from tests.factories import cheap_password_hashing

__all__ = ["cheap_password_hashing", "desk"]


def test_the_wallboard_follows_the_floor(browsing: Browsing, live_server: LiveServer, desk: Desk,
                                         session: Session, clock: FrozenClock) -> None:
    board = browsing.signed_in("lead", path="/floor")
    expect(board.locator("html")).to_have_attribute("data-live", "open")
    expect(board.locator(".charts")).to_have_attribute("data-loaded", "true")
    expect(board.locator("#stat-waiting")).to_have_text("0")

    set_presence(desk.teammate, "break")
    expect(board.locator('[data-state="break"]')).to_contain_text("Bo Teammate")
    set_presence(desk.other_agent, "available")  # another site's agent is not on this board
    set_presence(desk.agent, "available")
    expect(board.locator("#stat-available")).to_have_text("1")
    expect(board.locator("#wallboard")).not_to_contain_text("Far Agent")

    with live_server.carrier() as sim:
        sid = sim.place_call(CALLER)
        sim.pump()
        assert sim.press(sid, "1")
    expect(board.locator("#stat-waiting")).to_have_text("1")  # offered to the agent, still waiting
    expect(board.locator('[data-state="offered"]')).to_contain_text("An Agent")
    with live_server.carrier() as sim:
        sim.hangup(sid)  # the caller gives up
    expect(board.locator("#stat-waiting")).to_have_text("0")
    expect(board.locator("#stat-abandoned")).to_have_text("100%")


def test_the_floor_in_chinese(browsing: Browsing, desk: Desk) -> None:
    board = browsing.signed_in("boss", path="/floor", locale="zh-CN")
    expect(board.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(board.locator("#wallboard-title")).to_contain_text("实时监控大屏")
    expect(board.locator(".charts")).to_have_attribute("data-loaded", "true")
