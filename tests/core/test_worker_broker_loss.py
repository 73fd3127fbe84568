"""A worker that loses Redis while a late-acknowledged task runs keeps working once Redis is back:
a Redis of the test's own is killed and started again (nothing kept on disk, as in production
where the broker is restarted), and the worker must still take the next task."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.worker import celery_app, configure_celery, idempotent_task
from deploy.processes import free_port

pytestmark = [
    pytest.mark.filterwarnings("ignore::celery.platforms.SecurityWarning"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

DEADLINE = 20.0  # seconds a test waits on the worker or on Redis before failing

_started: dict[str, threading.Event] = {}
_release: dict[str, threading.Event] = {}
_done: dict[str, threading.Event] = {}


def _event(table: dict[str, threading.Event], token: str) -> threading.Event:
    return table.setdefault(token, threading.Event())


@idempotent_task(name="tests.core.held")
def held(token: str) -> None:
    """Runs until the test releases it, so the broker can go away while it is unacknowledged."""
    _event(_started, token).set()
    _event(_release, token).wait(DEADLINE)


@idempotent_task(name="tests.core.done")
def done(token: str) -> None:
    _event(_done, token).set()


class OwnRedis:
    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir = port, workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # waiting on the server to listen, not on time

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(DEADLINE)
            self.process = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.kill()


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE:.0f} s: {what}")
        time.sleep(0.02)  # waiting on the worker's threads, not on time


def test_worker_takes_tasks_again_after_redis_restarts_under_a_running_task(settings: Settings,
                                                                            redis: OwnRedis) -> None:
    queue = f"hotline-test-{uuid.uuid4().hex[:12]}"
    configure_celery(settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{redis.port}/0"}), queue=queue)
    ready = threading.Event()
    worker = celery_app.WorkController(
        hostname=f"{queue}@test", pool="threads", concurrency=2, loglevel="WARNING", without_heartbeat=True,
        without_mingle=True, without_gossip=True, ready_callback=lambda consumer: ready.set())
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            worker.start()
        except BaseException as exc:  # noqa: BLE001 - what ended the worker is the test's finding
            crashed.append(exc)

    thread = threading.Thread(target=run, name="broker-loss-worker", daemon=True)
    thread.start()
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        assert ready.wait(DEADLINE), "the worker did not start"
        held.delay(first)
        assert _event(_started, first).wait(DEADLINE)

        consumer = worker.consumer
        restarts = consumer.restart_count
        redis.kill()  # the held task's message is unacknowledged in the Redis that is gone
        _until(lambda: consumer.restart_count > restarts or not thread.is_alive(),
               "the worker noticed the lost broker")
        redis.start()
        _event(_release, first).set()

        done.delay(second)
        _until(lambda: _event(_done, second).is_set() or not thread.is_alive(), "the next task ran")
        assert thread.is_alive(), f"the worker stopped: {crashed!r}"
        assert _event(_done, second).is_set()
    finally:
        _event(_release, first).set()
        worker.stop(in_sighandler=False)
        thread.join(DEADLINE)
        configure_celery(settings.model_copy(update={"broker_url": None}))
