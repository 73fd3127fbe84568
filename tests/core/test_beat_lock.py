"""One beat: the lock each beat must hold to send periodic tasks, on Redis, PostgreSQL and a
file; and two real beat processes on Redis, whose sent tasks are counted."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core import db
from core.beat_lock import FileBeatLock, Holding, PostgresBeatLock, RedisBeatLock, beat_lock_for
from core.config import Settings
from tests.conftest import BROKER_URL, broker_only, pg_only

REPO_ROOT = Path(__file__).resolve().parents[2]
HELD, OTHER, UNREACHABLE = Holding.HELD, Holding.OTHER, Holding.UNREACHABLE
DEADLINE = 60.0


def test_file_lock_is_held_by_one_at_a_time(tmp_path: Path) -> None:
    first, second = FileBeatLock(tmp_path / "beat.lock"), FileBeatLock(tmp_path / "beat.lock")
    assert first.hold() is HELD and first.hold() is HELD
    assert second.hold() is OTHER
    first.release()
    assert second.hold() is HELD and first.hold() is OTHER
    second.release()


@pg_only()
def test_postgres_lock_is_held_by_one_and_freed_when_its_connection_dies(settings: Settings) -> None:
    url = settings.effective_database_url
    name = f"test-{uuid.uuid4().hex[:8]}:beat"
    first, second = PostgresBeatLock(url, name=name), PostgresBeatLock(url, name=name)
    try:
        assert first.hold() is HELD and first.hold() is HELD
        assert second.hold() is OTHER
        pid = first.connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with db.get_engine().connect() as admin:  # the holder's host vanishes
            assert admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()
        assert first.hold() is UNREACHABLE  # it notices its connection broke, and sends nothing
        assert second.hold() is HELD
        assert first.hold() is OTHER
    finally:
        first.release()
        second.release()


@broker_only()
def test_redis_lock_is_held_by_one_renewed_and_released() -> None:
    assert BROKER_URL
    key = f"test-{uuid.uuid4().hex[:8]}:beat-lock"
    first = RedisBeatLock(BROKER_URL, key=key, ttl_seconds=30)
    second = RedisBeatLock(BROKER_URL, key=key, ttl_seconds=30)
    try:
        assert first.hold() is HELD and first.hold() is HELD
        assert 20_000 < first.client.pttl(key) <= 30_000
        assert second.hold() is OTHER
        first.client.set(key, "someone-else", px=30_000)  # the key expired and another beat took it
        assert first.hold() is OTHER
        first.client.delete(key)
        assert second.hold() is HELD
        first.release()  # not its lock: leaves it alone
        assert first.client.get(key) == second.token.encode()
    finally:
        second.release()
        first.client.close()


def _redis_server(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    from deploy.processes import wait_for_port

    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port, timeout=30, process=server, what="redis-server")
    return server


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_a_beat_that_cannot_reach_redis_says_so_and_not_that_another_beat_holds_the_lock(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Redis down (a Redis of the test's own, stopped): the lock cannot be asked, so nobody knows
    who holds it. Beat said "another beat holds the Redis key; standing by", sending an operator
    after a second beat that does not exist. It says the broker is unreachable, once, and that
    it holds the lock again when Redis is back."""
    from core.worker import SweepScheduler, celery_app
    from deploy.processes import free_port

    port = free_port()
    server = _redis_server(port, tmp_path)
    lock = RedisBeatLock(f"redis://127.0.0.1:{port}/0", key="q:beat-lock", ttl_seconds=30)
    scheduler = SweepScheduler(app=celery_app, lazy=True)  # no schedule: ticking sends nothing
    scheduler.lock = lock
    try:
        with caplog.at_level(logging.INFO, logger="hotline.worker"):
            scheduler.tick()
            assert scheduler.state == "holding"
            server.kill()
            server.wait(10)
            assert lock.hold() is UNREACHABLE
            caplog.clear()
            for _ in range(3):
                assert scheduler.tick() == lock.retry_seconds
            said = [r.getMessage() for r in caplog.records]
            assert scheduler.state == "unreachable"
            assert not any("another beat" in line or "standing by" in line for line in said), said
            assert len(said) == 1 and "cannot reach the Redis key q:beat-lock" in said[0], said
            assert "sending nothing until it answers" in said[0]

            server = _redis_server(port, tmp_path)  # back, empty: the key went with the old server
            caplog.clear()
            scheduler.tick()
            assert scheduler.state == "holding"
            [back] = [r for r in caplog.records]
            assert back.levelno == logging.WARNING and "holding the Redis key q:beat-lock" in back.getMessage()
    finally:
        lock.release()
        server.kill()
        server.wait(10)


