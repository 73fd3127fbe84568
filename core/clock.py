"""The one place the hub reads the time. Production uses the system clock; tests install a
`FrozenClock` and move it forward instead of sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...

    def wait_until(self, stop: threading.Event, when: datetime) -> bool: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait_until(self, stop: threading.Event, when: datetime) -> bool:
        """Wait until `when`, or until `stop` is set; whether it was set."""
        return stop.wait(max(0.0, (when - self.now()).total_seconds()))


class FrozenClock:
    """A clock that only moves when told to; thread-safe so web threads and tests agree."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._moved = threading.Condition(self._lock)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, /, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._now = self._now + step
            self._moved.notify_all()
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        with self._lock:
            self._now = when.astimezone(UTC)
            self._moved.notify_all()

    def wait_until(self, stop: threading.Event, when: datetime) -> bool:
        """Wait until this clock has been moved on to `when`, or `stop` is set; whether it was
        set. A thread that waits for time to pass (a lease's renewal) waits for the test to move
        the clock, never for real time."""
        with self._moved:
            while self._now < when and not stop.is_set():
                self._moved.wait(0.05)  # `stop` is an Event of its own: looked at often
        return stop.is_set()


_clock: Clock = SystemClock()


def install(clock: Clock) -> None:
    global _clock
    _clock = clock


def get_clock() -> Clock:
    return _clock


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return _clock.now()


def wait_until(stop: threading.Event, when: datetime) -> bool:
    """Wait until `when` by the installed clock, or until `stop` is set; whether it was set."""
    return _clock.wait_until(stop, when)


def to_zone(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))
