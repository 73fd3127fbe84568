"""The embedded default at 10x the demo's traffic, every role's pages in use: SQLite lock waits, errors.

Starts `hotline demo` (the embedded default: SQLite, in-process worker and beat, the carrier
simulator and its simulated agents) on a fresh database, places calls at 10x the demo's rate,
and signs in every demo user, who reads their pages in a loop; the agent changes presence, the
supervisor adds customers through the API (writes of every kind: webhooks, tasks, sweeps, the
simulated agents, forms, the API). Prints the SQLite write lock's waits and holds (ms), any
request that failed (5xx), any error logged, and the calls placed and answered.
Target: 0 errors, p99 lock wait under 100 ms, for 10 minutes (`--seconds 600`).

    python -m benchmarks.bench_embedded --seconds 60
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import exit_on_sigterm, percentile

ROLE_PAGES = {
    "admin": ["/", "/admin", "/admin/people", "/admin/skills", "/admin/sla", "/admin/scorecards", "/admin/lifecycle",
              "/admin/backups", "/notices", "/account/tokens"],
    "head": ["/", "/tickets", "/customers", "/reports", "/reports/complaints", "/shifts", "/notices"],
    "boss": ["/", "/floor", "/calls", "/tickets", "/customers", "/authorisations", "/reports", "/reports/customers",
             "/shifts/rosters"],
    "lead": ["/", "/floor", "/desktop", "/calls", "/tickets", "/duty", "/shifts", "/shifts/rosters",
             "/shifts/templates", "/qa/coverage"],
    "qa": ["/", "/qa", "/calls", "/qa/coverage", "/reports"],
    "agent1": ["/", "/desktop", "/calls", "/tickets", "/customers", "/shifts", "/qa/mine", "/notices"],
}
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()[:200]}")


def _signed_in(url: str, username: str, password: str):  # type: ignore[no-untyped-def]
    import httpx

    client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    page = client.get("/signin")
    token = _META_CSRF.search(page.text)
    assert token, "no csrf token on /signin"
    answer = client.post("/signin", data={"username": username, "password": password, "csrf_token": token.group(1)})
    assert answer.status_code == 303, answer.text[:300]
    home = client.get("/")
    token = _META_CSRF.search(home.text)
    assert token
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def _person(client, username: str, stop: threading.Event, pause: float,  # type: ignore[no-untyped-def]
            results: dict[str, list], lock: threading.Lock) -> None:  # type: ignore[type-arg]
    n = 0
    while not stop.is_set():
        path = ROLE_PAGES[username][n % len(ROLE_PAGES[username])]
        method, data = "GET", None
        if username == "agent1" and n % 5 == 4:
            method, path, data = "POST", "/desktop/presence", {"state": "away" if n % 10 == 4 else "available"}
        started = time.perf_counter()
        try:
            if method == "GET":
                response = client.get(path)
            elif username == "boss":
                response = client.post(path, json=data)
            else:
                response = client.post(path, data=data)
            status = response.status_code
        except Exception as exc:  # noqa: BLE001
            status, response = 599, None
            with lock:
                results["errors"].append(f"{username} {method} {path}: {exc!r}"[:200])
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            results["pages"].append(elapsed)
            if status >= 500:
                results["errors"].append(f"{username} {method} {path}: HTTP {status}")
            elif status in (401, 403, 404) and method == "GET":  # a page this role cannot open: the list is wrong
                results["errors"].append(f"{username} {method} {path}: HTTP {status} (not this role's page)")
        n += 1
        if username == "boss" and n % 4 == 0:
            _add_customer(client, n, results, lock)
        stop.wait(pause)


def _add_customer(client, n: int, results: dict[str, list], lock: threading.Lock) -> None:  # type: ignore[no-untyped-def,type-arg]
    body = {"name": f"Bench Customer {n}", "phones": [{"number": f"+86137{os.getpid() % 1000:03d}{n:05d}"}],
            "consent_purposes": ["service"], "consent_method": "phone"}
    started = time.perf_counter()
    try:
        status = client.post("/api/v1/customers", json=body).status_code
    except Exception as exc:  # noqa: BLE001
        status = 599
        with lock:
            results["errors"].append(f"POST /api/v1/customers: {exc!r}"[:200])
    with lock:
        results["api"].append((time.perf_counter() - started) * 1000)
        if status >= 500:
            results["errors"].append(f"POST /api/v1/customers: HTTP {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the run (target: 600)")
    parser.add_argument("--port", type=int, default=8390)
    parser.add_argument("--rate", type=float, default=30.0, help="calls a minute (the demo places 3)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between one person's page loads")
    parser.add_argument("--history", type=int, default=0,
                        help="calls a day in the demo's week of history first (the demo plays 8; 0 skips it)")
    args = parser.parse_args()
    exit_on_sigterm()  # the hub's files go with the temporary directory
    with tempfile.TemporaryDirectory() as var:
        run(args, Path(var))


def run(args: argparse.Namespace, var: Path) -> None:
    os.environ.setdefault("HOTLINE_VAR_DIR", str(var))
    os.environ.setdefault("HOTLINE_LOG_LEVEL", "WARNING")
    from core import db
    from hotline import demo

    errors_logged = _ErrorLog()
    logging.getLogger().addHandler(errors_logged)
    hub = demo.Demo(port=args.port, calls_per_minute=args.rate, talk_seconds=(10, 30),
                    history_calls_per_day=args.history)
    hub.prepare()
    server = threading.Thread(target=hub.server.run, name="bench-server", daemon=True)
    server.start()
    hub.start_traffic()
    url = hub.settings.public_url
    gate = db.writer_gate(db.get_engine())
    assert gate is not None, "the benchmark measures the embedded default (SQLite)"
    deadline = time.monotonic() + 60
    while not (hub.supervisor and hub.supervisor.last_beat) and time.monotonic() < deadline:
        time.sleep(0.2)
    # Everyone signs in first (the password check holds no write lock; a sign-in is once a shift
    # per person); the run measures the use that follows.
    clients = {u: _signed_in(url, u, demo.DEMO_PASSWORD) for u in ROLE_PAGES}
    gate.reset()
    gate.trace = True
    results: dict[str, list] = {"pages": [], "api": [], "errors": []}  # type: ignore[type-arg]
    lock, stop = threading.Lock(), threading.Event()
    people = [threading.Thread(target=_person, args=(clients[u], u, stop, args.pause, results, lock), daemon=True)
              for u in ROLE_PAGES]
    started = time.monotonic()
    for person in people:
        person.start()
    time.sleep(args.seconds)
    stop.set()
    for person in people:
        person.join(60)
    elapsed = time.monotonic() - started
    figures = gate.figures()
    long_holds = sorted(gate.long_holds.items(), key=lambda kv: -kv[1][0] * kv[1][1])[:8]
    health = hub.supervisor.health() if hub.supervisor else {}
    calls = _calls()
    hub.stop()
    server.join(30)
    logging.getLogger().removeHandler(errors_logged)

    errors = results["errors"] + errors_logged.lines
    pages = results["pages"]
    print(f"embedded default under {args.rate:g} calls a minute (10x the demo) and {len(ROLE_PAGES)} people "
          f"reading their pages, {elapsed:.0f} s:")
    print(f"  calls placed {calls['placed']}, answered by an agent {calls['answered']}; "
          f"traffic thread restarts {health.get('restarts', '?')}")
    print(f"  SQLite writes {figures['writes']}: lock wait p50 {figures['wait_p50_ms']} ms, "
          f"p99 {figures['wait_p99_ms']} ms, max {figures['wait_max_ms']} ms; held p50 {figures['hold_p50_ms']} ms, "
          f"p99 {figures['hold_p99_ms']} ms, max {figures['hold_max_ms']} ms; timeouts {figures['timeouts']}")
    if pages:
        print(f"  page loads {len(pages)}: p50 {percentile(pages, 0.5):.0f} ms, p99 {percentile(pages, 0.99):.0f} ms; "
              f"customer API posts {len(results['api'])}"
              + (f": p99 {percentile(results['api'], 0.99):.0f} ms" if results["api"] else ""))
    if long_holds:
        print(f"  write lock held {gate.LONG_HOLD_MS:g} ms or more, begun at (count, longest ms):")
        for where, (count, longest) in long_holds:
            print(f"    {count} x {where} (max {longest} ms)")
    print(f"  errors {len(errors)}" + (":" if errors else ""))
    for line, count in Counter(errors).most_common(10):
        print(f"    {count} x {line}")
    met = not errors and figures["wait_p99_ms"] < 100
    print(f"  target 0 errors and p99 lock wait < 100 ms: {'met' if met else 'NOT met'}")


def _calls() -> dict[str, int]:
    from sqlalchemy import func, select

    from core.db import session_scope
    from telephony.models import Call

    with session_scope(reader=True) as session:
        placed = session.scalar(select(func.count()).select_from(Call).where(Call.leg == "caller")) or 0
        answered = session.scalar(select(func.count()).select_from(Call).where(
            Call.leg == "agent", Call.status.in_(("in-progress", "completed")))) or 0
    return {"placed": placed, "answered": answered}


if __name__ == "__main__":
    main()
