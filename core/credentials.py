"""What a signed-in browser or script presents: server-side sign-in sessions and personal API
tokens. Only sha256 digests of the secrets are stored; expiry is checked at every use."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import clock, db
from core.config import get_settings
from core.errors import NotFound, ValidationFailed
from core.models import ApiToken, Role, SignInSession, User
from core.users import NotAllowed, audit, get

log = logging.getLogger("hotline.credentials")

TOKEN_PREFIX = "hl_"
# Writing last_seen_at / last_used_at on every request would turn each read into a write.
_TOUCH_EVERY = timedelta(seconds=60)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Sign-in sessions ---------------------------------------------------------------------------

def start_session(session: Session, *, user: User, ip: str | None = None,
                  user_agent: str | None = None) -> tuple[SignInSession, str]:
    """Open a session for a user who has just authenticated; returns the row and the raw token,
    which goes into the cookie and is never stored."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.execute(delete(SignInSession).where(SignInSession.user_id == user.id, SignInSession.expires_at <= now))
    row = SignInSession(
        id=digest(token),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=get_settings().session_max_age_seconds),
        last_seen_at=now,
        csrf_token=secrets.token_urlsafe(32),
        ip=(ip or None) and ip[:64],
        user_agent=(user_agent or None) and user_agent[:200],
    )
    session.add(row)
    session.flush()
    return row, token


def resolve_session(session: Session, *, token: str) -> SignInSession | None:
    """The live session for a cookie's token, or None if unknown, expired or its user was
    deactivated. Reading a session does not write in the caller's transaction (see _touch);
    expired rows go at the owner's next sign-in or in `purge_expired_sessions`."""
    row = session.get(SignInSession, digest(token))
    if row is None:
        return None
    now = clock.now()
    if now >= row.expires_at or not row.user.is_active:
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        _touch(session, row, "last_seen_at", now)
    return row


def end_session(session: Session, *, token: str, ip: str | None = None) -> bool:
    """Sign out: the session row is deleted, so the cookie is worthless even if copied."""
    row = session.get(SignInSession, digest(token))
    if row is None:
        return False
    user = row.user
    session.delete(row)
    session.flush()
    audit(session, action="auth.signout", actor=user, object_type="user", object_id=user.id, source_ip=ip)
    return True


def end_all_sessions(session: Session, *, user_id: int) -> int:
    """Sign a user out everywhere (after a password change or deactivation)."""
    result = session.execute(delete(SignInSession).where(SignInSession.user_id == user_id))
    return db.affected_rows(result)


def purge_expired_sessions(session: Session) -> int:
    """For the periodic sweep: remove sessions past their expiry."""
    result = session.execute(delete(SignInSession).where(SignInSession.expires_at <= clock.now()))
    return db.affected_rows(result)


# API tokens ---------------------------------------------------------------------------------

def create_api_token(session: Session, *, user_id: int, name: str, expires_at: datetime | None = None,
                     by: User | None = None, source_ip: str | None = None) -> tuple[ApiToken, str]:
    """Make a personal API token; returns the row and the token itself, shown to its owner once.
    People make their own; an administrator may make one for someone else."""
    owner = get(session, user_id=user_id)
    _owner_or_admin(owner.id, by)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Give the token a name of 1 to 100 characters, such as the script that uses it.",
                               field="name")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= clock.now()):
        raise ValidationFailed("The expiry must be a time in the future.", field="expires_at")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=owner.id, name=name, prefix=raw[:8], token_hash=digest(raw),
                     created_at=clock.now(), expires_at=expires_at)
    session.add(token)
    session.flush()
    audit(session, action="api_token.created", actor=by or owner, object_type="api_token", object_id=token.id,
          source_ip=source_ip, details={"owner": owner.username, "name": name, "prefix": token.prefix,
                                        "expires_at": expires_at.isoformat() if expires_at else None})
    return token, raw


def list_api_tokens(session: Session, *, user_id: int, include_revoked: bool = False) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc(), ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_api_token(session: Session, *, token_id: int, by: User | None,
                     source_ip: str | None = None) -> ApiToken:
    """Revoke a token at once; revoking it again changes nothing."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such API token.")
    try:
        _owner_or_admin(token.user_id, by)
    except NotAllowed:
        # Someone else's token is "not found" to you: ids must not reveal what exists.
        raise NotFound("No such API token.") from None
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        session.flush()
        audit(session, action="api_token.revoked", actor=by, object_type="api_token", object_id=token.id,
              source_ip=source_ip, details={"owner": token.user.username, "name": token.name,
                                            "prefix": token.prefix})
    return token


def resolve_api_token(session: Session, *, token: str) -> ApiToken | None:
    """The live token for a bearer value, or None if unknown, revoked, expired or its user inactive."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    now = clock.now()
    if row is None or not row.is_live(now) or not row.user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
        _touch(session, row, "last_used_at", now)
    return row


# Bookkeeping writes -------------------------------------------------------------------------

def _touch(session: Session, row: SignInSession | ApiToken, field: str, now: datetime) -> None:
    """Note when a credential was last used. Done after the request's own commit in a short
    transaction of its own, so a read-only page never becomes a writer racing other writers
    (on SQLite that race fails the request)."""
    set_committed_value(row, field, now)
    model = type(row)
    _after_commit(session, update(model).where(model.id == row.id).values({field: now}))


def _after_commit(session: Session, statement: Any) -> None:
    def run() -> None:
        try:
            with db.session_scope() as own:
                db.write_locked(own).execute(statement)
        except Exception:  # noqa: BLE001 - bookkeeping must never fail a request
            log.warning("credential bookkeeping write failed", exc_info=True)

    db.on_commit(session, run)


def _owner_or_admin(owner_id: int, by: User | None) -> None:
    if by is not None and by.id != owner_id and by.role != Role.admin.value:
        raise NotAllowed("Only the token's owner or an administrator can do this.")
