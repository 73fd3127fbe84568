"""Keeping a claim while its work runs. A worker claims a row for a while (a lease: the time
the claim lapses, so that a worker that dies lets it go and a sweep takes the work); a worker
that lives renews it in a thread of its own for as long as the work goes on, so the lease can
be short without a slow piece of work being taken over and done twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType

from core import clock

__all__ = ["LeaseKeeper"]

log = logging.getLogger("hotline.leases")


class LeaseKeeper:
    """`with LeaseKeeper(renew, every=...): work()` calls `renew()` every `every` (by core.clock)
    while the work runs. `renew` returns whether the claim is still this worker's; once it is not
    (taken by another after a lapse, or ended by the work itself), renewals stop and `lost` says
    so. A renewal that fails (the database away a moment) is tried again at the next beat."""

    def __init__(self, renew: Callable[[], bool], *, every: timedelta, name: str) -> None:
        self.renew, self.every, self.name = renew, every, name
        self.lost = False
        self.renewals = 0
        self._next = clock.now() + every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._next = clock.now() + self.every  # from the claim, not from when the thread starts
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        # Not joined: a renewal in flight may wait for the database that the work's own open
        # transaction holds (SQLite has one writer). Whatever the work wrote next ends the claim
        # (a renewal only extends the lease it last set), so a late renewal changes nothing.
        self._stop.set()

    def _run(self) -> None:
        while not clock.wait_until(self._stop, self._next):
            self._next = clock.now() + self.every
            try:
                held = self.renew()
            except Exception:  # noqa: BLE001 - the lease still runs; the next beat tries again
                log.warning("could not renew the claim on %s", self.name, exc_info=True)
                continue
            if not held:
                self.lost = not self._stop.is_set()
                if self.lost:
                    log.warning("the claim on %s lapsed and was taken before it was renewed", self.name)
                return
            self.renewals += 1
