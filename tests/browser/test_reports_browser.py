"""The reports and the call log in Chromium: the call figures' charts draw from their JSON under
the Content-Security-Policy, and draw again when another period is chosen with the keyboard
(htmx swaps the section); the call log's filters update the table in place; and both pass
axe-core's WCAG 2.1 A and AA rules, in English and Chinese, with a refused filter too."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from core import cache
from tests.agent_ui.desk import CALLER, Desk, desk
from tests.browser.conftest import Browsing, LiveServer
from tests.browser.test_accessibility import _open, _violations
from tests.factories import cheap_password_hashing

__all__ = ["cheap_password_hashing", "desk"]


def _abandoned_call(live_server: LiveServer) -> None:
    cache.forget()  # a previous test's IVR settings, remembered for the same database URL
    with live_server.carrier() as sim:
        sid = sim.place_call(CALLER)
        sim.pump()
        assert sim.press(sid, "1")
        sim.pump()
        sim.advance(30)
        sim.hangup(sid)
        sim.pump()


def test_the_report_charts_draw_and_follow_the_period(browsing: Browsing, live_server: LiveServer,
                                                      desk: Desk) -> None:
    _abandoned_call(live_server)
    page = browsing.signed_in("boss", path="/reports")
    charts = page.locator(".report-charts")
    expect(charts).to_have_attribute("data-loaded", "true")
    expect(page.locator("#total-abandoned")).to_have_text("1")
    box = page.locator("#chart-report-calls").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100

    page.locator("#period-by").select_option("week")
    page.locator("#period-form button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/reports?*by=week*")
    expect(page.locator("#report-periods th").first).to_have_text("Week of")
    expect(page.locator(".report-charts")).to_have_attribute("data-loaded", "true")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_the_call_log_filters_in_place(browsing: Browsing, live_server: LiveServer, desk: Desk) -> None:
    _abandoned_call(live_server)
    page = browsing.signed_in("boss", path="/calls")
    expect(page.locator("#call-table tbody tr")).to_have_count(1)
    page.locator("#filter-outcome").select_option("answered")
    page.locator("#call-filters button[type=submit]").click()
    page.wait_for_url("**/calls?*outcome=answered*")
    expect(page.locator("#call-results")).to_contain_text("No calls match these filters.")
    page.locator("#filter-from").fill("2026-01-09")
    page.locator("#filter-outcome").select_option("")
    page.locator("#call-filters button[type=submit]").click()
    expect(page.locator("#filter-to-error")).to_be_visible()  # the period ends before it starts
    browsing.errors[:] = [e for e in browsing.errors if "status of 422" not in e]  # the refusal is the point


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_calls_and_reports_pass_wcag_a_and_aa(browser: Any, live_server: LiveServer, desk: Desk, locale: str) -> None:
    _abandoned_call(live_server)
    found: dict[str, list[str]] = {}
    for username, paths in (("boss", ["/calls", "/reports", "/reports/complaints"]), ("agent-a", ["/calls"]),
                            ("lead", ["/calls?from=2026-01-09", "/reports"])):
        page = _open(browser, live_server, username, locale)
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            found[f"{username} {path}"] = _violations(page)
        page.context.close()
    failing = {where: problems for where, problems in found.items() if problems}
    assert not failing, failing
