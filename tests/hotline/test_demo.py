"""`hotline demo` as a newcomer meets it: a banner that says who is who, a traffic thread that is
restarted when it dies and shows on /healthz, quiet webhook lines, and a second start after a
stop mid-call on which calls flow again."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core import clock as clock_module
from core import config, db
from deploy.processes import free_port
from hotline import demo, health
from tests.conftest import build_settings


@pytest.fixture(autouse=True)
def _webhook_lines_back() -> Iterator[None]:
    """The demo quiets webhook lines for its whole process; other tests read them (test_logs_flow)."""
    yield
    demo.quiet_webhook_lines(False)


def test_banner_names_each_users_role_and_the_simulator_page() -> None:
    settings = config.Settings(public_url="http://127.0.0.1:8000")
    text = demo.banner(settings, 3)
    assert "http://127.0.0.1:8000/simulator" in text
    for username, role in (("admin", "administrator"), ("head", "center head"), ("boss", "supervisor"),
                           ("lead", "team leader"), ("lead2", "team leader"), ("qa", "QA inspector"),
                           ("agent2", "agent")):
        line = next(line for line in text.splitlines() if line.split()[:1] == [username])
        assert role in line
    assert demo.DEMO_PASSWORD in text
    # The pages name people by display name (a swap with "Bot Liu", leave of "Sun Head"): the
    # banner says whose sign-in each is, so a swap can be confirmed as the colleague asked.
    for username, name in (("agent4", "Bot Liu"), ("head", "Sun Head"), ("lead", "Li Lead"), ("lead2", "Ma Lead")):
        line = next(line for line in text.splitlines() if line.split()[:1] == [username])
        assert name in line
    # Two team leaders: one writes the day's handover, the other accepts it.
    assert "writes the handover" in next(line for line in text.splitlines() if line.split()[:1] == ["lead"])
    assert "accepts lead's handover" in next(line for line in text.splitlines() if line.split()[:1] == ["lead2"])


def test_webhook_lines_go_to_debug_in_the_demo(caplog: pytest.LogCaptureFixture) -> None:
    demo.quiet_webhook_lines()
    access = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST", "/twilio/status", "1.1", 204)
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/desk", "1.1", 200)
        for path in ("/static/js/nav.js", "/healthz", "/jobs/7"):  # assets, probes and progress polls
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", path, "1.1", 200)
    assert [r.getMessage() for r in caplog.records] == ['127.0.0.1:5 - "GET /desk HTTP/1.1" 200']
    with caplog.at_level(logging.DEBUG):
        logging.getLogger().setLevel(logging.DEBUG)
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST", "/twilio/voice", "1.1", 200)
    assert caplog.records[-1].levelname == "DEBUG"


def test_a_crashed_traffic_loop_is_restarted_and_shows_on_healthz(client: TestClient) -> None:
    runs: list[int] = []
    crashed, running = threading.Event(), threading.Event()

    def loop(stop: threading.Event, beat: Callable[[], None]) -> None:
        runs.append(1)
        if len(runs) == 1:
            crashed.set()
            raise RuntimeError("You are on a call")
        beat()
        running.set()
        stop.wait()

    supervisor = demo.Supervisor("demo_traffic", loop, restart_after=0).start()
    try:
        assert crashed.wait(10) and running.wait(10)
        body = client.get("/healthz").json()
        assert body["checks"]["demo_traffic"]["ok"] is True
        assert body["checks"]["demo_traffic"]["restarts"] == 1
        assert body["checks"]["demo_traffic"]["last_error"] == "RuntimeError"
    finally:
        supervisor.stop()
    assert "demo_traffic" not in client.get("/healthz").json()["checks"]


def test_a_silent_or_dead_traffic_loop_makes_healthz_fail(client: TestClient) -> None:
    started = threading.Event()

    def loop(stop: threading.Event, beat: Callable[[], None]) -> None:
        started.set()
        stop.wait()  # never beats: stuck

    supervisor = demo.Supervisor("demo_traffic", loop, silent_after=0).start()
    try:
        assert started.wait(10)
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"]["demo_traffic"]["ok"] is False
    finally:
        supervisor.stop()


# The restart, on a real server -----------------------------------------------------------------



@pytest.fixture
def demo_env(tmp_path: Path, data_keys: list[str]) -> Iterator[tuple[str, int]]:
    """A fresh clone's embedded default (no database yet) on a port of its own, real time."""
    port = free_port()
    settings = build_settings(tmp_path / "var", f"sqlite:///{tmp_path / 'var' / 'hotline.db'}", data_keys,
                              public_url=f"http://127.0.0.1:{port}", broker_url=None)  # the embedded worker
    config.configure(settings)
    db.configure_engine(None)
    previous = clock_module.get_clock()
    clock_module.install(clock_module.SystemClock())
    yield str(tmp_path), port
    clock_module.install(previous)
    engine = db.get_engine()
    db.configure_engine(None)
    engine.dispose()
    config.configure(None)


def _until(condition: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)  # the server runs on real time: this waits for its threads, not for a clock
    return False


def _bots_on_calls(agents: dict[str, int]) -> list[str]:
    from sqlalchemy import select

    from telephony import presence
    from telephony.models.routing import AgentPresence

    # Read the rows as they are: get_presence makes a missing one, a write that a reader session
    # must not do (on SQLite it fails at once while the demo writes: "database is locked").
    with db.session_scope(reader=True) as session:
        on_call = set(session.scalars(select(AgentPresence.user_id).where(
            AgentPresence.user_id.in_([agents[u] for u in demo.BOTS]), AgentPresence.state == presence.ON_CALL)))
        return [u for u in demo.BOTS if agents[u] in on_call]


