"""Sign-in throttling by client address and by username at an address, with growing delays. A
guesser at one address is slowed down for that username first, then for every username; a
person at an address where they signed in before (a known address) is never held back by what
others did: neither by guesses at their username from elsewhere (the account lock applies only
to unknown addresses, see `core.users.authenticate`) nor by guesses at other usernames from
their own address (an office behind one NAT address)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import record
from core.config import get_settings
from core.errors import DomainError, PermissionDenied
from core.models import Role, SignInThrottle, User

ADDRESS = "address"
USER_ADDRESS = "user_address"
UNKNOWN_ADDRESS = "unknown"


class SignInThrottled(DomainError):
    """Too many wrong passwords from here: wait a moment before trying again."""

    code = "throttled"

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__("Too many wrong passwords from this address; try again after %(until)s.",
                         params={"until": until.isoformat()})


@dataclass(frozen=True)
class Attempt:
    """The two throttles a sign-in attempt counts against, locked for this transaction."""

    pair: SignInThrottle
    place: SignInThrottle

    @property
    def known_address(self) -> bool:
        """The person signed in from this address before."""
        return self.pair.succeeded_at is not None


def _key(scope: str, address: str, username: str | None = None) -> str:
    return hashlib.sha256(f"{scope}\x00{address}\x00{username or ''}".encode()).hexdigest()


def _row(session: Session, *, scope: str, address: str, username: str | None) -> SignInThrottle:
    """The throttle row, locked (made when missing; a concurrent maker wins and is read back)."""
    key = _key(scope, address, username)
    query = select(SignInThrottle).where(SignInThrottle.key == key).with_for_update()
    row = session.scalar(query)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = SignInThrottle(key=key, scope=scope, address=address[:64], username=username, failures=0)
            session.add(row)
    except IntegrityError:
        row = session.scalar(query)
        assert row is not None
    return row


def begin(session: Session, *, username: str, address: str | None, now: datetime) -> Attempt:
    """The attempt's throttles; SignInThrottled (before any password is checked) while either
    holds it back. The address-wide one never holds back a known address."""
    address = (address or UNKNOWN_ADDRESS)[:64]
    attempt = Attempt(pair=_row(session, scope=USER_ADDRESS, address=address, username=username[:80]),
                      place=_row(session, scope=ADDRESS, address=address, username=None))
    memory = timedelta(seconds=get_settings().signin_memory_seconds)
    for row in (attempt.pair, attempt.place):
        if row.last_failed_at is not None and now - row.last_failed_at >= memory:
            row.failures, row.first_failed_at, row.blocked_until = 0, None, None
    held = [r.blocked_until for r in (attempt.pair, attempt.place)
            if r.blocked_until is not None and now < r.blocked_until
            and not (r is attempt.place and attempt.known_address)]
    if held:
        raise SignInThrottled(max(held))
    return attempt


def _delay(failures: int, free: int) -> timedelta | None:
    """No delay for the first `free` failures, then the first delay doubled at each further one."""
    if failures <= free:
        return None
    settings = get_settings()
    seconds = settings.signin_delay_seconds * 2 ** min(failures - free - 1, 30)
    return timedelta(seconds=min(seconds, settings.signin_max_delay_seconds))


def failed(attempt: Attempt, *, now: datetime) -> datetime | None:
    """Count a wrong password; returns when the next attempt may come, if it must wait."""
    settings = get_settings()
    rows = [(attempt.pair, settings.signin_free_failures)]
    if not attempt.known_address:  # a known person's typos do not count against their office
        rows.append((attempt.place, settings.signin_address_free_failures))
    waits = []
    for row, free in rows:
        row.failures += 1
        row.first_failed_at = row.first_failed_at or now
        row.last_failed_at = now
        delay = _delay(row.failures, free)
        if delay is not None:
            row.blocked_until = now + delay
            waits.append(row.blocked_until)
    return max(waits, default=None)


def succeeded(attempt: Attempt, *, now: datetime) -> None:
    """The right password: this username at this address starts afresh and becomes known. The
    address-wide count stays, or a guesser with an account of their own could wipe it."""
    attempt.pair.failures, attempt.pair.first_failed_at, attempt.pair.blocked_until = 0, None, None
    attempt.pair.succeeded_at = now


# For administrators --------------------------------------------------------------------------

def held_back(session: Session, *, now: datetime, limit: int = 200) -> list[SignInThrottle]:
    """Addresses and usernames held back right now, the longest wait first."""
    return list(session.scalars(select(SignInThrottle).where(SignInThrottle.blocked_until > now)
                                .order_by(SignInThrottle.blocked_until.desc()).limit(limit)))


def release(session: Session, *, key: str, by: User, source_ip: str | None = None) -> bool:
    """Let an address (or a username at an address) try again now. Administrators only; audited."""
    if by.role != Role.admin.value:
        raise PermissionDenied("Only an administrator can release a held-back sign-in.")
    row = session.get(SignInThrottle, key)
    if row is None:
        return False
    row.failures, row.first_failed_at, row.blocked_until = 0, None, None
    session.flush()
    record(session, action="auth.throttle_released", actor_id=by.id, actor_name=by.username, source_ip=source_ip,
           object_type="signin_throttle", object_id=key[:16], details={"scope": row.scope, "address": row.address,
                                                                      "username": row.username})
    return True


def forget_username(session: Session, *, username: str) -> None:
    """Clear the holds on a username at every address (an administrator's unlock)."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.scope == USER_ADDRESS,
                                                 SignInThrottle.username == username,
                                                 SignInThrottle.succeeded_at.is_(None)))
    for row in session.scalars(select(SignInThrottle).where(SignInThrottle.scope == USER_ADDRESS,
                                                            SignInThrottle.username == username)):
        row.failures, row.first_failed_at, row.blocked_until = 0, None, None
    session.flush()
