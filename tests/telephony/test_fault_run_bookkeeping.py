"""The fault run's bookkeeping: a process of the deployment that ends although nobody killed it is
seen (the worker giving up after a Redis restart showed only through its effects), and a callback
counts as owed only once the hub promised it to the caller; an offer to a caller who hung up counts
from when the hub could have known."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from benchmarks.fault_checks import could_have_known
from benchmarks.fault_run import exited_by_themselves


@dataclass
class FakeProcess:
    code: int | None = None
    process: SimpleNamespace = field(default_factory=SimpleNamespace)

    def __post_init__(self) -> None:
        self.process.returncode = self.code

    def alive(self) -> bool:
        return self.code is None


def test_a_process_that_exits_unasked_is_reported_once() -> None:
    loopback = SimpleNamespace(processes={"web1": FakeProcess(), "worker1": FakeProcess(code=1)})
    seen: set[str] = set()

    assert exited_by_themselves(loopback, set(), seen) == [("worker1", 1)]
    assert exited_by_themselves(loopback, set(), seen) == []


def test_a_process_the_run_killed_is_not_reported() -> None:
    loopback = SimpleNamespace(processes={"beat": FakeProcess(code=-9)})

    assert exited_by_themselves(loopback, {"beat"}, set()) == []


def test_a_callback_counts_as_promised_only_once_the_caller_heard_it_confirmed() -> None:
    from benchmarks.fault_run import promised_callback
    from telephony.ivr_texts import DEFAULT_TEXTS

    calls = {"confirmed": SimpleNamespace(heard=["[enqueued in support]", DEFAULT_TEXTS["en-US"]["callback_confirm"]]),
             "connected": SimpleNamespace(heard=["[enqueued in support]", "[joined room-1]"]),
             "failed": SimpleNamespace(heard=["[an application error has occurred]"])}
    sim = SimpleNamespace(lock=threading.Lock(), calls=calls)

    assert promised_callback(sim, "confirmed")
    assert not promised_callback(sim, "connected")
    assert not promised_callback(sim, "failed")


END = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
ALIVE = timedelta(seconds=10)


def _at(seconds: float) -> datetime:
    return END + timedelta(seconds=seconds)


def test_a_hang_up_is_known_from_its_news_however_late_the_carrier_delivered_it() -> None:
    # Heard 3 s before hanging up; the `completed` held back 5 s: known at the news (+5), not
    # at the hang-up, nor 10 s after the last wait (+7).
    events = [("wait", "in-progress", _at(-3)), ("status", "completed", _at(5)), ("queue-result", "hangup", _at(6))]
    assert could_have_known(events, end=END, alive=ALIVE) == _at(5)


def test_a_hang_up_whose_news_was_lost_is_known_once_the_caller_was_silent_too_long() -> None:
    events = [("menu", "in-progress", _at(-20)), ("wait", "in-progress", _at(-8)), ("checked", None, _at(-4))]
    assert could_have_known(events, end=END, alive=ALIVE) == _at(6)  # the check at Twilio counts as heard
    assert could_have_known([("wait", "in-progress", _at(-8))], end=END, alive=ALIVE) == _at(2)


def test_what_arrives_after_the_hang_up_is_no_sign_of_life_and_nothing_heard_means_the_hang_up() -> None:
    # A status held back from before the hang-up and delivered after it says nothing new.
    events = [("wait", "in-progress", _at(-9)), ("status", "in-progress", _at(3))]
    assert could_have_known(events, end=END, alive=ALIVE) == _at(1)
    assert could_have_known([], end=END, alive=ALIVE) == END
