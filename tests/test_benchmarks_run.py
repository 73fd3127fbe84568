"""Every benchmark in benchmarks/ still runs: its entry point, in a subprocess, at the smallest
sizes that still take its whole path, exits 0 and prints its figures' headings. Nothing here
looks at a figure's value (timings on a shared machine say nothing about the code).

On SQLite the benchmarks that need no server run (the router on SQLite, the embedded default,
the websocket fan-out with the in-process bus), and those that use no database at all (forecast,
roster, media), once; on PostgreSQL + Redis the server's side of each
(a throw-away database beside HOTLINE_TEST_DATABASE_URL, passed as HOTLINE_BENCH_DATABASE_URL;
the Redis bus), and the full-lifecycle run on the loopback deployment once (`deployment`)."""

from __future__ import annotations

import os
import pkgutil
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks
from deploy.loopback import NGINX
from deploy.processes import free_port
from tests.conftest import BROKER_URL, PG_URL

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")

needs_pg = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (HOTLINE_TEST_DATABASE_URL)")
needs_pg_and_redis = pytest.mark.skipif(not (PG_URL and BROKER_URL),
                                        reason="needs PostgreSQL and Redis (HOTLINE_TEST_*_URL)")
sqlite_run_only = pytest.mark.skipif(bool(PG_URL), reason="the embedded default (SQLite): measured in the SQLite run")
# No database in them: the PostgreSQL run would repeat the SQLite run's check exactly.
no_database = pytest.mark.skipif(bool(PG_URL), reason="uses no database: run once, in the SQLite run")
# Run by their own tests: the fault run's (tests/telephony/test_fault_run.py, `faults`).
ELSEWHERE = {"bench_faults"}


