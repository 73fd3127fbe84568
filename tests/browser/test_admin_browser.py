"""The administration pages in Chromium: an administrator edits the IVR greeting (htmx boosts the
form, and the page's own errors appear beside the field without a reload), and the next caller
the carrier simulator puts through hears the new words in the TwiML."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core import cache
from core.models import Role
from telephony import ivr
from telephony.ivr_texts import DEFAULT_TEXTS
from tests.browser.conftest import Browsing, LiveServer
from tests.factories import cheap_password_hashing, fresh, make_user

__all__ = ["cheap_password_hashing"]

CALLER = "+8613800138000"


@pytest.fixture(autouse=True)
def no_remembered_settings() -> Iterator[None]:
    """The IVR settings are remembered per database URL, which PostgreSQL's test databases share."""
    cache.forget()
    yield
    cache.forget()


def test_an_edited_greeting_is_heard_by_the_next_caller(browsing: Browsing, live_server: LiveServer,
                                                         session: Session) -> None:
    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root", path="/admin")
    page.get_by_role("link", name="IVR settings").first.click()
    page.wait_for_url("**/admin/ivr")

    # A bad wait limit first: refused beside its field, the typed greeting kept.
    greeting = page.locator("#text-zh-CN-greeting")
    greeting.fill("您好，这里是测试门店热线。")
    page.get_by_label("Wait limit (seconds)").fill("0")
    page.get_by_role("button", name="Save the IVR settings").click()
    expect(page.locator("#wait_limit_seconds-error")).to_contain_text("Give a whole number of seconds")
    expect(page.locator("#wait_limit_seconds")).to_have_attribute("aria-invalid", "true")
    expect(greeting).to_have_value("您好，这里是测试门店热线。")
    browsing.errors[:] = [e for e in browsing.errors if "status of 422" not in e]  # the refusal is the point

    page.get_by_label("Wait limit (seconds)").fill("200")
    page.get_by_role("button", name="Save the IVR settings").click()
    expect(page.locator(".alert.success")).to_contain_text("The IVR settings were saved.")
    expect(page.locator('label[for="text-zh-CN-greeting"] .badge')).to_have_text("Edited")
    assert page.url.endswith("/admin/ivr")
    config = ivr.get_config(fresh(session))
    assert config.wait_limit_seconds == 200 and config.text("zh-CN", "greeting") == "您好，这里是测试门店热线。"

    with live_server.carrier() as sim:
        sid = sim.place_call(CALLER)
        sim.pump()
        assert "您好，这里是测试门店热线。" in sim.heard(sid)
        sim.hangup(sid)
        sim.pump()

    # And back to the default wording.
    page.get_by_role("button", name="Back to the default Greeting").first.click()
    expect(page.locator(".alert.success")).to_contain_text("The text is back to its default.")
    expect(page.locator("#text-zh-CN-greeting")).to_have_value(DEFAULT_TEXTS["zh-CN"]["greeting"])
    assert ivr.get_config(fresh(session)).text("zh-CN", "greeting") == DEFAULT_TEXTS["zh-CN"]["greeting"]


def test_a_setting_is_refused_then_saved_on_the_settings_page(browsing: Browsing, session: Session) -> None:
    from telephony import priority

    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root", path="/admin", locale="zh-CN")
    page.locator(".subnav").get_by_role("link", name="热线参数设置", exact=True).click()
    page.wait_for_url("**/admin/settings")
    wrap_up = page.locator("#routing-wrap_up_seconds")
    expect(wrap_up).to_have_attribute("max", "3600")
    wrap_up.fill("7200")
    page.locator("#settings-routing-form").get_by_role("button", name="保存这些设置").click()
    expect(page.locator("#routing-wrap_up_seconds-error")).to_contain_text("请填写 0 到 3600 之间的整数。")
    expect(page.locator("#routing-wrap_up_seconds")).to_have_value("7200")
    browsing.errors[:] = [e for e in browsing.errors if "status of 422" not in e]  # the refusal is the point

    page.locator("#routing-wrap_up_seconds").fill("45")
    page.locator("#settings-routing-form").get_by_role("button", name="保存这些设置").click()
    expect(page.locator(".alert.success")).to_contain_text("设置已保存")
    assert priority.routing_settings(fresh(session)).wrap_up_seconds == 45
    page.get_by_role("button", name="恢复默认").first.click()
    expect(page.locator(".alert.success")).to_contain_text("该设置已恢复默认值。")
    expect(page.locator("#routing-wrap_up_seconds")).to_have_value("30")


def test_the_whole_centers_holidays_are_added_and_removed_from_their_page(browsing: Browsing, session: Session) -> None:
    """The center's holiday page (no site) posts to its own routes, as a site's page does to its."""
    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root", path="/admin/holidays")
    page.locator("#holiday-day").fill("2026-12-25")
    page.locator("#holiday_name").fill("Center party")
    page.get_by_role("button", name="Add the holiday").click()
    expect(page.locator("#holiday-list")).to_contain_text("Center party")
    assert page.url.endswith("/admin/holidays")
    page.locator("#holiday-list").get_by_role("button", name="Remove").click()
    expect(page.locator("#holiday-list")).to_have_count(0)
    expect(page.locator(".empty")).to_contain_text("No holidays")
