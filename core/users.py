"""People and where they work: sites, teams, skills, users and roles, and checking a password at
sign-in with lockout. Sessions and API tokens are in `core.credentials`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import assignments, clock, passwords, signin_throttle
from core.config import get_settings
from core.db import begin_write, read_first
from core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from core.models import LOCALES, Role, Skill, User, UserSkill

# Errors -------------------------------------------------------------------------------------

WeakPassword = passwords.WeakPassword  # create_user and set_password raise it; callers catch users.WeakPassword


class InvalidCredentials(DomainError):
    """The username or password is wrong."""

    code = "invalid_credentials"


class AccountLocked(DomainError):
    """Too many wrong passwords: the account is locked for a while."""

    code = "locked"

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__("Too many wrong passwords. The account is locked until %(until)s; try again then or ask "
                         "an administrator to unlock it.", params={"until": until.isoformat()})


class UserNotFound(NotFound):
    """No such user."""


class UsernameTaken(Conflict):
    """That username is already in use; choose another."""

    code = "username_taken"

    def __init__(self, username: str) -> None:
        super().__init__("This username is already in use; choose another.", field="username",
                         params={"username": username})


class NotAllowed(PermissionDenied):
    """Your role does not allow this."""


class LastAdmin(Conflict):
    """This is the last active administrator: make someone else an administrator first."""

    code = "last_admin"


class UnknownSkill(NotFound):
    """Choose a skill from the list."""

    default_field = "skill"


# Audit --------------------------------------------------------------------------------------

def audit(session: Session, *, action: str, actor: User | None = None, actor_name: str | None = None,
          object_type: str | None = None, object_id: object = None, source_ip: str | None = None,
          details: dict[str, Any] | None = None) -> None:
    """Write one audit entry. Never pass a password or a token in `details`."""
    from core.audit import record  # core.audit is a sibling service; imported late to keep start-up light

    record(
        session,
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.username if actor is not None else actor_name,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        source_ip=source_ip,
        details=details or {},
    )


# Users --------------------------------------------------------------------------------------

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,79}$")


def normalize_username(username: str) -> str:
    """Usernames are compared case-insensitively: `Wang.Li` and `wang.li` are one person."""
    return username.strip().lower()


def create_user(session: Session, *, username: str, password: str, role: Role | str, display_name: str,
                site_id: int | None = None, team_id: int | None = None, email: str | None = None,
                job_type: str = "hotline_agent", locale: str | None = None, by: User | None = None,
                source_ip: str | None = None) -> User:
    username = normalize_username(username)
    if not _USERNAME.match(username):
        raise ValidationFailed("A username is 2 to 80 lower-case letters, digits, dots, dashes, underscores or @.",
                               field="username")
    role = parse_role(role)
    _check_locale(locale)
    if get_by_username(session, username=username) is not None:
        raise UsernameTaken(username)
    user = User(username=username, display_name=display_name.strip() or username, email=email or None,
                password_hash=passwords.hash_password(password), role=role.value, job_type=job_type,
                site_id=site_id, team_id=team_id, locale=locale, is_active=True, failed_sign_ins=0)
    session.add(user)
    session.flush()
    audit(session, action="user.created", actor=by, object_type="user", object_id=user.id, source_ip=source_ip,
          details={"username": username, "role": role.value, "site_id": site_id})
    return user


def get(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


def get_by_username(session: Session, *, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == normalize_username(username)))


# Skills held ------------------------------------------------------------------------------

def set_skill(session: Session, *, user_id: int, skill_code: str, level: int, by: User | None = None) -> UserSkill:
    if not 1 <= level <= 5:
        raise ValidationFailed("A skill level is from 1 to 5.", field="level")
    user = get(session, user_id=user_id)
    skill = session.scalar(select(Skill).where(Skill.code == skill_code.strip().lower()))
    if skill is None:
        raise UnknownSkill(params={"skill_code": skill_code})
    link = next((s for s in user.skills if s.skill_id == skill.id), None)
    if link is None:
        link = UserSkill(skill=skill, level=level)
        user.skills.append(link)
    else:
        link.level = level
    session.flush()
    audit(session, action="user.skill_set", actor=by, object_type="user", object_id=user.id,
          details={"skill": skill.code, "level": level})
    return link


def remove_skill(session: Session, *, user_id: int, skill_code: str, by: User | None = None) -> None:
    user = get(session, user_id=user_id)
    code = skill_code.strip().lower()
    user.skills = [s for s in user.skills if s.skill.code != code]
    session.flush()
    audit(session, action="user.skill_removed", actor=by, object_type="user", object_id=user.id,
          details={"skill": code})


def change_role(session: Session, *, user_id: int, role: Role | str, by: User | None,
                source_ip: str | None = None) -> User:
    """Give a user another role. Only an administrator may (or the command line, `by=None`), and
    the last active administrator cannot be demoted."""
    _require_admin(by)
    new = parse_role(role)
    user = get(session, user_id=user_id)
    old = user.role
    if old == new.value:
        return user
    if old == Role.admin.value and _active_admins(session) <= 1:
        raise LastAdmin()
    user.role = new.value
    session.flush()
    audit(session, action="user.role_changed", actor=by, object_type="user", object_id=user.id, source_ip=source_ip,
          details={"username": user.username, "from": old, "to": new.value})
    assignments.drop_ineligible(session, user=user, by=by, source_ip=source_ip)
    return user


def set_password(session: Session, *, user_id: int, password: str, by: User | None,
                 source_ip: str | None = None) -> User:
    """Set a new password; a person may change their own, an administrator anyone's."""
    user = get(session, user_id=user_id)
    if by is not None and by.id != user.id:
        _require_admin(by)
    user.password_hash = passwords.hash_password(password)
    session.flush()
    audit(session, action="user.password_changed", actor=by, object_type="user", object_id=user.id,
          source_ip=source_ip, details={"username": user.username})
    return user


