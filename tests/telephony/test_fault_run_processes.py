"""The fault run notices a process of the deployment that ends although nobody killed it (the
worker giving up after a Redis restart went unseen: only its effects showed, as violations)."""

from __future__ import annotations

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
