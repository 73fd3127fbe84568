"""Sign-in throttling by client address and by username at an address, with growing delays: a
stranger cannot lock a person out of the workstation they sign in from, while guessing still
stops; held-back sign-ins and locked accounts shown to administrators, who release or unlock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import audit, signin_throttle, users
from core.clock import FrozenClock
from core.config import Settings
from core.models import Role, SignInThrottle, User
from tests.factories import DEFAULT_PASSWORD, cheap_password_hashing, csrf_from, fresh, make_user, signed_in_client

__all__ = ["cheap_password_hashing"]

HOME = "198.51.100.7"  # the person's own workstation
STRANGER = "203.0.113.66"


@pytest.fixture
def proxied(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Requests come through a trusted proxy that names the client in X-Forwarded-For."""
    monkeypatch.setattr(settings, "trusted_proxies", ["testclient"])
    yield settings


def _post(client: TestClient, username: str, password: str, address: str) -> Any:
    """A sign-in from a fresh browser at `address`."""
    client.cookies.clear()
    token = csrf_from(client.get("/signin").text)
    return client.post("/signin", headers={"X-Forwarded-For": address}, follow_redirects=False,
                       data={"username": username, "password": password, "csrf_token": token})


def _signs_in(client: TestClient, user: User, address: str) -> bool:
    response = _post(client, user.username, DEFAULT_PASSWORD, address)
    assert response.status_code == 303, (response.status_code, response.text[:300])
    return response.headers["location"] == "/"


def test_a_stranger_cannot_lock_a_person_out_of_their_workstation(client: TestClient, session: Session,
                                                                   proxied: Settings) -> None:
    """The finding: five wrong passwords for a known username, from any address, locked that
    account for 15 minutes."""
    person = make_user(session, username="wang.li")
    assert _signs_in(client, person, HOME)  # the workstation they use
    for _ in range(5):
        _post(client, "wang.li", "guess!guess!", STRANGER)
    assert _signs_in(client, person, HOME)
    assert not _signs_in(client, person, STRANGER)  # the guesser still gets nowhere


def test_each_further_wrong_password_doubles_the_wait(session: Session, settings: Settings, clock: FrozenClock,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "lockout_threshold", 100)  # the address's own throttle alone
    make_user(session, username="chen.jing")
    waits = []
    for attempt in range(1, 10):
        try:
            users.authenticate(session, username="chen.jing", password="wrong password!", ip=STRANGER)
        except (users.InvalidCredentials, users.AccountLocked):
            pass
        if attempt <= settings.signin_free_failures:
            continue
        with pytest.raises(signin_throttle.SignInThrottled) as held:  # even the right password waits
            users.authenticate(session, username="chen.jing", password=DEFAULT_PASSWORD, ip=STRANGER)
        waits.append((held.value.until - clock.now()).total_seconds())
        clock.set(held.value.until)
    assert waits == [2, 4, 8, 16, 32, 64]
    refused = audit.entries_for(session, action_prefix="auth.signin_failed")
    assert sum(e.details_dict["reason"] == "throttled" for e in refused) == 6


def test_the_longest_wait_is_capped_and_a_quiet_day_forgets(session: Session, settings: Settings,
                                                            clock: FrozenClock,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "signin_max_delay_seconds", 10)
    monkeypatch.setattr(settings, "lockout_threshold", 100)
    make_user(session, username="li.na")
    waits = []
    row = None
    for _ in range(12):
        if row is not None and row.blocked_until is not None:
            clock.set(max(clock.now(), row.blocked_until))
        with pytest.raises((users.InvalidCredentials, users.AccountLocked)):
            users.authenticate(session, username="li.na", password="wrong password!", ip=STRANGER)
        row = session.get(SignInThrottle, signin_throttle._key("user_address", STRANGER, "li.na"))
        if row.blocked_until is not None and row.blocked_until > clock.now():
            waits.append((row.blocked_until - clock.now()).total_seconds())
    assert waits == [2, 4, 8, 10, 10, 10, 10, 10, 10]
    with pytest.raises(signin_throttle.SignInThrottled):
        users.authenticate(session, username="li.na", password="wrong password!", ip=STRANGER)
    clock.advance(seconds=settings.signin_memory_seconds)
    users.authenticate(session, username="li.na", password=DEFAULT_PASSWORD, ip=STRANGER)


