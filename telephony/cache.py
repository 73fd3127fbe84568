"""A few seconds' memory for what every incoming call reads and an administrator rarely
changes (IVR settings, a site's calendar), so a webhook answers in a couple of queries. Edits
made in this process clear it at once; other processes see them within `TTL_SECONDS`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
TTL_SECONDS = 5.0
_entries: dict[Hashable, tuple[float, Any]] = {}
_lock = threading.Lock()


def remembered(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    # Keyed by the engine's connection pool (held here, so never confused with a later one). Not
    # by the bind itself: `db.write_locked` gives each SQLite webhook a fresh option-engine over
    # the same pool. Not by the URL, which would be rendered on every call to hash it.
    full = (session.get_bind().pool, key)
    now = time.monotonic()
    with _lock:
        hit = _entries.get(full)
    if hit is not None and hit[0] > now:
        return hit[1]  # type: ignore[no-any-return]
    value = load()
    with _lock:
        _entries[full] = (now + TTL_SECONDS, value)
    return value


def forget() -> None:
    with _lock:
        _entries.clear()