def test_each_deployment_gets_its_lock(tmp_path: Path) -> None:
    assert isinstance(beat_lock_for(Settings(var_dir=tmp_path), namespace="q"), FileBeatLock)
    pg = Settings(var_dir=tmp_path, database_url="postgresql+psycopg://u@db/h")
    assert isinstance(beat_lock_for(pg, namespace="q"), PostgresBeatLock)
    both = Settings(var_dir=tmp_path, database_url="postgresql+psycopg://u@db/h", broker_url="redis://r:6379/3")
    lock = beat_lock_for(both, namespace="q")
    assert isinstance(lock, RedisBeatLock) and lock.key == "q:beat-lock"


# Two real beat processes ------------------------------------------------------------------------

BEAT = """
import sys
from core.config import Settings
from core.worker import celery_app, configure_celery
from hotline.worker import TASK_MODULES
configure_celery(Settings(), task_modules=TASK_MODULES, queue=sys.argv[1])
celery_app.start(["beat", "--loglevel", "INFO"])
"""


@pytest.fixture
def beat_queue(settings: Settings) -> Iterator[str]:
    import redis

    assert BROKER_URL
    name = f"hotline-beat-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(BROKER_URL)
    client.delete(name, f"{name}:beat-lock")
    client.close()


def _beat(settings: Settings, queue: str, log: Path) -> subprocess.Popen[bytes]:
    assert settings.secret_key and settings.blind_index_key and BROKER_URL
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=settings.effective_database_url, HOTLINE_BROKER_URL=BROKER_URL,
               HOTLINE_VAR_DIR=str(log.parent), HOTLINE_SECRET_KEY=settings.secret_key.get_secret_value(),
               HOTLINE_DATA_KEYS=",".join(settings.data_key_values()),
               HOTLINE_BLIND_INDEX_KEY=settings.blind_index_key.get_secret_value(), HOTLINE_LOG_JSON="false",
               HOTLINE_BEAT_LOCK_SECONDS="2")
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", BEAT, queue], cwd=REPO_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def _wait_for_line(process: subprocess.Popen[bytes], log: Path, needle: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while needle not in log.read_text(errors="replace"):
        assert process.poll() is None, f"beat exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {needle!r} in:\n{log.read_text()}"
        time.sleep(0.1)  # waiting on another process, not on time


def _sent(queue: str) -> Counter[str]:
    import redis

    client = redis.Redis.from_url(BROKER_URL or "")
    try:
        return Counter(json.loads(message)["headers"]["task"] for message in client.lrange(queue, 0, -1))
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Due when a beat starts, then not for minutes or hours: each is sent once per beat that sends.
SLOW_SWEEPS = ("qa.monthly_coaching", "qa.build_sampling", "tickets.evaluate_tiers",
               "scheduling.sweep_roster_jobs")


@broker_only()
def test_a_second_beat_sends_nothing_until_the_first_dies(settings: Settings, beat_queue: str,
                                                         tmp_path: Path) -> None:
    """Nobody consumes the queue: every task beat sends stays there to be counted. The hourly
    and daily sweeps are due once when a beat starts; two beats without the lock would send
    each twice."""
    first = _beat(settings, beat_queue, tmp_path / "beat-1.log")
    second = None
    try:
        _wait_for_line(first, tmp_path / "beat-1.log", "sending periodic tasks")
        second = _beat(settings, beat_queue, tmp_path / "beat-2.log")
        _wait_for_line(second, tmp_path / "beat-2.log", "standing by")
        # Two renewals of the 2 s lock go by with both beats running (waiting on them, not on time).
        _wait_for_line(first, tmp_path / "beat-1.log", "telephony.routing_sweep")
        deadline = time.monotonic() + DEADLINE
        while _sent(beat_queue)["telephony.callback_sweep"] < 4:  # a sweep of every second
            assert time.monotonic() < deadline
            time.sleep(0.1)
        sent = _sent(beat_queue)
        assert {name: sent[name] for name in SLOW_SWEEPS} == dict.fromkeys(SLOW_SWEEPS, 1)
        assert "telephony" not in (tmp_path / "beat-2.log").read_text()  # the standby sent nothing

        _stop(first, signal.SIGKILL)  # no goodbye: the lock must expire
        _wait_for_line(second, tmp_path / "beat-2.log", "sending periodic tasks")
        deadline = time.monotonic() + DEADLINE
        while min(_sent(beat_queue)[name] for name in SLOW_SWEEPS) < 2:  # the standby's first round
            assert time.monotonic() < deadline, (tmp_path / "beat-2.log").read_text()
            time.sleep(0.1)
        sent = _sent(beat_queue)
        assert {name: sent[name] for name in SLOW_SWEEPS} == dict.fromkeys(SLOW_SWEEPS, 2)  # once each
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
