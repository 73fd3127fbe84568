"""The fault run's bookkeeping: a process of the deployment that ends although nobody killed it is
seen (the worker giving up after a Redis restart showed only through its effects), and a callback
counts as owed only once the hub promised it to the caller."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

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
