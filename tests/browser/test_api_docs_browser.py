"""The API reference page in Chromium: Swagger UI, served from the hub itself (the network may be
closed), draws every operation of /openapi.json with no Content-Security-Policy violation, and
"Try it out" runs a call with the signed-in session."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.models import Role
from tests.browser.conftest import Browsing
from tests.factories import cheap_password_hashing, make_user

__all__ = ["cheap_password_hashing"]


def test_the_api_reference_draws_and_runs_a_call(browsing: Browsing, session: Session) -> None:
    make_user(session, role=Role.supervisor, username="sup")
    page = browsing.signed_in("sup", path="/")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Hotline", timeout=30_000)  # a large document
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 50  # every operation, drawn
    assert all(url.startswith(browsing.base_url) for url in requests), requests  # nothing from elsewhere

    me = page.locator(".opblock-get", has=page.locator('[data-path="/api/me"]')).first
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    expect(me.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200", timeout=15_000)
    expect(me.locator(".live-responses-table .microlight").first).to_contain_text('"sup"')
