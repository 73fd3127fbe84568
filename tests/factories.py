"""Test data: sites, teams, skills and users made through the services, and a TestClient signed
in through the real sign-in form. Each call commits, so the app's own sessions see the data."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from core import credentials, organisation, passwords, users
from core.models import Role, Site, Skill, Team, User

DEFAULT_PASSWORD = "correct horse battery"
# Cheap argon2 parameters for tests that make many users; `cheap_password_hashing` installs them.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

_counter = itertools.count(1)
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[PasswordHasher]:
    """Autouse for every test (tests/conftest.py imports it): argon2 with production parameters
    costs 0.1 s a hash on an idle core and over a second on a busy CI machine, and tests make and
    sign in many people (each call hub of the telephony tests four). Production parameters are
    tested in tests/core/test_users.py; a test that wants others installs them itself."""
    previous = passwords.use_hasher(FAST_HASHER)
    yield FAST_HASHER
    passwords.use_hasher(previous)


def make_site(session: Session, *, name: str | None = None, code: str | None = None,
              timezone: str = "Asia/Shanghai", **extra: Any) -> Site:
    n = next(_counter)
    site = organisation.create_site(session, name=name or f"Store {n}", code=code or f"s{n}", timezone=timezone, **extra)
    session.commit()
    return site


def make_team(session: Session, *, site: Site | None = None, name: str | None = None) -> Team:
    site = site or make_site(session)
    team = organisation.create_team(session, name=name or f"Team {next(_counter)}", site_id=site.id)
    session.commit()
    return team


def make_skill(session: Session, *, code: str | None = None, name: str | None = None) -> Skill:
    code = code or f"skill{next(_counter)}"
    skill = organisation.create_skill(session, code=code, name=name or code.title())
    session.commit()
    return skill


def make_user(session: Session, *, role: Role | str = Role.agent, password: str = DEFAULT_PASSWORD,
              username: str | None = None, display_name: str | None = None, site: Site | None = None,
              team: Team | None = None, **extra: Any) -> User:
    n = next(_counter)
    username = username or f"{Role(role).value.replace('_', '-')}{n}"
    user = users.create_user(
        session, username=username, password=password, role=role, display_name=display_name or f"Person {n}",
        site_id=site.id if site else (team.site_id if team else None), team_id=team.id if team else None, **extra,
    )
    session.commit()
    return user


def make_api_token(session: Session, user: User, *, name: str = "script", **extra: Any) -> str:
    _token, raw = credentials.create_api_token(session, user_id=user.id, name=name, by=user, **extra)
    session.commit()
    return raw


def fresh(session: Session) -> Session:
    """Forget what the test's session holds, to read what the app committed since: end its
    snapshot (SQLite WAL, PostgreSQL) and expire its objects (the factory expires nothing on commit)."""
    session.rollback()
    session.expire_all()
    return session


def csrf_from(html: str) -> str:
    match = _META_CSRF.search(html)
    assert match, "the page has no csrf-token meta tag"
    return match.group(1)


def signed_in_client(client: Any, user: User, *, password: str = DEFAULT_PASSWORD) -> Any:
    """Sign `client` in through the form, as a browser would, and keep the session's CSRF token
    as a default `X-CSRF-Token` header (delete it from `client.headers` to test without)."""
    client.headers.pop("X-CSRF-Token", None)  # a previous session's token would not match
    page = client.get("/signin")
    assert page.status_code == 200, page.text
    response = client.post("/signin", data={"username": user.username, "password": password,
                                            "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/", response.text
    home = client.get("/")
    assert home.status_code == 200, home.text
    client.headers["X-CSRF-Token"] = csrf_from(home.text)
    return client
