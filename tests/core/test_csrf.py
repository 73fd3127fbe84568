"""CSRFMiddleware: unsafe requests riding on the session cookie need the session's token, the
sign-in form needs the pre-session token, and bearer-token calls and Twilio webhooks are exempt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import credentials
from core.clock import FrozenClock
from core.config import Settings
from core.csrf import PRESESSION_COOKIE
from core.models import User
from tests.factories import (
    DEFAULT_PASSWORD,
    cheap_password_hashing,
    csrf_from,
    fresh,
    make_api_token,
    make_user,
    signed_in_client,
)

__all__ = ["cheap_password_hashing"]  # an autouse fixture: imported to take effect here


def _token_names(session: Session, user: User) -> list[str]:
    fresh(session)
    return [t.name for t in credentials.list_api_tokens(session, user_id=user.id)]


@pytest.fixture
def echo_client(app: FastAPI) -> Iterator[TestClient]:
    """The app with routes that echo what they received, to check the body reaches them intact."""
    router = APIRouter()

    @router.post("/api/echo")
    async def api_echo(request: Request) -> dict[str, str]:
        return {"body": (await request.body()).decode()}

    @router.post("/echo-form")
    async def form_echo(request: Request) -> dict[str, str]:
        form = await request.form()
        return {k: str(v) if isinstance(v, str) else f"file:{v.filename}:{(await v.read()).decode()}"  # type: ignore[union-attr]
                for k, v in form.items()}

    @router.post("/twilio/ping")
    async def twilio_ping() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


# Cookie sessions ---------------------------------------------------------------------------------

def test_post_without_a_token_is_refused_and_changes_nothing(client: TestClient, session: Session) -> None:
    user = make_user(session)
    signed_in_client(client, user)
    del client.headers["X-CSRF-Token"]
    response = client.post("/account/tokens", data={"name": "sneaky"})
    assert response.status_code == 403
    assert "security token" in response.text and "text/html" in response.headers["content-type"]
    assert _token_names(session, user) == []


def test_post_with_a_wrong_token_is_refused(client: TestClient, session: Session) -> None:
    user = make_user(session)
    signed_in_client(client, user)
    response = client.post("/account/tokens", data={"name": "sneaky"}, headers={"X-CSRF-Token": "x" * 43})
    assert response.status_code == 403 and "expired or did not come from Hotline" in response.text
    del client.headers["X-CSRF-Token"]
    response = client.post("/account/tokens", data={"name": "sneaky", "csrf_token": "x" * 43})
    assert response.status_code == 403
    assert _token_names(session, user) == []


def test_another_sessions_token_is_refused(client: TestClient, session: Session, app: FastAPI) -> None:
    victim = make_user(session)
    attacker = make_user(session)
    signed_in_client(client, victim)
    other = signed_in_client(TestClient(app, base_url="http://testserver"), attacker)
    response = client.post("/account/tokens", data={"name": "sneaky"},
                           headers={"X-CSRF-Token": other.headers["X-CSRF-Token"]})
    assert response.status_code == 403
    assert _token_names(session, victim) == []


def test_htmx_header_token_is_accepted(client: TestClient, session: Session) -> None:
    user = make_user(session)
    signed_in_client(client, user)
    token = client.headers.pop("X-CSRF-Token")
    response = client.post("/account/tokens", data={"name": "from htmx"},
                           headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert response.status_code == 201
    assert _token_names(session, user) == ["from htmx"]


def test_form_field_token_is_accepted_and_the_body_reaches_the_app(client: TestClient, session: Session) -> None:
    user = make_user(session)
    signed_in_client(client, user)
    token = client.headers.pop("X-CSRF-Token")
    response = client.post("/account/tokens", data={"csrf_token": token, "name": "nightly 报表 & more"})
    assert response.status_code == 201
    assert _token_names(session, user) == ["nightly 报表 & more"]


def test_multipart_form_token_is_accepted_and_replayed(echo_client: TestClient, session: Session) -> None:
    signed_in_client(echo_client, make_user(session))
    token = echo_client.headers.pop("X-CSRF-Token")
    response = echo_client.post("/echo-form", data={"csrf_token": token, "note": "hello"},
                                files={"upload": ("a.txt", b"file body", "text/plain")})
    assert response.status_code == 200
    assert response.json() == {"csrf_token": token, "note": "hello", "upload": "file:a.txt:file body"}
    refused = echo_client.post("/echo-form", data={"csrf_token": "wrong", "note": "hello"},
                               files={"upload": ("a.txt", b"file body", "text/plain")})
    assert refused.status_code == 403


def test_api_call_with_the_session_cookie_needs_the_header(echo_client: TestClient, session: Session) -> None:
    signed_in_client(echo_client, make_user(session))
    token = echo_client.headers.pop("X-CSRF-Token")
    refused = echo_client.post("/api/echo", json={"a": 1})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    allowed = echo_client.post("/api/echo", json={"a": 1}, headers={"X-CSRF-Token": token})
    assert allowed.status_code == 200 and allowed.json() == {"body": '{"a":1}'}


def test_refusal_is_in_the_readers_language(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session))
    del client.headers["X-CSRF-Token"]
    response = client.post("/account/tokens", data={"name": "x"}, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 403 and "此表单缺少安全令牌" in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# Exemptions --------------------------------------------------------------------------------------

def test_bearer_token_without_cookie_is_exempt(echo_client: TestClient, session: Session) -> None:
    raw = make_api_token(session, make_user(session))
    response = echo_client.post("/api/echo", content=b"payload", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200 and response.json() == {"body": "payload"}


def test_twilio_webhooks_are_exempt(echo_client: TestClient, session: Session) -> None:
    signed_in_client(echo_client, make_user(session))
    del echo_client.headers["X-CSRF-Token"]
    assert echo_client.post("/twilio/ping", data={"CallSid": "CA1"}).status_code == 200


def test_safe_methods_are_not_checked(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session))
    del client.headers["X-CSRF-Token"]
    assert client.get("/account/tokens").status_code == 200


# The sign-in form (pre-session double submit) ----------------------------------------------------

def test_signin_needs_the_pre_session_token(client: TestClient, session: Session) -> None:
    user = make_user(session)
    page = client.get("/signin")
    assert PRESESSION_COOKIE in client.cookies
    form = {"username": user.username, "password": DEFAULT_PASSWORD}
    assert client.post("/signin", data=form, follow_redirects=False).status_code == 403
    wrong = client.post("/signin", data={**form, "csrf_token": "y" * 43}, follow_redirects=False)
    assert wrong.status_code == 403
    right = client.post("/signin", data={**form, "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/"
    # The pre-session token is spent: the session has a token of its own.
    assert PRESESSION_COOKIE not in client.cookies


def test_signin_from_another_site_is_refused(app: FastAPI, session: Session) -> None:
    """A forged cross-site post carries no pre-session cookie of ours (login CSRF)."""
    user = make_user(session)
    with TestClient(app, base_url="http://testserver") as fresh:
        response = fresh.post("/signin", data={"username": user.username, "password": DEFAULT_PASSWORD,
                                               "csrf_token": "z" * 43}, follow_redirects=False)
    assert response.status_code == 403


def test_language_switch_while_signed_out_needs_the_pre_session_token(client: TestClient) -> None:
    page = client.get("/signin")
    assert client.post("/language", data={"locale": "zh_Hans"}, follow_redirects=False).status_code == 403
    response = client.post("/language", data={"locale": "zh_Hans", "next": "/signin",
                                              "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert response.status_code == 303


def test_signing_out_after_the_session_ended_still_works(
    client: TestClient, session: Session, settings: Settings, clock: FrozenClock
) -> None:
    signed_in_client(client, make_user(session))
    del client.headers["X-CSRF-Token"]
    assert client.post("/signout", follow_redirects=False).status_code == 403  # live session: token needed
    clock.advance(seconds=settings.session_max_age_seconds)
    response = client.post("/signout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"
