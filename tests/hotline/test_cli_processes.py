"""The long-running commands as an operator starts them, each in a process of its own:
`hotline serve` and `hotline demo` on a fresh clone's embedded default, `hotline worker` and
`hotline beat` against Redis (PostgreSQL + Redis runs), and their options."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from core.config import Settings
from deploy.processes import free_port
from hotline.cli import main
from tests.conftest import BROKER_URL

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 120.0




def _clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(values)
    return env


def _settings_env(settings: Settings) -> dict[str, str]:
    """The test's settings as the environment a deployment gives its processes."""
    return _clean_env(
        HOTLINE_DATABASE_URL=settings.effective_database_url, HOTLINE_BROKER_URL=settings.broker_url or "",
        HOTLINE_VAR_DIR=str(settings.var_dir), HOTLINE_LOG_JSON="false",
        HOTLINE_SECRET_KEY=settings.secret_key.get_secret_value() if settings.secret_key else "",
        HOTLINE_DATA_KEYS=",".join(settings.data_key_values()),
        HOTLINE_BLIND_INDEX_KEY=settings.blind_index_key.get_secret_value() if settings.blind_index_key else "",
    )


class _Process:
    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "hotline.cli", *args], cwd=cwd, env=env,
                                        stdout=self._out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STARTUP
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode} before {what}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {STARTUP:.0f} s:\n{self.text()}")
            time.sleep(0.05)  # waiting on another process, not on time

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._out.close()
        return self.process.returncode


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Iterator[Path]:
    """A folder to start the hub in with no settings at all: its data lands under ./var."""
    folder = tmp_path / "clone"
    folder.mkdir()
    yield folder


@pytest.mark.timeout(300)
def test_serve_on_the_embedded_default(fresh_clone: Path) -> None:
    port = free_port()
    served = _Process(["serve", "--host", "127.0.0.1", "--port", str(port)], cwd=fresh_clone,
                      env=_clean_env(HOTLINE_LOG_JSON="false"), log=fresh_clone / "serve.log")
    try:
        served.wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), "answer on /healthz")
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["ok"] is True and health["checks"]["broker"]["kind"] == "embedded"
        signin = httpx.get(f"http://127.0.0.1:{port}/signin", timeout=5)
        assert signin.status_code == 200 and "password" in signin.text
    finally:
        code = served.stop()
    assert code == 0, served.text()
    assert (fresh_clone / "var" / "hotline.db").exists()  # the embedded database, migrated on start


@pytest.mark.timeout(300)
def test_demo_with_its_options(fresh_clone: Path) -> None:
    port = free_port()
    demo = _Process(["demo", "--host", "127.0.0.1", "--port", str(port), "--calls-per-minute", "0",
                     "--history-calls-per-day", "0"], cwd=fresh_clone, env=_clean_env(), log=fresh_clone / "demo.log")
    try:
        demo.wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), "answer on /healthz")
        assert "About 0 calls a minute" in demo.text()
    finally:
        code = demo.stop()
    assert code == 0, demo.text()


def test_demo_refuses_more_history_than_it_can_play() -> None:
    result = CliRunner().invoke(main, ["demo", "--history-calls-per-day", "201"])
    assert result.exit_code == 2 and "201 is not in the range" in result.output


needs_redis = pytest.mark.skipif(not BROKER_URL, reason="`hotline worker` and `hotline beat` run on Redis")


@needs_redis
@pytest.mark.timeout(300)
def test_worker_with_its_options_and_celerys(settings: Settings, tmp_path: Path) -> None:
    from celery import Celery

    name = f"cli-{uuid.uuid4().hex[:8]}@test"
    queue = f"cli-test-{uuid.uuid4().hex[:8]}"
    worker = _Process(["worker", "--concurrency", "2", "--queues", queue, "-n", name, "--without-gossip",
                       "--without-mingle"], cwd=ROOT, env=_settings_env(settings),
                      log=tmp_path / "worker.log")
    control = Celery("cli-test", broker=settings.broker_url)
    try:
        worker.wait_for(lambda: bool(control.control.ping(destination=[name], timeout=1.0)), "answer to a ping")
        queues = control.control.inspect(destination=[name], timeout=5).active_queues() or {}
        assert [q["name"] for q in queues[name]] == [queue]
        stats = control.control.inspect(destination=[name], timeout=5).stats() or {}
        assert stats[name]["pool"]["max-concurrency"] == 2
    finally:
        control.close()
        code = worker.stop()
    assert code == 0, worker.text()


@needs_redis
@pytest.mark.timeout(300)
def test_beat_starts_and_stops(settings: Settings, tmp_path: Path) -> None:
    beat = _Process(["beat", "--max-interval", "1"], cwd=ROOT, env=_settings_env(settings), log=tmp_path / "beat.log")
    try:
        beat.wait_for(lambda: "sending periodic tasks" in beat.text(), "the beat lock taken")
    finally:
        code = beat.stop()
    assert code == 0, beat.text()
