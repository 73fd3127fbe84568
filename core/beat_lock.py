"""One beat at a time: a lock that the beat sending periodic tasks holds, so a second beat
(started by mistake, or kept as a standby on another host) sends nothing until the first is
gone, then takes over. Redis when a broker is configured (a key with a time to live that the
holder renews), a PostgreSQL advisory lock otherwise (held by a connection: released by the
server the moment the holder's process or host dies), and a file lock for SQLite, which lives
on one host."""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
import zlib
from abc import ABC, abstractmethod
from enum import Enum
from pathlib import Path
from typing import Any

from core.config import Settings

__all__ = ["BeatLock", "FileBeatLock", "Holding", "PostgresBeatLock", "RedisBeatLock", "beat_lock_for"]


class Holding(Enum):
    """What one try at the lock found: this beat holds it (and may send tasks), another beat
    holds it (this one stands by), or what keeps the lock could not be asked (Redis or
    PostgreSQL down: nobody can tell who holds it, and this beat sends nothing until it answers)."""

    HELD = "held"
    OTHER = "held by another beat"
    UNREACHABLE = "unreachable"


class BeatLock(ABC):
    """`hold()` is called on every beat tick: it takes the lock if free, renews it if held, and
    says whether this beat may send tasks now (`Holding.HELD`), and if not, why. `error` is
    what the last unreachable try said."""

    #: At most this long between two calls of hold() while the lock is held.
    renew_seconds: float = 5.0
    #: How long a standby waits before trying again.
    retry_seconds: float = 5.0

    error: str | None = None

    @abstractmethod
    def hold(self) -> Holding: ...

    @abstractmethod
    def release(self) -> None: ...

    def describe(self) -> str:
        return self.__class__.__name__


def _token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RedisBeatLock(BeatLock):
    """SET key token NX PX ttl; the holder renews it every third of the ttl (only while the key is
    still its own); a beat that dies lets the key expire and a standby takes over within ttl."""

    _RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, url: str, *, key: str, ttl_seconds: float) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.key = key
        self.token = _token()
        self.ttl_ms = max(1000, int(ttl_seconds * 1000))
        self.renew_seconds = self.retry_seconds = max(0.3, ttl_seconds / 3)
        self._held = False

    def hold(self) -> Holding:
        from redis.exceptions import RedisError

        try:
            if self._held and self.client.eval(self._RENEW, 1, self.key, self.token, self.ttl_ms):
                return Holding.HELD
            self._held = bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        except RedisError as exc:
            self._held = False
            self.error = str(exc) or type(exc).__name__
            return Holding.UNREACHABLE
        return Holding.HELD if self._held else Holding.OTHER

    def release(self) -> None:
        from redis.exceptions import RedisError

        try:
            if self._held:
                self.client.eval(self._RELEASE, 1, self.key, self.token)
        except RedisError:
            pass  # the key expires by itself
        finally:
            self._held = False
            self.client.close()

    def describe(self) -> str:
        return f"Redis key {self.key}"


class PostgresBeatLock(BeatLock):
    """pg_try_advisory_lock on a connection of its own, kept open while this beat runs; each
    tick checks the connection still answers (if it broke, the server already let the lock go,
    and this beat stops sending until it holds the lock again)."""

    def __init__(self, url: str, *, name: str) -> None:
        from core.db import make_engine

        self.engine = make_engine(url, pool_size=1, max_overflow=0)
        self.key = zlib.crc32(name.encode())  # the same number in every process of this database
        self.name = name
        self.connection: Any = None

    def hold(self) -> Holding:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            if self.connection is not None:
                self.connection.execute(text("SELECT 1"))
                return Holding.HELD
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar():
                self.connection = connection
                return Holding.HELD
            connection.close()
        except DBAPIError as exc:
            self._drop()
            self.error = str(exc.orig or exc).splitlines()[0] if str(exc.orig or exc) else type(exc).__name__
            return Holding.UNREACHABLE
        return Holding.OTHER

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.invalidate()
                self.connection.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
        self.connection = None

    def release(self) -> None:
        # Closing the session releases its advisory locks.
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self.engine.dispose()

    def describe(self) -> str:
        return f"PostgreSQL advisory lock {self.key} ({self.name})"


class FileBeatLock(BeatLock):
    """flock on a file beside the SQLite database (SQLite is one host's: so is its beat)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def hold(self) -> Holding:
        if self.fd is not None:
            return Holding.HELD
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return Holding.OTHER
        self.fd = fd
        return Holding.HELD

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None

    def describe(self) -> str:
        return f"file lock {self.path}"


def beat_lock_for(settings: Settings, *, namespace: str) -> BeatLock:
    """The lock for these settings; `namespace` (the Celery queue) lets two hubs share a Redis
    or a database server without sharing a beat."""
    if settings.broker_url and settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBeatLock(settings.broker_url, key=f"{namespace}:beat-lock",
                             ttl_seconds=settings.beat_lock_seconds)
    if settings.is_postgres:
        return PostgresBeatLock(settings.effective_database_url, name=f"{namespace}:beat")
    url = settings.effective_database_url
    database = Path(url.split("///", 1)[-1]) if "///" in url else settings.var_dir / "hotline.db"
    return FileBeatLock(database.with_name(database.name + f".{namespace}.beat-lock"))
