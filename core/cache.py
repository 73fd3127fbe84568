"""A few seconds' memory for what every incoming call reads and an administrator rarely
changes (IVR settings, a site's calendar), so a webhook answers in a couple of queries. Edits
made in this process clear it at once; other processes see them within `TTL_SECONDS`, plus the
one call that reloads.

An entry past its `TTL_SECONDS` is not dropped at once: for `STALE_SECONDS` more it is still
served to every caller but one, who reloads it. Without that, every webhook in flight when an
entry expires (one per worker thread, on every process) would miss together and each run the
same queries, which is a latency spike every few seconds under load and after every quiet
spell. Time comes from the injected clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from core import clock

T = TypeVar("T")
TTL_SECONDS = 5.0
STALE_SECONDS = 60.0


@dataclass(slots=True)
class _Entry:
    fresh_until: float
    stale_until: float
    value: Any
    reloading: bool = False


_entries: dict[Hashable, _Entry] = {}
_lock = threading.Lock()


def remembered(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    # Keyed by the engine's connection pool (held here, so never confused with a later one). Not
    # by the bind itself: `db.write_locked` gives each SQLite webhook a fresh option-engine over
    # the same pool. Not by the URL, which would be rendered on every call to hash it.
    full = (session.get_bind().engine.pool, key)
    now = clock.now().timestamp()
    with _lock:
        entry = _entries.get(full)
        if entry is not None and now < entry.stale_until:
            if now < entry.fresh_until or entry.reloading:
                return entry.value
            entry.reloading = True  # this caller reloads; the others keep the value meanwhile
        else:
            entry = None
    try:
        value = load()
    except BaseException:
        if entry is not None:
            with _lock:
                entry.reloading = False  # the next caller tries again
        raise
    with _lock:
        _entries[full] = _Entry(now + TTL_SECONDS, now + TTL_SECONDS + STALE_SECONDS, value)
    return value


def forget() -> None:
    with _lock:
        _entries.clear()
