"""The Celery app: after-commit enqueueing, idempotent tasks, sweeps and beat, the embedded
worker, a real worker process on Redis, and the heartbeat."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import signals
from celery.canvas import Signature
from sqlalchemy import select

from core import worker
from core.clock import FrozenClock
from core.config import Settings
from core.db import new_session
from core.tasks import heartbeat
from core.worker import (
    WorkerHeartbeat,
    build_beat_schedule,
    celery_app,
    configure_celery,
    enqueue,
    idempotent_task,
    last_heartbeat,
    record_heartbeat,
    register_sweep,
    start_embedded,
    worker_alive,
)
from tests.conftest import BROKER_URL, broker_only

# Celery warns when a worker starts as root, which is what CI containers do.
pytestmark = pytest.mark.filterwarnings("ignore::celery.platforms.SecurityWarning")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 20.0  # seconds a test waits on a real worker before failing

# What the test tasks saw, by token; the embedded worker runs them in this process.
_seen: dict[str, threading.Event] = {}


@idempotent_task(name="tests.core.record")
def record(token: str) -> None:
    _seen.setdefault(token, threading.Event()).set()


@register_sweep("tests.core.sweep", every_seconds=45)
def idle_sweep() -> None:
    """Registered to show up in the schedule; finds nothing to do."""


def seen(token: str) -> threading.Event:
    return _seen.setdefault(token, threading.Event())


@pytest.fixture
def queue(settings: Settings) -> Iterator[str]:
    """The app configured for this test, on a queue of its own so parallel runs sharing a
    Redis never take each other's tasks; the queue is deleted afterwards."""
    name = f"hotline-test-{uuid.uuid4().hex[:12]}"
    configure_celery(settings, queue=name)
    yield name
    with celery_app.connection_for_write() as connection:
        declared = celery_app.amqp.queues[name].bind(connection.default_channel)
        declared.declare()  # a channel deletes only the bindings it knows of
        declared.delete()
    configure_celery(settings.model_copy(update={"broker_url": None}))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Messages that would have gone to the broker."""
    messages: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(Signature, "apply_async", lambda self, *a, **k: messages.append((self.task, tuple(self.args))))
    return messages


# Configuration -------------------------------------------------------------------------------


def test_configure_celery_follows_settings(settings: Settings, queue: str) -> None:
    conf = celery_app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.enable_utc and conf.timezone == "UTC"
    assert "core.tasks" in conf.include
    assert celery_app.amqp.default_queue.name == queue
    with celery_app.pool.acquire() as connection:
        assert connection.transport.driver_type == ("redis" if BROKER_URL else "memory")

    # Reconfiguring replaces what Celery cached on first use.
    configure_celery(settings.model_copy(update={"broker_url": None}), queue="elsewhere")
    assert celery_app.amqp.default_queue.name == "elsewhere"
    with celery_app.pool.acquire() as connection:
        assert connection.transport.driver_type == "memory"


def test_only_idempotent_tasks_ack_late(queue: str) -> None:
    assert record.acks_late and record.reject_on_worker_lost and record.idempotent

    @celery_app.task(name="tests.core.plain")
    def plain() -> None: ...

    assert not plain.acks_late


# Enqueueing after commit -----------------------------------------------------------------------


def test_enqueue_sends_only_after_commit(session, sent) -> None:  # type: ignore[no-untyped-def]
    session.execute(select(1))
    enqueue(session, record, "a")
    assert sent == []

    session.commit()
    assert sent == [("tests.core.record", ("a",))]


def test_enqueue_sends_nothing_on_rollback(session, sent) -> None:  # type: ignore[no-untyped-def]
    session.execute(select(1))
    enqueue(session, record, "a")
    session.rollback()
    session.execute(select(1))
    session.commit()

    assert sent == []


def test_enqueue_takes_a_signature(session, sent) -> None:  # type: ignore[no-untyped-def]
    session.execute(select(1))
    enqueue(session, record.s("b").set(countdown=5))
    session.commit()

    assert sent == [("tests.core.record", ("b",))]


def test_enqueue_refuses_objects_as_arguments(session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="ids and plain values"):
        enqueue(session, record, object())


# Sweeps and beat -------------------------------------------------------------------------------


def test_beat_schedule_contains_registered_sweeps() -> None:
    schedule = build_beat_schedule()

    assert schedule["core.heartbeat"]["schedule"] == timedelta(seconds=30)
    assert schedule["tests.core.sweep"] == {
        "task": "tests.core.sweep",
        "schedule": timedelta(seconds=45),
        "options": {"expires": 45},
    }
    assert idle_sweep.acks_late  # a sweep is an idempotent task


def test_sweep_scheduler_makes_every_sweep_due_at_start(queue: str) -> None:
    scheduler = worker.SweepScheduler(app=celery_app)

    assert {"core.heartbeat", "tests.core.sweep"} <= set(scheduler.schedule)
    assert "celery.backend_cleanup" not in scheduler.schedule
    assert all(scheduler.schedule[name].is_due()[0] for name in worker.SWEEPS)


def test_a_stop_request_landing_while_beat_sends_a_task_stops_beat(queue: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Beat's signal handler raises SystemExit; arriving inside a send, the send fails with
    # another error (seen: "I/O operation on closed file") which Celery logged before going on.
    scheduler = worker.SweepScheduler(app=celery_app)
    entry = scheduler.schedule["core.heartbeat"]

    def interrupted_send(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            raise SystemExit()
        except SystemExit:
            raise ValueError("I/O operation on closed file.") from None

    monkeypatch.setattr(celery_app.tasks["core.heartbeat"], "apply_async", interrupted_send)
    with pytest.raises(SystemExit):
        scheduler.apply_entry(entry)

    def broken_send(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("the broker refused")

    monkeypatch.setattr(celery_app.tasks["core.heartbeat"], "apply_async", broken_send)
    scheduler.apply_entry(entry)  # an ordinary failure is logged and beat goes on


def test_a_stop_request_landing_while_beat_renews_its_lock_stops_beat(queue: str) -> None:
    # The same, inside the beat lock's Redis call (seen in CI: beat exited 1 with a traceback
    # instead of stopping cleanly).
    from core.beat_lock import BeatLock, Holding

    class InterruptedLock(BeatLock):
        renew_seconds = retry_seconds = 1.0

        def __init__(self, error: Exception | None) -> None:
            self.error_to_raise = error

        def hold(self) -> Holding:
            if self.error_to_raise is None:
                return Holding.OTHER
            try:
                raise SystemExit()
            except SystemExit:
                raise self.error_to_raise from None

        def release(self) -> None:
            pass

        def describe(self) -> str:
            return "test lock"

    scheduler = worker.SweepScheduler(app=celery_app)
    scheduler.lock = InterruptedLock(ValueError("I/O operation on closed file."))
    with pytest.raises(SystemExit):
        scheduler.tick()
    scheduler.lock = InterruptedLock(None)
    assert scheduler.tick() == 1.0  # another beat holds it: stand by


# The embedded worker -------------------------------------------------------------------------


def test_embedded_worker_runs_tasks_enqueued_after_commit(settings: Settings, session, queue: str) -> None:  # type: ignore[no-untyped-def]
    rolled_back, committed = uuid.uuid4().hex, uuid.uuid4().hex
    embedded = start_embedded(settings, beat=False, queue=queue)
    try:
        session.execute(select(1))
        enqueue(session, record, rolled_back)
        session.rollback()
        session.execute(select(1))
        enqueue(session, record, committed)
        session.commit()

        assert seen(committed).wait(DEADLINE)
        # One worker takes one queue in order: had the rolled-back task been sent, it would
        # have run before the committed one.
        assert not seen(rolled_back).is_set()
    finally:
        embedded.stop()
    assert not embedded.running


def test_embedded_beat_runs_heartbeat_when_it_starts(settings: Settings, queue: str, clock: FrozenClock) -> None:
    beat_done = threading.Event()

    def on_postrun(sender: Any = None, **_kwargs: Any) -> None:
        if sender is not None and sender.name == "core.heartbeat":
            beat_done.set()

    signals.task_postrun.connect(on_postrun, weak=False)
    embedded = start_embedded(settings, queue=queue, hostname=f"embedded-{queue}@test")
    try:
        assert beat_done.wait(DEADLINE)
    finally:
        embedded.stop()
        signals.task_postrun.disconnect(on_postrun)

    with new_session() as session:
        row = session.scalars(select(WorkerHeartbeat)).one()
    assert row.name == f"embedded-{queue}@test"
    assert row.last_seen == clock.now()  # the worker thread reads the test's clock


# A real worker process on Redis ------------------------------------------------------------


def _worker_env(settings: Settings, var_dir: Path) -> dict[str, str]:
    assert settings.secret_key and settings.blind_index_key and BROKER_URL
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        HOTLINE_MODE="embedded",
        HOTLINE_VAR_DIR=str(var_dir),
        HOTLINE_DATABASE_URL=settings.effective_database_url,
        HOTLINE_BROKER_URL=BROKER_URL,
        HOTLINE_SECRET_KEY=settings.secret_key.get_secret_value(),
        HOTLINE_DATA_KEYS=",".join(settings.data_key_values()),
        HOTLINE_BLIND_INDEX_KEY=settings.blind_index_key.get_secret_value(),
        HOTLINE_LOG_JSON="false",
    )
    return env


@broker_only()
def test_worker_process_runs_heartbeat_from_redis(settings: Settings, session, queue: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    log_path = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "core.worker:celery_app", "worker",
        "--pool=solo", "-c", "1", "-Q", queue, "-n", name, "--loglevel=INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=_worker_env(settings, tmp_path / "worker-var"), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        session.execute(select(1))
        enqueue(session, heartbeat)
        session.commit()

        deadline = time.monotonic() + DEADLINE
        row = None
        while row is None and time.monotonic() < deadline and process.poll() is None:
            with new_session() as check:
                row = check.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.name == name)).one_or_none()
            if row is None:
                time.sleep(0.1)  # waiting on the other process, not on time
        assert row is not None, f"no heartbeat from the worker:\n{log_path.read_text()}"
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=DEADLINE)
    assert process.returncode == 0, log_path.read_text()


# Heartbeat -------------------------------------------------------------------------------------


def test_record_heartbeat_upserts_one_row_per_worker(session, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    assert last_heartbeat(session) is None and not worker_alive(session)

    record_heartbeat(session, name="w1@host")
    clock.advance(seconds=30)
    record_heartbeat(session, name="w1@host")
    record_heartbeat(session, name="w2@host")
    session.commit()

    rows = {row.name: row.last_seen for row in session.scalars(select(WorkerHeartbeat))}
    assert rows == {"w1@host": clock.now(), "w2@host": clock.now()}
    assert last_heartbeat(session) == clock.now()
    assert worker_alive(session)

    clock.advance(minutes=5)
    assert not worker_alive(session)


def test_heartbeat_task_outside_a_worker_uses_the_host_name(session, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    heartbeat.apply()  # run here, with no worker name in the request

    assert session.scalars(select(WorkerHeartbeat.name)).all() == [socket.gethostname()]
    assert last_heartbeat(session) == clock.now()


def test_a_message_that_cannot_be_settled_is_left_to_redelivery_but_a_broken_pipe_still_reconnects() -> None:
    def dead_channel() -> None:
        raise AttributeError("'NoneType' object has no attribute 'hostname'")  # kombu, channel gone

    def broken_pipe() -> None:
        raise BrokenPipeError()

    worker._settle_quietly(dead_channel)  # logged, not raised: the worker goes on
    with pytest.raises(BrokenPipeError):
        worker._settle_quietly(broken_pipe)  # Celery treats it as a lost connection and reconnects
