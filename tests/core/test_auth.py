"""Signing in through the real app, sessions and cookies, permission aliases, API tokens, and the
client address behind proxies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.requests import Request

from core import audit, credentials, db, passwords
from core.auth import (
    SESSION_COOKIE,
    AdminUser,
    AgentUser,
    CenterHeadUser,
    QAUser,
    SupervisorUser,
    TeamLeaderUser,
    client_ip,
)
from core.clock import FrozenClock
from core.config import Settings
from core.models import Role, SignInSession, User
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


def _sign_in(client: TestClient, username: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    page = client.get("/signin")
    data = {"username": username, "password": password, "csrf_token": csrf_from(page.text), **extra}
    return client.post("/signin", data=data, follow_redirects=False)


# Sign-in -----------------------------------------------------------------------------------------

def test_signin_sets_a_signed_httponly_cookie_and_audits(client: TestClient, session: Session) -> None:
    user = make_user(session)
    response = _sign_in(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=" in cookie
    raw_value = cookie.split(";")[0].split("=", 1)[1]
    stored = session.scalars(select(SignInSession)).one()
    assert stored.user_id == user.id and raw_value != stored.id
    assert client.get("/").status_code == 200
    entry = audit.entries_for(session, action_prefix="auth.signin")[0]
    assert entry.action == "auth.signin" and entry.actor_id == user.id and entry.source_ip == "testclient"


def test_signin_wrong_password_shows_the_error_next_to_the_field(client: TestClient, session: Session) -> None:
    user = make_user(session)
    response = _sign_in(client, user.username, "not the password")
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert "not the password" not in response.headers.get("set-cookie", "")
    page = client.get("/signin")
    assert 'id="password-error"' in page.text
    assert "The username or password is wrong" in page.text
    assert f'value="{user.username}"' in page.text
    assert SESSION_COOKIE not in client.cookies
    # The error is shown once (post-redirect-get), not on every later visit.
    assert "password-error" not in client.get("/signin").text


def test_signin_unknown_user_gives_the_same_error(client: TestClient, session: Session) -> None:
    make_user(session)
    _sign_in(client, "nobody-at-all", "not the password")
    unknown = client.get("/signin").text
    assert "The username or password is wrong" in unknown and 'id="password-error"' in unknown
    entry = audit.entries_for(session, action_prefix="auth.signin_failed")[0]
    assert entry.details_dict == {"username": "nobody-at-all", "reason": "unknown_user"}


def test_signin_lockout_shows_when_it_unlocks_then_unlocks(
    client: TestClient, session: Session, settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "trusted_proxies", ["testclient"])
    site_user = make_user(session)
    for n in range(settings.lockout_threshold):  # one wrong guess from each of several places
        client.post("/signin", headers={"X-Forwarded-For": f"198.51.100.{n}"}, follow_redirects=False,
                    data={"username": site_user.username, "password": "not the password",
                          "csrf_token": csrf_from(client.get("/signin").text)})
    page = client.get("/signin")
    assert "locked until" in page.text and 'id="username-error"' in page.text
    assert "9:15" in page.text  # 09:00 UTC on the frozen clock plus the 15-minute lock, shown in UTC
    response = _sign_in(client, site_user.username, DEFAULT_PASSWORD)
    assert response.headers["location"] == "/signin"
    clock.advance(seconds=settings.lockout_seconds)
    assert _sign_in(client, site_user.username, DEFAULT_PASSWORD).headers["location"] == "/"


class _LockWatchingHasher(PasswordHasher):
    """Notes, at each password check, whether another writer could write the account at once."""

    def __init__(self, user_id: int) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.user_id = user_id
        self.free: list[bool] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 - argon2's own name
        self.free.append(_write_lock_free(self.user_id))
        return super().verify(hash, password)


def _write_lock_free(user_id: int) -> bool:
    """On SQLite: no writer of this process holds the write lock. On PostgreSQL: the account's
    row can be locked by another connection without waiting."""
    engine = db.get_engine()
    gate = db.writer_gate(engine)
    if gate is not None:
        return not gate.busy
    with engine.connect() as connection:
        try:
            connection.execute(select(User.id).where(User.id == user_id).with_for_update(nowait=True))
        except OperationalError:
            return False
        finally:
            connection.rollback()
    return True


@pytest.mark.parametrize("password", [DEFAULT_PASSWORD, "not the password"])
def test_the_password_is_checked_with_no_write_lock_held(client: TestClient, session: Session,
                                                         password: str) -> None:
    """Argon2 takes a good part of a second; every other writer of the embedded database would
    wait for it if the sign-in checked the password inside its write transaction."""
    user = make_user(session)
    hasher = _LockWatchingHasher(user.id)
    previous = passwords.use_hasher(hasher)
    try:
        response = _sign_in(client, user.username, password)
    finally:
        passwords.use_hasher(previous)
    assert response.headers["location"] == ("/" if password == DEFAULT_PASSWORD else "/signin")
    assert hasher.free == [True]
    reason = "auth.signin" if password == DEFAULT_PASSWORD else "auth.signin_failed"
    assert audit.entries_for(fresh(session), action_prefix=reason)[0].object_id == str(user.id)


def test_signin_with_missing_fields(client: TestClient) -> None:
    _sign_in(client, "", "")
    assert "Enter your username." in client.get("/signin").text
    _sign_in(client, "someone", "")
    assert "Enter your password." in client.get("/signin").text


def test_signin_goes_to_next_but_never_off_site(client: TestClient, session: Session) -> None:
    user = make_user(session)
    assert _sign_in(client, user.username, DEFAULT_PASSWORD, next="/account/tokens").headers["location"] == (
        "/account/tokens")
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.cookies.clear()
        assert _sign_in(client, user.username, DEFAULT_PASSWORD, next=evil).headers["location"] == "/"


def test_signing_in_again_replaces_the_old_session(client: TestClient, session: Session) -> None:
    user = make_user(session)
    signed_in_client(client, user)
    old_cookie = client.cookies[SESSION_COOKIE]
    _sign_in(client, user.username, DEFAULT_PASSWORD)
    assert client.cookies[SESSION_COOKIE] != old_cookie
    fresh(session)
    assert len(session.scalars(select(SignInSession)).all()) == 1


def test_signed_in_person_visiting_signin_goes_home(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session))
    response = client.get("/signin", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


# Sessions ----------------------------------------------------------------------------------------

def test_unauthenticated_page_redirects_to_signin_with_next(client: TestClient) -> None:
    response = client.get("/account/tokens?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/account/tokens%3Fx%3D1"


def test_unauthenticated_htmx_request_gets_hx_redirect(client: TestClient) -> None:
    response = client.get("/account/tokens", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/signin?next=")


def test_unauthenticated_api_request_gets_401_json(client: TestClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert "Sign in" in response.json()["detail"]


def test_expired_session_redirects_to_signin_and_api_gets_401(
    client: TestClient, session: Session, settings: Settings, clock: FrozenClock
) -> None:
    signed_in_client(client, make_user(session))
    assert client.get("/api/me").status_code == 200
    clock.advance(seconds=settings.session_max_age_seconds)
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/signin")
    assert client.get("/api/me").status_code == 401


def test_expired_session_row_goes_at_the_next_sign_in(
    client: TestClient, session: Session, settings: Settings, clock: FrozenClock
) -> None:
    user = make_user(session)
    signed_in_client(client, user)
    first = session.scalars(select(SignInSession)).one().id
    clock.advance(seconds=settings.session_max_age_seconds + 1)
    client.cookies.clear()
    signed_in_client(client, user)
    fresh(session)
    assert [row.id for row in session.scalars(select(SignInSession))] != [first]
    assert len(session.scalars(select(SignInSession)).all()) == 1


def test_last_seen_is_noted_without_writing_on_every_request(
    client: TestClient, session: Session, clock: FrozenClock
) -> None:
    signed_in_client(client, make_user(session))
    started = clock.now()
    clock.advance(minutes=5)
    client.get("/")
    fresh(session)
    assert session.scalars(select(SignInSession)).one().last_seen_at == started + timedelta(minutes=5)


def test_signout_invalidates_the_session_on_the_server(client: TestClient, session: Session) -> None:
    user = make_user(session)
    signed_in_client(client, user)
    stolen = client.cookies[SESSION_COOKIE]
    response = client.post("/signout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert SESSION_COOKIE not in client.cookies
    fresh(session)
    assert session.scalars(select(SignInSession)).all() == []
    # A copy of the old cookie is worthless now.
    replay = TestClient(client.app, base_url="http://testserver", cookies={SESSION_COOKIE: stolen})
    assert replay.get("/", follow_redirects=False).status_code == 303
    assert "auth.signout" in [e.action for e in audit.entries_for(session, actor_id=user.id)]


def test_tampered_cookie_is_ignored(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session))
    value = client.cookies[SESSION_COOKIE]
    client.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/", follow_redirects=False).status_code == 303


# Roles -------------------------------------------------------------------------------------------

@pytest.fixture
def probe_client(app: FastAPI) -> Iterator[TestClient]:
    """The app with one page and one API route per permission alias."""
    router = APIRouter()
    aliases = {"agent": AgentUser, "team-leader": TeamLeaderUser, "qa": QAUser, "supervisor": SupervisorUser,
               "center-head": CenterHeadUser, "admin": AdminUser}
    for name, alias in aliases.items():
        def endpoint(user):  # type: ignore[no-untyped-def]
            return {"role": user.role}

        # Set directly: this module's string annotations could not see the loop variable.
        endpoint.__annotations__ = {"user": alias}
        router.add_api_route(f"/probe/{name}", endpoint, methods=["GET"], include_in_schema=False)  # a page
        router.add_api_route(f"/api/probe/{name}", endpoint, methods=["GET"])
    app.include_router(router)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


ALLOWED = {
    Role.agent: {"agent"},
    Role.team_leader: {"agent", "team-leader"},
    Role.qa_inspector: {"qa"},
    Role.supervisor: {"agent", "team-leader", "qa", "supervisor"},
    Role.center_head: {"agent", "team-leader", "qa", "supervisor", "center-head"},
    Role.admin: {"agent", "team-leader", "qa", "supervisor", "center-head", "admin"},
}


@pytest.mark.parametrize("role", list(Role))
def test_each_alias_admits_exactly_its_roles(probe_client: TestClient, session: Session, role: Role) -> None:
    signed_in_client(probe_client, make_user(session, role=role))
    for name in ("agent", "team-leader", "qa", "supervisor", "center-head", "admin"):
        status = probe_client.get(f"/probe/{name}").status_code
        assert status == (200 if name in ALLOWED[role] else 403), (role, name, status)


def test_route_without_the_role_gives_403_page_and_json(probe_client: TestClient, session: Session) -> None:
    signed_in_client(probe_client, make_user(session, role=Role.agent))
    page = probe_client.get("/probe/supervisor")
    assert page.status_code == 403 and "text/html" in page.headers["content-type"]
    assert "Your role does not give access" in page.text
    api = probe_client.get("/api/probe/supervisor")
    assert api.status_code == 403 and api.json()["code"] == "forbidden"
    assert "Your role does not give access" in api.json()["detail"] and "supervisor" in api.json()["params"]["allowed"]


def test_role_change_takes_effect_on_the_next_request(probe_client: TestClient, session: Session) -> None:
    from core import users

    admin = make_user(session, role=Role.admin)
    agent = make_user(session, role=Role.agent)
    signed_in_client(probe_client, agent)
    assert probe_client.get("/probe/team-leader").status_code == 403
    users.change_role(session, user_id=agent.id, role=Role.team_leader, by=admin)
    session.commit()
    assert probe_client.get("/probe/team-leader").status_code == 200


# API tokens --------------------------------------------------------------------------------------

def test_api_token_authenticates(client: TestClient, session: Session) -> None:
    user = make_user(session, role=Role.supervisor, display_name="Chen Jing")
    raw = make_api_token(session, user)
    response = client.get("/api/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert response.json()["username"] == user.username and response.json()["role"] == "supervisor"


def test_revoked_or_expired_or_bad_token_gets_401(client: TestClient, session: Session, clock: FrozenClock) -> None:
    user = make_user(session)
    revoked = make_api_token(session, user, name="old")
    expiring = make_api_token(session, user, name="short", expires_at=clock.now() + timedelta(hours=1))
    token = credentials.list_api_tokens(session, user_id=user.id)
    credentials.revoke_api_token(session, token_id=next(t.id for t in token if t.name == "old"), by=user)
    session.commit()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {revoked}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {expiring}"}).status_code == 200
    clock.advance(hours=1)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {expiring}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": "Bearer hl_madeup"}).status_code == 401


def test_bad_bearer_does_not_fall_back_to_the_cookie(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session))
    assert client.get("/api/me", headers={"Authorization": "Bearer hl_madeup"}).status_code == 401


def test_api_token_last_used_is_noted(client: TestClient, session: Session, clock: FrozenClock) -> None:
    user = make_user(session)
    raw = make_api_token(session, user)
    client.get("/api/me", headers={"Authorization": f"Bearer {raw}"})
    fresh(session)
    assert credentials.list_api_tokens(session, user_id=user.id)[0].last_used_at == clock.now()


# Client address ----------------------------------------------------------------------------------

def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 1234),
                    "query_string": b""})


def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies(settings: Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert client_ip(_request("203.0.113.5", "198.51.100.1")) == "203.0.113.5"
    monkeypatch.setattr(settings, "trusted_proxies", ["10.0.0.0/8", "192.0.2.10"])
    assert client_ip(_request("10.1.2.3", "198.51.100.1")) == "198.51.100.1"
    # A client cannot spoof by prepending: the rightmost untrusted hop counts.
    assert client_ip(_request("10.1.2.3", "6.6.6.6, 198.51.100.1, 192.0.2.10")) == "198.51.100.1"
    assert client_ip(_request("203.0.113.5", "198.51.100.1")) == "203.0.113.5"
    assert client_ip(_request("10.1.2.3")) == "10.1.2.3"
