"""The page shell: sign-in page, home page per role, language switch, API tokens page, security
headers and static files."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agent_ui import i18n
from core import credentials, users
from core.auth import CurrentUser
from core.clock import FrozenClock
from core.models import Role
from tests.factories import (
    cheap_password_hashing,
    csrf_from,
    fresh,
    make_site,
    make_team,
    make_user,
    signed_in_client,
)
from tests.telephony.hub import eager_tasks, sim

__all__ = ["cheap_password_hashing", "eager_tasks", "sim"]  # an autouse fixture: imported to take effect here


def test_signin_page_renders_without_inline_script(client: TestClient) -> None:
    page = client.get("/signin")
    assert page.status_code == 200
    assert '<form method="post" action="/signin"' in page.text
    assert 'name="csrf_token"' in page.text and 'autocomplete="current-password"' in page.text
    # CSP-friendly: scripts only from /static, no inline handlers or styles.
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", page.text) == []
    assert not re.search(r"\son[a-z]+=|style=", page.text)


def test_signin_page_follows_accept_language(client: TestClient) -> None:
    page = client.get("/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-Hans">' in page.text and "登录客服热线" in page.text and "用户名" in page.text
    assert "Sign in to the hotline" in client.get("/signin", headers={"Accept-Language": "en-GB"}).text


def test_signin_errors_are_shown_in_the_readers_language(client: TestClient, session: Session) -> None:
    user = make_user(session, locale="zh_Hans")
    page = client.get("/signin", headers={"Accept-Language": "zh-CN"})
    client.post("/signin", data={"username": user.username, "password": "wrong password",
                                 "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert "用户名或密码错误" in client.get("/signin", headers={"Accept-Language": "zh-CN"}).text


def test_home_shows_role_site_and_duties(client: TestClient, session: Session) -> None:
    site = make_site(session, name="Xuhui Store", timezone="Asia/Shanghai")
    team = make_team(session, site=site, name="Morning team")
    user = make_user(session, role=Role.team_leader, team=team, display_name="Wang Li")
    signed_in_client(client, user)
    page = client.get("/")
    assert page.status_code == 200
    for text in ("Welcome, Wang Li", "Team leader", "Xuhui Store", "Morning team", "Run roll call"):
        assert text in page.text
    # 09:00 UTC on the frozen clock, shown in the site's zone.
    assert "5:00:00" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert 'hx-headers=\'{"X-CSRF-Token": "' in page.text


def test_home_for_an_agent_without_a_site(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.agent))
    page = client.get("/")
    assert "No site assigned" in page.text and "Set your presence" in page.text
    assert "Run roll call" not in page.text


def test_language_switch_renders_chinese_and_is_kept_for_the_user(
    client: TestClient, session: Session
) -> None:
    user = make_user(session, role=Role.supervisor)
    signed_in_client(client, user)
    response = client.post("/language", data={"locale": "zh_Hans", "next": "/"})
    assert response.status_code == 200 and response.url.path == "/"
    assert '<html lang="zh-Hans">' in response.text
    for text in ("欢迎", "客服部主任", "授予回访授权", "退出登录"):
        assert text in response.text
    fresh(session)
    assert users.get(session, user_id=user.id).locale == "zh_Hans"
    # The choice belongs to the person: it follows them to another browser.
    other = signed_in_client(TestClient(client.app, base_url="http://testserver"), user)
    assert "欢迎" in other.get("/").text
    # And back to following the browser.
    client.post("/language", data={"locale": "", "next": "/"})
    assert "Welcome" in client.get("/", headers={"Accept-Language": "en"}).text


def test_language_switch_refuses_an_offsite_next(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session))
    response = client.post("/language", data={"locale": "en", "next": "https://evil.example/"},
                           follow_redirects=False)
    assert response.headers["location"] == "/"


@pytest.fixture
def client_with_qa_page(app: FastAPI) -> Iterator[TestClient]:
    router = APIRouter()

    @router.get("/qa", response_class=HTMLResponse)
    def qa_page(user: CurrentUser) -> str:
        return "qa"

    app.include_router(router)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def test_navigation_shows_the_pages_a_role_may_open_once_they_exist(
    client_with_qa_page: TestClient, session: Session, app: FastAPI
) -> None:
    inspector = make_user(session, role=Role.qa_inspector)
    agent = make_user(session, role=Role.agent)
    nav = re.compile(r'<nav class="mainnav".*?</nav>', re.S)
    inspector_nav = nav.search(signed_in_client(client_with_qa_page, inspector).get("/").text)
    assert inspector_nav and 'href="/qa"' in inspector_nav.group(0) and 'href="/account/tokens"' in inspector_nav.group(0)
    # Pages not built yet are not linked.
    assert 'href="/tickets"' not in inspector_nav.group(0)
    agent_client = signed_in_client(TestClient(app, base_url="http://testserver"), agent)
    agent_nav = nav.search(agent_client.get("/").text)
    assert agent_nav and 'href="/qa"' not in agent_nav.group(0)


def test_security_headers(client: TestClient) -> None:
    response = client.get("/signin")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"



def test_only_the_desktop_with_twilios_phone_may_reach_twilio(client: TestClient, session: Session) -> None:
    """Production phone (no simulator installed): the desktop's policy lets Twilio's Voice SDK signal
    and report to *.twilio.com; every other page keeps the strict policy."""
    agent = make_user(session, role=Role.agent, team=make_team(session))
    signed_in_client(client, agent)
    desktop = client.get("/desktop")
    assert desktop.status_code == 200 and '<meta name="phone-kind" content="twilio">' in desktop.text
    csp = desktop.headers["content-security-policy"]
    assert "connect-src 'self' wss://*.twilio.com" in csp and "media-src 'self' blob: https://sdk.twilio.com" in csp
    assert "script-src 'self';" in csp and "unsafe" not in csp  # the SDK itself is served from /static
    assert "twilio" not in client.get("/tickets").headers["content-security-policy"]


def test_the_desktop_with_the_simulators_phone_keeps_the_strict_policy(client: TestClient, session: Session,
                                                                       sim: object) -> None:
    agent = make_user(session, role=Role.agent, team=make_team(session))
    signed_in_client(client, agent)
    desktop = client.get("/desktop")
    assert '<meta name="phone-kind" content="simulator">' in desktop.text
    assert "twilio" not in desktop.headers["content-security-policy"]

def test_static_files_are_served(client: TestClient) -> None:
    css = client.get("/static/css/hotline.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert client.get("/static/vendor/htmx-2.0.11/htmx.min.js").status_code == 200


# API tokens page ---------------------------------------------------------------------------------

def test_token_page_creates_a_token_shown_once_and_revokes_it(
    client: TestClient, session: Session, clock: FrozenClock
) -> None:
    user = make_user(session)
    signed_in_client(client, user)
    created = client.post("/account/tokens", data={"name": "nightly report", "expires_in_days": "30"})
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    raw = re.search(r'<code class="secret" id="new-token">(hl_[^<]+)</code>', created.text)
    assert raw, created.text
    # It works as a bearer token, and the list never shows it again.
    assert client.get("/api/me", headers={"Authorization": f"Bearer {raw.group(1)}"}).status_code == 200
    listing = client.get("/account/tokens")
    assert "nightly report" in listing.text and raw.group(1) not in listing.text
    fresh(session)
    token = credentials.list_api_tokens(session, user_id=user.id)[0]
    assert token.expires_at is not None and (token.expires_at - clock.now()).days == 30
    revoked = client.post(f"/account/tokens/{token.id}/revoke", follow_redirects=False)
    assert revoked.status_code == 303
    assert "revoked" in client.get("/account/tokens").text
    bearer = TestClient(client.app, base_url="http://testserver")
    assert bearer.get("/api/me", headers={"Authorization": f"Bearer {raw.group(1)}"}).status_code == 401


def test_token_page_needs_a_name(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session))
    response = client.post("/account/tokens", data={"name": "   "})
    assert response.status_code == 422 and 'id="token-name-error"' in response.text


def test_token_page_htmx_request_gets_only_the_panel(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session))
    fragment = client.get("/account/tokens", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section class="card" id="tokens-panel"')
    assert "<html" not in fragment.text


def test_someone_elses_token_cannot_be_revoked_from_the_page(client: TestClient, session: Session) -> None:
    owner = make_user(session)
    _token, _raw = credentials.create_api_token(session, user_id=owner.id, name="mine", by=owner)
    session.commit()
    signed_in_client(client, make_user(session))
    assert client.post(f"/account/tokens/{_token.id}/revoke").status_code == 404


def test_negotiate_accept_language() -> None:
    assert i18n.negotiate("zh-TW,en;q=0.5") == "zh_Hans"
    assert i18n.negotiate("fr-FR,en;q=0.8,zh;q=0.5") == "en"
    assert i18n.negotiate("fr, de") == "en"
    assert i18n.negotiate("en;q=0.1, zh-Hans;q=0.9") == "zh_Hans"
    assert i18n.negotiate(None) == "en"
