"""The grouped main navigation in Chromium: an administrator's bar fits on one line at 1280 px in
English and in Chinese and wraps without overflowing on a phone; the keyboard opens a group and
follows a link in it; and the menu manners of nav.js (one group open at a time, Escape and a
click elsewhere close it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.models import Role
from tests.agent_ui.desk import Desk, desk
from tests.browser.conftest import Browsing
from tests.factories import cheap_password_hashing, make_user

__all__ = ["cheap_password_hashing", "desk"]

# The bar's height against its first entry's, and whether any entry starts on a lower line.
MEASURE_BAR = """() => {
  const bar = document.querySelector('nav.mainnav > ul');
  const entries = [...bar.children].map(li => li.getBoundingClientRect());
  return {bar: bar.getBoundingClientRect().height, item: entries[0].height,
          tops: [...new Set(entries.map(r => Math.round(r.top)))].length,
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""


def _group(page: Any, name: str) -> Any:
    return page.locator("nav.mainnav details").filter(has=page.locator("summary", has_text=name))


def _focused(page: Any) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def _tab_to(page: Any, text: str, *, at_most: int = 25) -> None:
    for _ in range(at_most):
        page.keyboard.press("Tab")
        if _focused(page) == text:
            return
    raise AssertionError(f"Tab never reached {text!r}")


@pytest.mark.parametrize(("locale", "groups"), [
    ("en-GB", ["Calls and customers", "Shifts and duty", "Quality and reports", "Settings"]),
    ("zh-CN", ["通话与客户", "排班与值班", "质检与报表", "设置"]),
])
def test_an_admins_bar_is_one_line_at_1280_px(browsing: Browsing, session: Session, locale: str,
                                              groups: list[str]) -> None:
    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root", path="/notices", locale=locale)
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.locator("nav.mainnav summary")).to_have_text(groups)
    size = page.evaluate(MEASURE_BAR)
    assert size["tops"] == 1 and size["bar"] < 1.5 * size["item"], size
    assert size["overflow"] <= 0, size
    # The group holding this page is marked, and shows it (the underline of a current link).
    shifts = page.locator("nav.mainnav summary").nth(1)
    expect(shifts).to_have_attribute("aria-current", "true")
    expect(shifts).to_have_css("border-bottom-color", "rgb(11, 92, 173)")
    expect(page.locator("nav.mainnav summary").nth(0)).not_to_have_attribute("aria-current", "true")


def test_on_a_phone_the_bar_wraps_and_an_open_group_stays_on_screen(browsing: Browsing, session: Session) -> None:
    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root")
    page.set_viewport_size({"width": 360, "height": 740})
    size = page.evaluate(MEASURE_BAR)
    assert size["tops"] > 1 and size["overflow"] <= 0, size
    for summary in page.locator("nav.mainnav summary").all():
        summary.click()
        box = summary.locator("xpath=../ul").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
        assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_the_keyboard_opens_a_group_and_follows_a_link_in_it(browsing: Browsing, session: Session) -> None:
    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root")
    page.set_viewport_size({"width": 1280, "height": 800})
    _tab_to(page, "Floor")
    # A closed group's links are not in the tab order: Tab goes from group to group.
    page.keyboard.press("Tab")
    assert _focused(page) == "Calls and customers"
    page.keyboard.press("Tab")
    assert _focused(page) == "Shifts and duty"
    page.keyboard.press("Shift+Tab")
    assert _focused(page) == "Calls and customers"
    page.keyboard.press("Enter")
    calls = _group(page, "Calls and customers")
    expect(calls).to_have_attribute("open", "")
    expect(calls.get_by_role("link", name="Tickets")).to_be_visible()
    page.keyboard.press("Tab")
    assert _focused(page) == "Calls"
    page.keyboard.press("Tab")
    assert _focused(page) == "Tickets"
    page.keyboard.press("Enter")
    page.wait_for_url("**/tickets")
    expect(page.locator("nav.mainnav a[aria-current='page']")).to_have_text("Tickets")
    expect(_group(page, "Calls and customers").locator("summary")).to_have_attribute("aria-current", "true")
    expect(_group(page, "Calls and customers")).not_to_have_attribute("open", "")
    # Space opens a group too.
    _tab_to(page, "Quality and reports")
    page.keyboard.press("Space")
    expect(_group(page, "Quality and reports")).to_have_attribute("open", "")


def test_escape_a_click_elsewhere_or_another_group_closes_an_open_group(browsing: Browsing, desk: Desk) -> None:
    page = browsing.signed_in("boss")
    page.set_viewport_size({"width": 1280, "height": 800})
    calls, shifts = _group(page, "Calls and customers"), _group(page, "Shifts and duty")
    _tab_to(page, "Calls and customers")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert _focused(page) == "Calls"
    page.keyboard.press("Escape")
    expect(calls).not_to_have_attribute("open", "")
    assert _focused(page) == "Calls and customers", "Escape gives the focus back to the group"

    calls.locator("summary").click()
    expect(calls).to_have_attribute("open", "")
    shifts.locator("summary").click()
    expect(shifts).to_have_attribute("open", "")
    expect(calls).not_to_have_attribute("open", "")

    page.locator("main h1").click()
    expect(shifts).not_to_have_attribute("open", "")

    # Tabbing out of an open group's last link closes it.
    shifts.locator("summary").focus()
    page.keyboard.press("Enter")
    _tab_to(page, "Notices")
    page.keyboard.press("Tab")
    assert _focused(page) == "Quality and reports"
    expect(shifts).not_to_have_attribute("open", "")


def test_switching_language_after_a_refused_form_shows_the_page_again(browsing: Browsing, session: Session) -> None:
    """A refused form is answered at the address it posted to (POST only); the language switcher
    must bring back a page that can be read, not a 405."""
    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root", path="/admin/sla")
    page.locator("#sla-policy-form").get_by_role("button", name="Save the policy").click()
    expect(page.locator("#sla-policy-form .field-error").first).to_be_visible()
    browsing.errors[:] = [e for e in browsing.errors if "status of 422" not in e]  # the refusal is the point
    page.locator(".language-switcher").get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("#sla-policy-form")).to_be_visible()
    assert urlsplit(page.url).path == "/admin/sla"
