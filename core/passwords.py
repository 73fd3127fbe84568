"""Password hashing (argon2id) and the password rules. Hashes carry their own parameters, so a
hash made with older parameters is upgraded at the next successful sign-in."""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.config import Settings
from core.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 hashes any length; a cap stops a megabyte "password" costing CPU


class WeakPassword(ValidationFailed):
    """The password breaks a rule; `reason` is a stable code (too_short, too_long, blank)."""

    default_msgid = "The password is too weak; choose another."

    code = "weak_password"
    MESSAGES = {
        "too_short": "The password must be at least %(minimum)s characters long; choose a longer one.",
        "too_long": "The password must be at most %(maximum)s characters long.",
        "blank": "The password cannot be only spaces.",
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.minimum = MIN_LENGTH
        super().__init__(self.MESSAGES[reason], field="password",
                         params={"minimum": MIN_LENGTH, "maximum": MAX_LENGTH})


# argon2id with the library's RFC 9106 "low memory" profile (64 MiB, 3 passes).
DEFAULT_HASHER = PasswordHasher()
_hasher = DEFAULT_HASHER
_dummy_hash: str | None = None
_lock = threading.Lock()


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Install other argon2 parameters (tests use cheap ones); returns the previous hasher."""
    global _hasher, _dummy_hash
    with _lock:
        previous, _hasher, _dummy_hash = _hasher, hasher, None
    return previous


def configure(settings: Settings) -> None:
    """The argon2 parameters the settings ask for (the composition root calls this at start);
    with none set, the hasher in use stays."""
    memory, passes = settings.password_hash_memory_kib, settings.password_hash_time_cost
    if memory is None and passes is None:
        return
    use_hasher(PasswordHasher(time_cost=passes or DEFAULT_HASHER.time_cost,
                              memory_cost=memory or DEFAULT_HASHER.memory_cost,
                              parallelism=DEFAULT_HASHER.parallelism))


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword("too_short")
    if len(password) > MAX_LENGTH:
        raise WeakPassword("too_long")
    if not password.strip():
        raise WeakPassword("blank")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def rehash(password: str) -> str:
    """Hash a password that was just verified, with the current parameters. No rule check: a
    password set before a rule changed still deserves the stronger hash."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        burn_time(password[:MAX_LENGTH])
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def burn_time(password: str) -> None:
    """Verify against a throw-away hash so an unknown username costs as long as a wrong
    password: the response time must not tell which usernames exist."""
    global _dummy_hash
    if _dummy_hash is None:
        with _lock:
            if _dummy_hash is None:
                _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    try:
        _hasher.verify(_dummy_hash, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        pass