def _answered_since(mark: int) -> int:
    from sqlalchemy import func, select

    from telephony.models import Call

    with db.session_scope(reader=True) as session:
        return session.scalar(select(func.count()).select_from(Call).where(
            Call.id > mark, Call.leg == "agent", Call.status.in_(("in-progress", "completed")))) or 0


def _last_call_id() -> int:
    from sqlalchemy import func, select

    from telephony.models import Call

    with db.session_scope(reader=True) as session:
        return session.scalar(select(func.max(Call.id))) or 0


def _worked_tickets() -> int:
    from sqlalchemy import func, select

    from tickets.models import Ticket

    with db.session_scope(reader=True) as session:
        return session.scalar(select(func.count()).select_from(Ticket).where(Ticket.status != "new",
                                                                              Ticket.subject.is_not(None))) or 0


def _serve(run: demo.Demo) -> threading.Thread:
    run.prepare()
    thread = threading.Thread(target=run.server.run, name="demo-server", daemon=True)
    thread.start()
    run.start_traffic()
    return thread


@pytest.mark.timeout(400)
def test_a_second_start_after_a_stop_mid_call_gets_traffic_flowing(demo_env: tuple[str, int]) -> None:
    _, port = demo_env
    first = demo.Demo(port=port, calls_per_minute=40, talk_seconds=(60, 90), history_calls_per_day=0)
    server = _serve(first)
    try:
        assert _until(lambda: bool(_bots_on_calls(first.traffic.agents)), 150), "no simulated agent took a call"
    finally:
        first.stop()  # mid-call: the carrier's calls and the agents' legs are left as they are
        server.join(30)
    assert not server.is_alive()
    on_calls = _bots_on_calls(first.traffic.agents)
    assert on_calls, "the stop should leave an agent on a call"

    mark = _last_call_id()
    second = demo.Demo(port=port, calls_per_minute=40, talk_seconds=(2, 4), history_calls_per_day=0)
    server = _serve(second)
    try:
        assert _until(lambda: _answered_since(mark) > 0, 150), "no call answered after the restart"
        # A simulated agent who hangs up writes up the call's ticket in wrap-up, as a person would.
        assert _until(lambda: _worked_tickets() > 0, 120), "no simulated agent worked a ticket"
        checks = health.healthz()
        import json

        traffic = json.loads(checks.body)["checks"]["demo_traffic"]
        assert traffic["ok"] is True and traffic["restarts"] == 0
        assert not _bots_on_calls(second.traffic.agents) or _answered_since(mark) > 0
    finally:
        second.stop()
        server.join(30)


# What a newcomer's terminal shows ------------------------------------------------------------

@pytest.mark.timeout(180)
def test_a_demo_start_prints_the_banner_and_no_warning(tmp_path: Path) -> None:
    """`make run` on a fresh clone (no settings at all; the process's user may be root, as in a
    container): the banner and the hub's lines, but no warning from Celery about privileges,
    none from kombu about a missing host, and no WARNING or ERROR line (beat taking its lock at
    start is the usual case, not news)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "PYTHONWARNINGS"))}
    env["HOTLINE_VAR_DIR"] = str(tmp_path / "var")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "demo", "--port", str(port), "--calls-per-minute", "0",
             "--history-calls-per-day", "0"],
            cwd=Path(__file__).resolve().parents[2], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def shown() -> str:
            return log.read_text(errors="replace")

        # Started: the carrier runs and beat has taken its lock (both after every warning at start).
        assert _until(lambda: "carrier simulator running" in shown() and "sending periodic tasks" in shown(), 150), \
            shown()[-3000:]
        text = shown()
    finally:
        process.terminate()
        process.wait(30)
    assert "Hotline demo at" in text and "/simulator" in text
    for alarming in ("SecurityWarning", "superuser privileges", "No hostname was supplied", " WARNING ", " ERROR ",
                     "Traceback"):
        assert alarming not in text, f"{alarming!r} in the demo's output:\n{text[-3000:]}"


def _calls_in(database: Path) -> int:
    import sqlite3

    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM calls").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_demo_stopped_mid_traffic_stops_quietly(tmp_path: Path, stop_signal: int) -> None:
    """The finding: Ctrl+C (or SIGTERM) on `make run` logged about 13 ConnectError / HTTP 599
    warnings, the simulated carrier still posting webhooks to a server that had shut down. The
    traffic stops first, then the server: no warning, error or traceback after the signal."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "PYTHONWARNINGS"))}
    env["HOTLINE_VAR_DIR"] = str(tmp_path / "var")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "demo", "--port", str(port), "--calls-per-minute", "120",
             "--history-calls-per-day", "0", "--language", "en"],
            cwd=Path(__file__).resolve().parents[2], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def shown() -> str:
            return log.read_text(errors="replace")

        assert _until(lambda: "carrier simulator running" in shown(), 150), shown()[-3000:]
        # Calls flowing: the carrier posts webhooks when the signal comes.
        assert _until(lambda: _calls_in(tmp_path / "var" / "hotline.db") >= 4, 60), shown()[-3000:]
        before = len(shown())
        process.send_signal(stop_signal)
        assert process.wait(60) == 0  # a clean stop, whichever the signal
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    after = shown()[before:]
    for alarming in ("WARNING", "ERROR", "ConnectError", "599", "Traceback", "demo traffic step failed"):
        assert alarming not in after, f"{alarming!r} after the stop:\n{after[-3000:]}"