def test_trying_many_usernames_from_one_address_is_held_back_for_strangers_only(
        session: Session, settings: Settings, clock: FrozenClock) -> None:
    colleague = make_user(session)
    users.authenticate(session, username=colleague.username, password=DEFAULT_PASSWORD, ip=STRANGER)  # same office
    for n in range(settings.signin_address_free_failures + 1):
        with pytest.raises(users.InvalidCredentials):
            users.authenticate(session, username=f"nobody-{n}", password="wrong password!", ip=STRANGER)
    with pytest.raises(signin_throttle.SignInThrottled):
        users.authenticate(session, username="nobody-else", password="wrong password!", ip=STRANGER)
    newcomer = make_user(session)
    with pytest.raises(signin_throttle.SignInThrottled):
        users.authenticate(session, username=newcomer.username, password=DEFAULT_PASSWORD, ip=STRANGER)
    # Someone who signed in from here before is not held back by others' guesses.
    assert users.authenticate(session, username=colleague.username, password=DEFAULT_PASSWORD,
                              ip=STRANGER).id == colleague.id
    # ... and signing in to an account of one's own does not wipe the address's count.
    with pytest.raises(signin_throttle.SignInThrottled):
        users.authenticate(session, username="nobody-else", password="wrong password!", ip=STRANGER)


def test_throttled_page_says_when_to_try_again(client: TestClient, session: Session, proxied: Settings) -> None:
    person = make_user(session, username="zhou.min")
    for _ in range(proxied.signin_free_failures + 1):
        _post(client, "zhou.min", "wrong password!", STRANGER)
    _post(client, "zhou.min", DEFAULT_PASSWORD, STRANGER)
    page = client.get("/signin")
    assert "Too many wrong passwords from here. Wait until" in page.text and 'id="password-error"' in page.text
    _post(client, "zhou.min", DEFAULT_PASSWORD, STRANGER)
    chinese = client.get("/signin", headers={"Accept-Language": "zh-CN"})
    assert "此处密码错误次数过多" in chinese.text and 'id="signin-error"' in chinese.text
    assert person.id


def test_administrators_see_held_back_sign_ins_and_locked_accounts(client: TestClient, session: Session,
                                                                  proxied: Settings) -> None:
    admin = make_user(session, role=Role.admin)
    person = make_user(session, username="sun.li", display_name="Sun Li")
    for _ in range(proxied.signin_free_failures + 1):
        _post(client, "sun.li", "wrong password!", STRANGER)
    for n in range(proxied.lockout_threshold - proxied.signin_free_failures - 1):
        _post(client, "sun.li", "wrong password!", f"198.51.100.{n}")
    signed_in_client(client, admin)
    overview = client.get("/admin").text
    assert 'id="locked-accounts"' in overview and "Sun Li" in overview
    assert 'id="held-back"' in overview and STRANGER in overview and "sun.li" in overview
    key = signin_throttle._key("user_address", STRANGER, "sun.li")
    released = client.post(f"/admin/signin-holds/{key}/release", follow_redirects=False)
    assert released.status_code == 303
    assert STRANGER not in client.get("/admin").text
    assert audit.entries_for(fresh(session), action_prefix="auth.throttle_released")[0].actor_id == admin.id
    client.post(f"/admin/people/{person.id}/unlock")
    assert not users.get(fresh(session), user_id=person.id).is_locked()


def test_only_administrators_release(client: TestClient, session: Session) -> None:
    supervisor = make_user(session, role=Role.supervisor)
    signed_in_client(client, supervisor)
    assert client.post("/admin/signin-holds/abc/release").status_code == 403