def run_benchmark(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 95) -> str:
    """`python -m benchmarks.<name> args` in a clean environment (no HOTLINE_ setting of this test
    run leaks in); its output, once it has exited 0. A run over `timeout` is stopped with SIGTERM,
    on which a benchmark drops its database and stops what it started."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    if PG_URL:
        environment["HOTLINE_BENCH_DATABASE_URL"] = PG_URL
    environment.update(env or {})
    process = subprocess.Popen([sys.executable, "-m", f"benchmarks.{name}", *args], cwd=ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        pytest.fail(f"{name} ran over {timeout:.0f} s; its output:\n{output[-4000:]}")
    assert process.returncode == 0, f"{name} exited {process.returncode}:\n{output[-4000:]}"
    return output


def assert_headings(output: str, *headings: str) -> None:
    missing = [heading for heading in headings if heading not in output]
    assert not missing, f"missing {missing} in:\n{output[-4000:]}"


COVERED = {"bench_audit", "bench_call_cpu", "bench_call_log", "bench_customers", "bench_embedded", "bench_forecast",
           "bench_lifecycle", "bench_media", "bench_qa", "bench_roster", "bench_routing", "bench_tickets",
           "bench_usage", "bench_webhook", "bench_websocket"}


def test_every_benchmark_has_a_run_here() -> None:
    present = {m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")}
    assert present - ELSEWHERE == COVERED


def test_the_list_names_every_benchmark() -> None:
    output = subprocess.run([sys.executable, "-m", "benchmarks"], cwd=ROOT, capture_output=True, text=True,
                            check=True, timeout=95).stdout
    assert_headings(output, *sorted(COVERED | ELSEWHERE))


@no_database
def test_forecast() -> None:
    assert_headings(run_benchmark("bench_forecast", "--days", "7"), "intervals:", "Erlang C:",
                    "Erlang A (patience 120 s):")


@no_database
def test_roster() -> None:
    assert_headings(run_benchmark("bench_roster", "1", "--agents", "10"), "problem:", "hotline CP-SAT:",
                    "pyworkforce MinRequiredResources:")


@no_database
def test_media() -> None:
    assert_headings(run_benchmark("bench_media", "--megabytes", "1", "--seeks", "5"), "clear: write", "sealed: write")


def test_routing() -> None:
    database = "postgresql" if PG_URL else "sqlite"
    output = run_benchmark("bench_routing", "--only", database, "--calls", "60", "--agents", "30", "--decisions", "3",
                           "--warm-up", "1", *(["--explain"] if PG_URL else []))
    assert_headings(output, f"{database}: 60 calls waiting", "decision + commit", "the decision (route)",
                    "its commit", "client CPU of a decision", "floor: 1-row write")
    if PG_URL:
        assert_headings(output, "database server CPU", "Execution Time")


# The next four start the whole app (or two); on CI's two shared cores that alone can take a minute.
@sqlite_run_only
@pytest.mark.timeout(240)
def test_embedded() -> None:
    output = run_benchmark("bench_embedded", "--seconds", "2", "--port", str(free_port()), "--pause", "0.5",
                           timeout=220)
    assert_headings(output, "embedded default under", "calls placed", "SQLite writes", "page loads", "errors",
                    "target 0 errors and p99 lock wait")


@sqlite_run_only
@pytest.mark.timeout(240)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Chromium at {CHROMIUM}")
def test_usage() -> None:
    output = run_benchmark("bench_usage", "--minutes", "0.4", "--history", "0", "--pause", "0.5",
                           "--roles", "lead", "agent1", "--port", str(free_port()), timeout=220,
                           env={"HOTLINE_CHROMIUM": CHROMIUM})
    assert_headings(output, "usage soak: 2 people (lead, agent1)", "pages visited", "forms submitted",
                    "language switches", "page time p50", "errors by kind")


@pytest.mark.timeout(240)
def test_websocket() -> None:
    args = ["--connections", "3", "--rate", "5", "--seconds", "1", "--agents", "4"]
    env = {}
    if PG_URL:
        args.append("--postgres")
    if BROKER_URL:
        env["HOTLINE_BROKER_URL"] = BROKER_URL
    output = run_benchmark("bench_websocket", *args, env=env, timeout=220)
    assert_headings(output, "websocket fan-out: 3 browsers", "PostgreSQL" if PG_URL else "SQLite",
                    "Redis bus" if BROKER_URL else "in-process bus", "event -> browser delay",
                    "web process memory", "web process CPU")


def test_audit() -> None:
    output = run_benchmark("bench_audit", "--entries", "300", "--rounds", "2", *([] if PG_URL else ["--sqlite-only"]))
    assert_headings(output, "sqlite: 300 entries seeded", "newest page", "by customer (details scanned)",
                    "whole-chain check", "(intact: True)", *(["postgresql: 300 entries seeded"] if PG_URL else []))


@needs_pg
def test_customers() -> None:
    assert_headings(run_benchmark("bench_customers", "--customers", "100", "--lookups", "5"),
                    "seeded 100 customers", "find_by_phone", "identify_caller", "plan:")


@needs_pg
def test_tickets() -> None:
    assert_headings(run_benchmark("bench_tickets", "--tickets", "200", "--customers", "50", "--rounds", "2"),
                    "search among 200 tickets", "by caller phone (blind index)", "open_from_call + commit",
                    "of which database time")


@needs_pg
def test_call_cpu() -> None:
    assert_headings(run_benchmark("bench_call_cpu", "--calls", "4", "--agents", "3"),
                    "seeded 3 agents", "calls: 4 placed", "webhook /voice", "CPU ms each", "SQL each",
                    "web process:")


@needs_pg
def test_call_log() -> None:
    assert_headings(run_benchmark("bench_call_log", "--calls", "200", "--rounds", "2"),
                    "call log among the calls", "agent: own calls", "center head: all", "report: supervisor",
                    "-- plan:")


@needs_pg
def test_qa() -> None:
    assert_headings(run_benchmark("bench_qa", "--calls", "200", "--teams", "2", "--agents-per-team", "2"),
                    "inspectors' monthly capacity", "monthly sampling, all 2 teams", "sampling again",
                    "one team at a time (the API's build), 2 teams", "monthly report, 4 agents",
                    "monthly report for one team")


@needs_pg
@pytest.mark.timeout(240)
def test_webhook() -> None:
    assert_headings(run_benchmark("bench_webhook", "--rate", "10", "--seconds", "1", "--rounds", "1", timeout=220),
                    "POST /twilio/voice on PostgreSQL", "round trip(s) per new call", "bare FastAPI hello",
                    "/twilio/voice -> TwiML", "median p99 over the rounds")


@pytest.mark.deployment
@pytest.mark.timeout(300)
@needs_pg_and_redis
@pytest.mark.skipif(not shutil.which("nginx") and not Path(NGINX).exists() and not os.environ.get("CI"),
                    reason="needs Debian's nginx (apt-get install nginx)")
def test_lifecycle() -> None:
    output = run_benchmark("bench_lifecycle", "--webs", "1", "--agents", "3", "--rates", "1", "--step-seconds", "2",
                           "--talk", "1", "--answer-delay", "0.2", "--drain", "20", "--browsers", "2", "--pumps", "2",
                           "--worker-threads", "2", "--broker", str(BROKER_URL), timeout=270)
    assert_headings(output, "starting the loopback deployment", "started and seeded 3 agents",
                    "1 new calls/s:", "webhook                 count", "highest new-call rate", "invariants:",
                    "recordings:", "floor browsers: 2 connected", "CPU over the")