def set_active(session: Session, *, user_id: int, active: bool, by: User | None,
               source_ip: str | None = None) -> User:
    """Deactivate (or bring back) an account; a deactivated account's sessions and tokens stop working."""
    _require_admin(by)
    user = get(session, user_id=user_id)
    if not active and user.role == Role.admin.value and user.is_active and _active_admins(session) <= 1:
        raise LastAdmin()
    user.is_active = active
    session.flush()
    audit(session, action="user.activated" if active else "user.deactivated", actor=by, object_type="user",
          object_id=user.id, source_ip=source_ip, details={"username": user.username})
    return user


def unlock(session: Session, *, user_id: int, by: User | None, source_ip: str | None = None) -> User:
    _require_admin(by)
    user = get(session, user_id=user_id)
    user.locked_until = None
    user.failed_sign_ins = 0
    user.first_failed_at = None
    signin_throttle.forget_username(session, username=user.username)
    session.flush()
    audit(session, action="user.unlocked", actor=by, object_type="user", object_id=user.id, source_ip=source_ip,
          details={"username": user.username})
    return user


def set_locale(session: Session, *, user_id: int, locale: str | None) -> User:
    _check_locale(locale)
    user = get(session, user_id=user_id)
    user.locale = locale
    session.flush()
    return user


# Sign-in ------------------------------------------------------------------------------------

def authenticate(session: Session, *, username: str, password: str, ip: str | None) -> User:
    """Check a username and password from the client address `ip`. Raises SignInThrottled while
    this address (or this username at it) must wait after wrong passwords, growing delays
    (`core.signin_throttle`); InvalidCredentials for an unknown user and a wrong password alike
    (taking about as long); or AccountLocked. Wrong passwords from addresses where the person
    never signed in lock the account, for such addresses only: a stranger cannot lock a person
    out of their own workstation. The counts and the audit entry are written to `session`, so
    the caller must commit even when this raises.

    The password hash is checked with no write lock held: argon2 takes a good part of a second,
    and on the embedded SQLite database every other writer (calls, tasks, pages) would wait for
    it. The stored hash is read first (as a reader when `session` has no transaction open, as at
    the sign-in page), checked, and only then is the outcome decided and written, in a short
    write that reads the throttles and the account again under lock. An attempt held back by
    then is refused as throttled whatever its password, so guesses sent side by side learn no
    more than guesses sent one after another."""
    now = clock.now()
    attempted = normalize_username(username)[:80]
    seen = _stored_hash(session, attempted)
    if seen is None:
        passwords.burn_time(password)
        verified = False
    else:
        verified = passwords.verify_password(seen, password)
    upgraded = passwords.rehash(password) if verified and seen and passwords.needs_rehash(seen) else None
    begin_write(session)
    try:
        attempt = signin_throttle.begin(session, username=attempted, address=ip, now=now)
    except signin_throttle.SignInThrottled:
        _failed(session, attempted, None, "throttled", ip)
        raise
    # Lock the row so concurrent wrong guesses are all counted; OF users: the joined site and team stay unlocked.
    user = session.scalar(select(User).where(User.username == attempted).with_for_update(of=User))
    if user is None:
        _failed(session, attempted, None, "unknown_user", ip)
        signin_throttle.failed(attempt, now=now)
        raise InvalidCredentials()
    if user.is_locked(now) and not attempt.known_address:
        _failed(session, attempted, user, "locked", ip)
        assert user.locked_until is not None
        raise AccountLocked(user.locked_until)
    # A password changed while this one was being checked was checked against the old hash: wrong.
    if not verified or user.password_hash != seen:
        _failed(session, attempted, user, "wrong_password", ip)
        signin_throttle.failed(attempt, now=now)
        if not attempt.known_address and _count_failure(user, now):
            until = user.locked_until
            assert until is not None  # _count_failure locked the account
            audit(session, action="auth.locked", object_type="user", object_id=user.id, source_ip=ip,
                  actor_name=attempted, details={"username": attempted, "until": until.isoformat()})
            raise AccountLocked(until)
        raise InvalidCredentials()
    if not user.is_active:
        _failed(session, attempted, user, "inactive", ip)
        raise InvalidCredentials()
    if upgraded is not None:
        user.password_hash = upgraded
    if not user.is_locked(now):  # a lock others caused stays until it ends or an administrator lifts it
        user.failed_sign_ins = 0
        user.first_failed_at = None
        user.locked_until = None
    signin_throttle.succeeded(attempt, now=now)
    user.last_sign_in_at = now
    session.flush()
    audit(session, action="auth.signin", actor=user, object_type="user", object_id=user.id, source_ip=ip)
    return user


