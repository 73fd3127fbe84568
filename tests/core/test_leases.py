"""A claim kept while its work runs (core.leases), on the injected clock: renewed each time the
clock passes a renewal, stopped when the work ends or the claim is found taken."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from core.clock import FrozenClock
from core.leases import LeaseKeeper


def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]  # noqa: ANN001
    deadline = time.monotonic() + 10
    while not condition():  # waiting on the keeper's thread, not on time
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_lease_is_renewed_as_the_clock_passes_each_renewal(clock: FrozenClock) -> None:
    renewed: list[object] = []
    with LeaseKeeper(lambda: renewed.append(clock.now()) is None, every=timedelta(seconds=10), name="t") as keeper:
        clock.advance(seconds=9)
        clock.advance(seconds=1)
        _until(lambda: len(renewed) == 1, "not renewed after ten seconds")
        clock.advance(seconds=10)
        _until(lambda: len(renewed) == 2, "not renewed after twenty seconds")
    clock.advance(seconds=30)  # the work is over: no more renewals
    assert len(renewed) == 2 and keeper.renewals == 2 and not keeper.lost


def test_a_lease_found_taken_is_no_longer_renewed(clock: FrozenClock) -> None:
    calls: list[int] = []
    taken = threading.Event()
    with LeaseKeeper(lambda: calls.append(1) is None and not taken.is_set(), every=timedelta(seconds=10),
                     name="t") as keeper:
        taken.set()  # another worker took the claim after it lapsed
        clock.advance(seconds=10)
        _until(lambda: keeper.lost, "the lost claim was not noticed")
        clock.advance(seconds=30)
    assert calls == [1]


def test_a_renewal_that_fails_is_tried_again_at_the_next_beat(clock: FrozenClock) -> None:
    tries: list[int] = []

    def flaky() -> bool:
        tries.append(1)
        if len(tries) == 1:
            raise ConnectionError("the database is away a moment")
        return True

    with LeaseKeeper(flaky, every=timedelta(seconds=10), name="t") as keeper:
        clock.advance(seconds=10)
        _until(lambda: len(tries) == 1, "no first try")
        clock.advance(seconds=10)
        _until(lambda: keeper.renewals == 1, "not tried again")
    assert not keeper.lost
