"""Faults for the call hub's tests: tasks lost on the way to a worker (killed, or its message
lost), and webhooks that never reach the hub (the web process down: Twilio does not retry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import core.worker
from core.db import on_commit


class LostTasks:
    """Tasks with these names, enqueued while active, are dropped (kept in `lost` to replay)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.lost: list[Callable[[], Any]] = []

    def __call__(self, session: Any, callback: Callable[[], Any]) -> None:
        signature = getattr(callback, "__self__", None)
        name = signature.get("task") if signature is not None else None
        if name in self.names:
            self.lost.append(callback)
            return
        on_commit(session, callback)

    @contextmanager
    def dropping(self, *names: str) -> Iterator[LostTasks]:
        self.names = set(names)
        try:
            yield self
        finally:
            self.names = set()


@pytest.fixture
def lost_tasks(monkeypatch: pytest.MonkeyPatch) -> LostTasks:
    tasks = LostTasks()
    monkeypatch.setattr(core.worker, "on_commit", tasks)
    return tasks


@contextmanager
def hub_down(sim: Any) -> Iterator[None]:
    """Every webhook the carrier sends meanwhile fails (503) and is lost."""
    sim.transport, real = (lambda url, params, headers: (503, "")), sim.transport
    try:
        yield
    finally:
        sim.transport = real


@contextmanager
def webhooks_lost(sim: Any, path: str) -> Iterator[list[dict[str, str]]]:
    """Every webhook to `path` (a path on the hub, e.g. "/twilio/recording") the carrier sends
    meanwhile is lost (the hub never hears of it); the others arrive. Yields what was lost."""
    lost: list[dict[str, str]] = []
    real = sim.transport

    def transport(url: str, params: dict[str, str], headers: dict[str, str]) -> Any:
        if url.split("?")[0].endswith(path):
            lost.append(dict(params))
            return 503, ""
        return real(url, params, headers)

    sim.transport = transport
    try:
        yield lost
    finally:
        sim.transport = real