def _stored_hash(session: Session, username: str) -> str | None:
    """The account's password hash, read before it is checked. A session with no transaction open
    reads as a reader and ends that transaction, so the check that follows holds no lock; a
    session already inside one reads in it (its caller chose to hold what it holds)."""
    if session.in_transaction():
        return session.scalar(select(User.password_hash).where(User.username == username))
    read_first(session)
    try:
        return session.scalar(select(User.password_hash).where(User.username == username))
    finally:
        session.commit()


def _count_failure(user: User, now: datetime) -> bool:
    """Count a wrong password within the window; lock the account at the threshold."""
    settings = get_settings()
    window = timedelta(seconds=settings.lockout_window_seconds)
    if user.first_failed_at is None or now - user.first_failed_at >= window:
        user.first_failed_at = now
        user.failed_sign_ins = 1
    else:
        user.failed_sign_ins += 1
    if user.failed_sign_ins < settings.lockout_threshold:
        return False
    user.locked_until = now + timedelta(seconds=settings.lockout_seconds)
    user.failed_sign_ins = 0
    user.first_failed_at = None
    return True


def _failed(session: Session, attempted: str, user: User | None, reason: str, ip: str | None) -> None:
    audit(session, action="auth.signin_failed", actor_name=attempted, object_type="user" if user else None,
          object_id=user.id if user else None, source_ip=ip, details={"username": attempted, "reason": reason})


# Helpers ------------------------------------------------------------------------------------

def parse_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError as exc:
        known = ", ".join(r.value for r in Role)
        raise ValidationFailed("Choose a role from the list.", field="role", params={"known": known}) from exc


def _check_locale(locale: str | None) -> None:
    if locale is not None and locale not in LOCALES:
        raise ValidationFailed("Choose a language from the list.", field="locale", params={"known": list(LOCALES)})


def _require_admin(by: User | None) -> None:
    if by is not None and by.role != Role.admin.value:
        raise NotAllowed("Only an administrator can change roles, passwords or accounts of other people.")


def _active_admins(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(User).where(User.role == Role.admin.value, User.is_active.is_(True))
    ) or 0


# Where a person works -----------------------------------------------------------------------

def move(session: Session, *, user_id: int, site_id: int | None, team_id: int | None, by: User | None,
         source_ip: str | None = None) -> User:
    """Put a user in a team (and so at its site), at a site without a team, or nowhere. A team
    belongs to one site: a team of another site than `site_id` is refused, and a team given
    without a site brings its own. Only an administrator may (or the command line, `by=None`)."""
    from core.models import Site, Team  # the people tables' own models; kept local to this late addition

    _require_admin(by)
    user = get(session, user_id=user_id)
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is None:
            raise ValidationFailed("No such team; choose one from the list.", field="team_id")
        if site_id is not None and team.site_id != site_id:
            raise ValidationFailed("That team works at another site; choose one of the site's teams, or no team.",
                                   field="team_id")
        site_id = team.site_id
    elif site_id is not None and session.get(Site, site_id) is None:
        raise ValidationFailed("No such site; choose one from the list.", field="site_id")
    before = (user.site_id, user.team_id)
    if before == (site_id, team_id):
        return user
    user.site_id, user.team_id = site_id, team_id
    session.flush()
    session.expire(user, ["site", "team"])  # the joined relationships still hold the old place
    audit(session, action="user.moved", actor=by, object_type="user", object_id=user.id, source_ip=source_ip,
          details={"username": user.username, "from_site_id": before[0], "from_team_id": before[1],
                   "site_id": site_id, "team_id": team_id})
    assignments.drop_ineligible(session, user=user, by=by, source_ip=source_ip)
    return user
