"""What a live page missed between its render and its websocket. Each web process keeps the events
of the last few minutes it heard on the bus (every process hears every event, through Redis), so
a browser that opens its websocket right after loading the page (or reconnects after a short
break) gets only the panels those events touch, not every panel rendered again: 1,000 browsers
opening the floor cost 1,000 page renders, not 2,000."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from core import clock
from core.events import Bus, Event, get_bus

# Events older than this are forgotten; a page older than this gets every panel again.
WINDOW_SECONDS = 300.0
# Clocks of different hosts, and the moments between a page's reads and its render: events this
# much before the page's time are replayed too (re-rendering a panel is always safe).
MARGIN_SECONDS = 5.0
# Events arrive roughly in the order of their time; this much disorder is tolerated.
DISORDER_SECONDS = 10.0


def _moment(event: Event) -> float:
    try:
        return datetime.fromisoformat(event.at).timestamp()
    except (TypeError, ValueError):
        return clock.now().timestamp()


class RecentEvents:
    """The bus's events of the last WINDOW_SECONDS, as (time, event), in arrival order."""

    def __init__(self, bus: Bus, *, window: float = WINDOW_SECONDS) -> None:
        self.bus = bus
        self.window = window
        self.horizon = clock.now().timestamp()  # nothing before this is known here
        self._events: deque[tuple[float, Event]] = deque()
        # When each event reached this process (the event loop's clock, time.monotonic()).
        self._arrivals: dict[str, float] = {}
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] = bus.subscribe(self._record)

    def _record(self, event: Event) -> None:  # on the bus's thread: quick
        at = _moment(event)
        with self._lock:
            self._events.append((at, event))
            self._arrivals[event.id] = time.monotonic()
            cutoff = at - self.window
            while self._events and self._events[0][0] < cutoff:
                old_at, old = self._events.popleft()
                self.horizon = max(self.horizon, old_at)
                self._arrivals.pop(old.id, None)

    def arrived(self, event_id: str) -> float | None:
        """When the event reached this process, on the event loop's clock."""
        return self._arrivals.get(event_id)

    def since(self, moment: float) -> list[Event] | None:
        """The events of `moment` (less the margin) onwards; None when this process cannot know
        them (it was not listening yet, or has forgotten them)."""
        start = moment - MARGIN_SECONDS
        with self._lock:
            if start < self.horizon:
                return None
            found = []
            for at, event in reversed(self._events):
                if at < start - DISORDER_SECONDS:
                    break
                if at >= start:
                    found.append(event)
        found.reverse()
        return found

    def close(self) -> None:
        self._unsubscribe()


def start(state: Any) -> RecentEvents:
    """The app's log of recent events, listening from now (the app's start)."""
    recent = RecentEvents(get_bus())
    state.live_recent = recent
    return recent


def stop(state: Any) -> None:
    recent: RecentEvents | None = getattr(state, "live_recent", None)
    if recent is not None:
        recent.close()
        state.live_recent = None


def arrived(state: Any, event: Event) -> float | None:
    recent: RecentEvents | None = getattr(state, "live_recent", None)
    return recent.arrived(event.id) if recent is not None else None


def missed(state: Any, moment: float | None) -> list[Event] | None:
    """What a page rendered at `moment` missed, or None if that cannot be known here."""
    recent: RecentEvents | None = getattr(state, "live_recent", None)
    if moment is None or recent is None or recent.bus is not get_bus():
        return None
    return recent.since(moment)


__all__ = ["MARGIN_SECONDS", "RecentEvents", "WINDOW_SECONDS", "arrived", "missed", "start", "stop"]
