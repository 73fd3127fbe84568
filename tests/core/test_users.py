"""core.users and core.credentials: people, roles, passwords and lockout, sessions and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, credentials, organisation, passwords, users
from core.clock import FrozenClock
from core.config import Settings
from core.errors import NotFound, ValidationFailed
from core.models import ApiToken, Role, SignInSession, User
from tests.factories import DEFAULT_PASSWORD, cheap_password_hashing, make_site, make_skill, make_user

__all__ = ["cheap_password_hashing"]  # an autouse fixture: imported to take effect here


def _audit_actions(session: Session, **filters: object) -> list[str]:
    return [e.action for e in audit.entries_for(session, limit=1000, **filters)]  # type: ignore[arg-type]


def _all_audit_text(session: Session) -> str:
    return " ".join(f"{e.actor_name} {e.details}" for e in audit.entries_for(session, limit=1000))


class CountingHasher(PasswordHasher):
    verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 - argon2's own name
        CountingHasher.verifications += 1
        return super().verify(hash, password)


@pytest.fixture
def counting_hasher():  # type: ignore[no-untyped-def]
    hasher = CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    CountingHasher.verifications = 0
    previous = passwords.use_hasher(hasher)
    yield hasher
    passwords.use_hasher(previous)


# Creating people ------------------------------------------------------------------------------

def test_create_user_hashes_the_password_and_audits(session: Session) -> None:
    site = make_site(session)
    user = make_user(session, username="Wang.Li", role=Role.team_leader, site=site)
    assert user.username == "wang.li"
    assert user.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in user.password_hash
    assert user.role == Role.team_leader and user.site_id == site.id and user.locale is None
    assert "user.created" in _audit_actions(session, object_type="user", object_id=user.id)


def test_create_user_password_too_short(session: Session) -> None:
    with pytest.raises(passwords.WeakPassword) as caught:
        users.create_user(session, username="short", password="123456789", role=Role.agent, display_name="S")
    assert caught.value.field == "password" and caught.value.reason == "too_short"
    assert "at least 10 characters" in caught.value.message
    assert isinstance(caught.value, ValidationFailed)


def test_create_user_username_taken_ignores_case(session: Session) -> None:
    make_user(session, username="zhang.wei")
    with pytest.raises(users.UsernameTaken):
        users.create_user(session, username="Zhang.Wei", password=DEFAULT_PASSWORD, role=Role.agent,
                          display_name="Another")


def test_create_user_unknown_role(session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        users.create_user(session, username="x1", password=DEFAULT_PASSWORD, role="boss", display_name="X")
    assert caught.value.field == "role"


def test_create_site_takes_default_timezone_from_settings(session: Session, settings: Settings) -> None:
    site = organisation.create_site(session, name="Head office", code="HQ")
    assert site.code == "hq" and site.timezone == settings.timezone
    with pytest.raises(ValidationFailed):
        organisation.create_site(session, name="Bad", code="bad", timezone="Mars/Olympus")


def test_set_skill_adds_and_updates_levels(session: Session) -> None:
    organisation.ensure_default_skills(session)
    user = make_user(session)
    users.set_skill(session, user_id=user.id, skill_code="complaint", level=3)
    users.set_skill(session, user_id=user.id, skill_code="Complaint", level=5)
    users.set_skill(session, user_id=user.id, skill_code="mandarin", level=4)
    session.commit()
    assert {(s.skill.code, s.level) for s in user.skills} == {("complaint", 5), ("mandarin", 4)}
    with pytest.raises(ValidationFailed):
        users.set_skill(session, user_id=user.id, skill_code="english", level=6)
    with pytest.raises(users.UnknownSkill):
        users.set_skill(session, user_id=user.id, skill_code="klingon", level=1)
    users.remove_skill(session, user_id=user.id, skill_code="mandarin")
    assert [s.skill.code for s in user.skills] == ["complaint"]


def test_default_skills_are_created_once(session: Session) -> None:
    make_skill(session, code="inquiry")
    first = organisation.ensure_default_skills(session)
    again = organisation.ensure_default_skills(session)
    assert [s.code for s in first] == [s.code for s in again]
    assert {"inquiry", "complaint", "membership", "callback", "operator", "mandarin", "english"} <= {
        s.code for s in again}


# Roles ----------------------------------------------------------------------------------------

def test_change_role_is_audited(session: Session) -> None:
    admin = make_user(session, role=Role.admin)
    agent = make_user(session, role=Role.agent)
    users.change_role(session, user_id=agent.id, role="team_leader", by=admin, source_ip="10.0.0.9")
    session.commit()
    assert agent.role == Role.team_leader
    entry = audit.entries_for(session, action_prefix="user.role_changed")[0]
    assert entry.actor_id == admin.id and entry.object_id == str(agent.id) and entry.source_ip == "10.0.0.9"
    assert entry.details_dict == {"username": agent.username, "from": "agent", "to": "team_leader"}


def test_change_role_by_a_non_admin_is_refused(session: Session) -> None:
    supervisor = make_user(session, role=Role.supervisor)
    agent = make_user(session)
    with pytest.raises(users.NotAllowed):
        users.change_role(session, user_id=agent.id, role=Role.admin, by=supervisor)


def test_the_last_admin_cannot_be_demoted_or_deactivated(session: Session) -> None:
    admin = make_user(session, role=Role.admin)
    with pytest.raises(users.LastAdmin):
        users.change_role(session, user_id=admin.id, role=Role.agent, by=admin)
    with pytest.raises(users.LastAdmin):
        users.set_active(session, user_id=admin.id, active=False, by=admin)
    other = make_user(session, role=Role.admin)
    users.change_role(session, user_id=admin.id, role=Role.agent, by=other)
    assert admin.role == Role.agent


# Authentication and lockout --------------------------------------------------------------------

def test_authenticate_succeeds_and_audits(session: Session, clock: FrozenClock) -> None:
    user = make_user(session)
    signed_in = users.authenticate(session, username=user.username.upper(), password=DEFAULT_PASSWORD, ip="10.1.1.1")
    session.commit()
    assert signed_in.id == user.id and user.last_sign_in_at == clock.now()
    entry = audit.entries_for(session, action_prefix="auth.signin")[0]
    assert (entry.action, entry.actor_id, entry.source_ip) == ("auth.signin", user.id, "10.1.1.1")


def test_wrong_password_and_unknown_user_look_the_same(session: Session, counting_hasher: PasswordHasher) -> None:
    user = make_user(session)
    with pytest.raises(users.InvalidCredentials) as wrong:
        users.authenticate(session, username=user.username, password="not the password", ip=None)
    after_wrong = CountingHasher.verifications
    with pytest.raises(users.InvalidCredentials) as unknown:
        users.authenticate(session, username="nobody-here", password="not the password", ip=None)
    assert str(wrong.value) == str(unknown.value)
    # Both paths run one argon2 verification, so they take about as long.
    assert after_wrong == 1 and CountingHasher.verifications == 2
    session.commit()
    failed = audit.entries_for(session, action_prefix="auth.signin_failed")
    assert {e.details_dict["reason"] for e in failed} == {"wrong_password", "unknown_user"}
    assert {e.details_dict["username"] for e in failed} == {user.username, "nobody-here"}
    assert "not the password" not in _all_audit_text(session)


def test_lockout_after_threshold_then_unlock_when_the_clock_moves(
    session: Session, settings: Settings, clock: FrozenClock
) -> None:
    """Wrong passwords from places the person never signed in from lock the account for such
    places (one guess from each of many addresses: no address's own throttle stops it)."""
    user = make_user(session)
    for n in range(settings.lockout_threshold - 1):
        with pytest.raises(users.InvalidCredentials):
            users.authenticate(session, username=user.username, password="wrong password!", ip=f"198.51.100.{n}")
    with pytest.raises(users.AccountLocked) as locked:
        users.authenticate(session, username=user.username, password="wrong password!", ip="198.51.100.99")
    until = clock.now() + timedelta(seconds=settings.lockout_seconds)
    assert locked.value.until == until
    session.commit()
    # Even the right password is refused from an unknown place while locked.
    with pytest.raises(users.AccountLocked):
        users.authenticate(session, username=user.username, password=DEFAULT_PASSWORD, ip="203.0.113.1")
    assert "auth.locked" in _audit_actions(session, object_type="user", object_id=user.id)
    clock.advance(seconds=settings.lockout_seconds)
    assert users.authenticate(session, username=user.username, password=DEFAULT_PASSWORD, ip="203.0.113.1").id == user.id
    assert user.locked_until is None and user.failed_sign_ins == 0


def test_failures_spread_beyond_the_window_do_not_lock(
    session: Session, settings: Settings, clock: FrozenClock
) -> None:
    user = make_user(session)
    for _ in range(settings.lockout_threshold * 2):
        with pytest.raises(users.InvalidCredentials):
            users.authenticate(session, username=user.username, password="wrong password!", ip=None)
        clock.advance(seconds=settings.lockout_window_seconds / (settings.lockout_threshold - 1))
    assert user.locked_until is None


def test_inactive_user_cannot_sign_in(session: Session) -> None:
    admin = make_user(session, role=Role.admin)
    user = make_user(session)
    users.set_active(session, user_id=user.id, active=False, by=admin)
    with pytest.raises(users.InvalidCredentials):
        users.authenticate(session, username=user.username, password=DEFAULT_PASSWORD, ip=None)


def test_admin_unlock(session: Session, settings: Settings) -> None:
    admin = make_user(session, role=Role.admin)
    user = make_user(session)
    for n in range(settings.lockout_threshold):
        with pytest.raises((users.InvalidCredentials, users.AccountLocked)):
            users.authenticate(session, username=user.username, password="wrong password!", ip=f"198.51.100.{n}")
    assert user.is_locked()
    users.unlock(session, user_id=user.id, by=admin)
    assert users.authenticate(session, username=user.username, password=DEFAULT_PASSWORD, ip="198.51.100.0") is user


def test_hash_is_upgraded_when_parameters_change(session: Session) -> None:
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    user = make_user(session)
    old_hash = user.password_hash
    assert "m=1024" in old_hash
    passwords.use_hasher(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    users.authenticate(session, username=user.username, password=DEFAULT_PASSWORD, ip=None)
    assert user.password_hash != old_hash and "m=2048" in user.password_hash
    assert not passwords.needs_rehash(user.password_hash)


def test_production_parameters_are_argon2id_at_least_owasp_strength() -> None:
    default = passwords.DEFAULT_HASHER
    assert default.type is Type.ID and default.memory_cost >= 19 * 1024 and default.time_cost >= 2


def test_set_password_checks_length_and_permission(session: Session) -> None:
    user = make_user(session)
    other = make_user(session)
    with pytest.raises(passwords.WeakPassword):
        users.set_password(session, user_id=user.id, password="short", by=user)
    with pytest.raises(users.NotAllowed):
        users.set_password(session, user_id=user.id, password="a long new password", by=other)
    users.set_password(session, user_id=user.id, password="a long new password", by=user)
    assert users.authenticate(session, username=user.username, password="a long new password", ip=None) is user


# Sign-in sessions ------------------------------------------------------------------------------

def test_session_is_stored_hashed_and_expires_with_the_clock(
    session: Session, settings: Settings, clock: FrozenClock
) -> None:
    user = make_user(session)
    row, token = credentials.start_session(session, user=user, ip="10.2.2.2", user_agent="Firefox " * 50)
    session.commit()
    assert row.id == credentials.digest(token) and token not in row.id
    assert len(row.user_agent or "") == 200 and row.csrf_token
    assert credentials.resolve_session(session, token=token) is row
    clock.advance(seconds=settings.session_max_age_seconds - 1)
    assert credentials.resolve_session(session, token=token) is row
    clock.advance(seconds=1)
    assert credentials.resolve_session(session, token=token) is None
    assert credentials.resolve_session(session, token="forged") is None


def test_end_session_deletes_the_row_and_audits(session: Session) -> None:
    user = make_user(session)
    _row, token = credentials.start_session(session, user=user)
    assert credentials.end_session(session, token=token, ip="10.3.3.3") is True
    session.commit()
    assert session.scalar(select(SignInSession).where(SignInSession.user_id == user.id)) is None
    assert credentials.resolve_session(session, token=token) is None
    assert credentials.end_session(session, token=token) is False
    assert "auth.signout" in _audit_actions(session, actor_id=user.id)


def test_purge_expired_sessions(session: Session, settings: Settings, clock: FrozenClock) -> None:
    user = make_user(session)
    credentials.start_session(session, user=user)
    clock.advance(seconds=settings.session_max_age_seconds // 2)
    credentials.start_session(session, user=user)
    clock.advance(seconds=settings.session_max_age_seconds // 2)
    assert credentials.purge_expired_sessions(session) == 1
    session.commit()
    assert len(list(session.scalars(select(SignInSession)))) == 1


def test_deactivated_users_sessions_stop_working(session: Session) -> None:
    admin = make_user(session, role=Role.admin)
    user = make_user(session)
    _row, token = credentials.start_session(session, user=user)
    users.set_active(session, user_id=user.id, active=False, by=admin)
    assert credentials.resolve_session(session, token=token) is None


# API tokens ------------------------------------------------------------------------------------

def test_api_token_is_shown_once_stored_hashed_and_audited(session: Session) -> None:
    user = make_user(session)
    token, raw = credentials.create_api_token(session, user_id=user.id, name="nightly report", by=user)
    session.commit()
    assert raw.startswith("hl_") and len(raw) > 40
    assert token.prefix == raw[:8] and token.token_hash == credentials.digest(raw)
    stored = session.scalar(select(ApiToken).where(ApiToken.id == token.id))
    assert stored is not None and raw not in (stored.token_hash + stored.prefix + stored.name)
    resolved = credentials.resolve_api_token(session, token=raw)
    assert resolved is not None and resolved.user.id == user.id
    entry = audit.entries_for(session, action_prefix="api_token.created")[0]
    assert entry.actor_id == user.id and raw not in (entry.details or "")


def test_revoked_and_expired_tokens_stop_working(session: Session, clock: FrozenClock) -> None:
    user = make_user(session)
    revoked, raw_revoked = credentials.create_api_token(session, user_id=user.id, name="a", by=user)
    _expiring, raw_expiring = credentials.create_api_token(
        session, user_id=user.id, name="b", by=user, expires_at=clock.now() + timedelta(days=1))
    credentials.revoke_api_token(session, token_id=revoked.id, by=user)
    credentials.revoke_api_token(session, token_id=revoked.id, by=user)  # again: no change, one audit entry
    session.commit()
    assert credentials.resolve_api_token(session, token=raw_revoked) is None
    assert credentials.resolve_api_token(session, token=raw_expiring) is not None
    clock.advance(days=1)
    assert credentials.resolve_api_token(session, token=raw_expiring) is None
    assert credentials.resolve_api_token(session, token="not-a-token") is None
    assert _audit_actions(session, action_prefix="api_token.revoked") == ["api_token.revoked"]


def test_someone_elses_token_cannot_be_revoked(session: Session) -> None:
    owner = make_user(session)
    other = make_user(session)
    admin = make_user(session, role=Role.admin)
    token, _raw = credentials.create_api_token(session, user_id=owner.id, name="a", by=owner)
    with pytest.raises(NotFound):
        credentials.revoke_api_token(session, token_id=token.id, by=other)
    credentials.revoke_api_token(session, token_id=token.id, by=admin)
    assert token.revoked_at is not None


def test_token_needs_a_name_and_a_future_expiry(session: Session, clock: FrozenClock) -> None:
    user = make_user(session)
    with pytest.raises(ValidationFailed):
        credentials.create_api_token(session, user_id=user.id, name="  ", by=user)
    with pytest.raises(ValidationFailed):
        credentials.create_api_token(session, user_id=user.id, name="x", by=user, expires_at=clock.now())


def test_user_repr_holds_no_personal_data(session: Session) -> None:
    user = make_user(session, display_name="Li Na", email="li.na@example.com")
    assert "Li Na" not in repr(user) and "example.com" not in repr(user)
    assert isinstance(session.get(User, user.id), User)
