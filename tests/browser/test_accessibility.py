"""Accessibility in Chromium: axe-core's WCAG 2.1 A and AA rules (labels, names, contrast, landmarks,
headings, language, ARIA use) on every page each role lives in, in English and in Chinese, and
the keyboard reaching the navigation and the main content in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.models import Role

from tests.agent_ui.desk import Desk, desk
from tests.browser.conftest import LiveServer
from tests.factories import DEFAULT_PASSWORD, cheap_password_hashing, make_user

__all__ = ["cheap_password_hashing", "desk"]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# The pages each person lives in (see agent_ui/navigation.py).
PAGES = {
    "agent-a": ["/", "/desktop", "/calls", "/tickets", "/customers", "/notices", "/shifts", "/qa/mine",
                "/account/tokens"],
    "lead": ["/floor", "/duty", "/authorisations", "/qa/coverage", "/qa/coaching", "/qa/reports/monthly",
             "/shifts/rosters", "/shifts/templates", "/reports", "/reports/complaints"],
    "qa1": ["/qa", "/qa/disputes", "/qa/calibrations/new"],
    "root": ["/admin", "/admin/ivr", "/admin/sites", "/admin/teams", "/admin/people", "/admin/people/new",
             "/admin/settings", "/admin/backups"],
}


def _open(browser: Any, live_server: LiveServer, username: str | None, locale: str) -> Any:
    # The test injects axe as a script: bypass_csp lets it in (the hub's own pages never need it).
    context = browser.new_context(base_url=live_server.url, locale=locale, bypass_csp=True)
    page = context.new_page()
    if username is not None:
        page.goto("/signin")
        page.locator("#username").fill(username)
        page.locator("#password").fill(DEFAULT_PASSWORD)
        page.locator('main form[action="/signin"] button[type="submit"]').click()
        page.wait_for_url("**/")
    return page


def _violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]]


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_every_page_passes_wcag_a_and_aa(browser: Any, live_server: LiveServer, desk: Desk, session: Session,
                                         locale: str) -> None:
    make_user(session, role=Role.admin, username="root")
    found: dict[str, list[str]] = {}
    signin = _open(browser, live_server, None, locale)
    signin.goto("/signin")
    found["/signin"] = _violations(signin)
    signin.context.close()
    for username, paths in PAGES.items():
        page = _open(browser, live_server, username, locale)
        for path in paths:
            response = page.goto(path)
            assert response is not None and response.status == 200, (username, path)
            page.wait_for_load_state("networkidle")
            found[f"{username} {path}"] = _violations(page)
        page.context.close()
    failing = {where: problems for where, problems in found.items() if problems}
    assert not failing, failing


def test_the_keyboard_reaches_skip_link_navigation_and_content_in_order(browser: Any, live_server: LiveServer,
                                                                         desk: Desk) -> None:
    page = _open(browser, live_server, "agent-a", "en-GB")
    page.goto("/tickets")
    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.getAttribute('href')")
    assert first == "#main", "the first Tab lands on the skip link"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    inside_main = page.evaluate("!!document.activeElement.closest('main')")
    assert inside_main, "after the skip link, Tab moves inside the main content"
    expect(page.locator("main h1")).to_be_visible()
    page.context.close()
