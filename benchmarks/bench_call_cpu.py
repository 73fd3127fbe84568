"""CPU per call lifecycle, measured in one process and without needing a quiet machine: the
carrier simulator drives N complete calls (voice, menu, wait polls, the agent's leg and answer,
conference and its events, queue result, status and recording callbacks, wrap-up) through the
real app on PostgreSQL, on a frozen clock, with tasks run eagerly. Every request and every task
is a span timed with the process's CPU clock (`time.process_time()`), counted exclusive of the
spans nested in it, so the hub's webhooks, its tasks (a worker's CPU in production) and the
simulator's answers to the hub's REST requests are kept apart; the simulator's own driving is
outside every span. Prints CPU milliseconds and SQL statements per webhook kind and per task,
and the web's CPU per call. With --profile, the requests are profiled (cProfile) on one thread.

    .venv/bin/python -m benchmarks.bench_call_cpu [--calls 200] [--agents 2000] [--rate 5]
                                                  [--profile FILE] [--statements] [--sqlite]

CPU seconds and statement counts are what to compare between runs; wall-clock times on a shared
machine are not.
"""

from __future__ import annotations

import argparse
import contextvars
import cProfile
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import bench_database, bench_settings  # noqa: E402

ACCOUNT_SID = "AC" + "cc" * 16
AUTH_TOKEN = "bench-cpu-token"
HOTLINE = "+862160000000"
PUBLIC_URL = "http://hub.test"


class Spans:
    """CPU time and SQL statements by kind, each span exclusive of the spans nested in it."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self.statements: dict[str, int] = defaultdict(int)
        self.texts: dict[tuple[str, str], int] | None = None  # (kind, statement) -> count, with --statements
        self.stack: list[list[Any]] = []  # [kind, started, nested cpu]
        self.current: contextvars.ContextVar[str] = contextvars.ContextVar("bench_span", default="outside")
        self.excluded = 0.0  # CPU spent so far in spans that are not the web's (tasks, simulator)
        self.paused_at: float | None = None

    def enter(self, kind: str) -> None:
        self._pause(kind)
        self.stack.append([kind, time.process_time(), 0.0])

    def leave(self) -> None:
        kind, started, nested = self.stack.pop()
        spent = time.process_time() - started
        self.cpu[kind] += spent - nested
        self.count[kind] += 1
        if self.stack:
            self.stack[-1][2] += spent
        self._pause(self.stack[-1][0] if self.stack else "outside")

    def _pause(self, kind: str) -> None:
        now = time.process_time()
        if self.paused_at is not None:
            self.excluded += now - self.paused_at
        self.paused_at = None if kind.startswith(("webhook ", "request ")) else now

    def web_clock(self) -> float:
        """The profile's timer: CPU seconds spent in the web's own spans. Tasks (a worker's CPU in
        production) and the simulator's answers, nested in a request, take no time on it, so the
        profile shows what the web process spends, with its call tree intact."""
        now = time.process_time()
        return now - self.excluded - (now - self.paused_at if self.paused_at is not None else 0.0)

    def statement(self, text: str) -> None:
        kind = self.stack[-1][0] if self.stack else "outside"
        self.statements[kind] += 1
        if self.texts is not None:
            key = (kind, " ".join(text.split())[:150])
            self.texts[key] = self.texts.get(key, 0) + 1

    def wrap(self, kind: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def spanned(*args: Any, **kwargs: Any) -> Any:
            self.enter(kind(*args, **kwargs))
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()

        return spanned


def webhook_kind(scope: dict[str, Any]) -> str:
    path = scope["path"]
    return ("webhook " if path.startswith("/twilio/") else "request ") + path.removeprefix("/twilio")


class SpanMiddleware:
    """Outermost ASGI layer: each request is a span. Requests run one at a time here (the test
    client waits for each), so a shared stack is enough."""

    def __init__(self, app: Any, spans: Spans, profile: cProfile.Profile | None = None) -> None:
        self.app, self.spans, self.profile = app, spans, profile

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.spans.enter(webhook_kind(scope))
        if self.profile is not None:
            self.profile.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            if self.profile is not None:
                self.profile.disable()
            self.spans.leave()


def run(args: argparse.Namespace) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from celery import signals
    from sqlalchemy import event

    from benchmarks.bench_lifecycle import Driver, all_available, seed
    from core import clock, config, db
    from core.worker import celery_app
    from hotline.app import create_app
    from hotline.models import load_all
    from telephony import tasks as telephony_tasks
    from telephony.gateway import install_gateway
    from telephony.simulator import build, install_simulator, rest
    from telephony.simulator.transport import httpx_transport

    spans = Spans()
    with tempfile.TemporaryDirectory(prefix="hotline-bench-cpu-") as tmp, _database(args) as url:
        settings = bench_settings(url, public_url=PUBLIC_URL, twilio_account_sid=ACCOUNT_SID,
                                  twilio_auth_token=AUTH_TOKEN, var_dir=Path(tmp), log_level="WARNING",
                                  log_json=False)
        config.configure(settings)
        load_all().metadata.create_all(db.get_engine())
        frozen = clock.FrozenClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai, a Monday
        clock.install(frozen)
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
        app = create_app(settings, start_background=False)
        profile = cProfile.Profile(spans.web_clock) if args.profile else None
        if profile is not None:
            _one_thread()
        app.add_middleware(SpanMiddleware, spans=spans, profile=profile)  # type: ignore[arg-type]
        began = time.monotonic()
        agent_ids, _cookie = seed(args.agents)
        all_available(agent_ids)
        print(f"seeded {args.agents} agents in {time.monotonic() - began:.0f} s", flush=True)

        engine = db.get_engine()
        event.listen(engine, "before_cursor_execute", lambda _c, _cur, text, *_: spans.statement(text))
        if args.statements:
            spans.texts = {}
        signals.task_prerun.connect(lambda task=None, **_: spans.enter(f"task {task.name.rsplit('.', 1)[-1]}"),
                                    weak=False)
        signals.task_postrun.connect(lambda **_: spans.leave(), weak=False)
        rest.handle = spans.wrap(lambda *a, **k: "simulator REST", rest.handle)
        sweep = spans.wrap(lambda: "sweep routing", telephony_tasks.routing_sweep)

        with TestClient(app, base_url=PUBLIC_URL) as client:
            sim = build(settings, httpx_transport(client), in_process=True, hotline_number=HOTLINE)
            driver = Driver(sim, talk=args.talk, answer_delay=1.0)
            placed, second, cpu_began, wall_began = 0, 0, time.process_time(), time.monotonic()
            while placed < args.calls or driver.callers:
                for _ in range(args.rate if placed < args.calls else 0):
                    if placed < args.calls:
                        driver.place()
                        placed += 1
                driver.tick(float(second))
                sim.advance(1)
                second += 1
                if second % 15 == 0:
                    sweep()
                if second > args.calls / args.rate + 600:
                    print(f"stopped: {len(driver.callers)} callers still on the line at {second} s")
                    break
            sim.advance(120)  # wrap-ups end, late callbacks arrive
            sweep()
            cpu_total, wall = time.process_time() - cpu_began, time.monotonic() - wall_began
            install_simulator(None)
            install_gateway(None)
            errors = list(sim.errors)
        if profile:
            profile.dump_stats(args.profile)
        report(spans, driver, placed, cpu_total, wall, errors)
        if spans.texts is not None:
            print("\nstatements per call, by kind:")
            for (kind, text), n in sorted(spans.texts.items(), key=lambda item: (item[0][0], -item[1])):
                print(f"  {kind:<28}{n / placed:>6.2f}  {text}")


def _one_thread() -> None:
    """For the profile only: the app's thread-pool work runs on the event loop's thread, the one
    thread the profiler watches (requests come one at a time here, so nothing waits on it)."""
    import anyio.to_thread

    async def run_sync(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


def _database(args: argparse.Namespace) -> Any:
    if args.sqlite:
        from contextlib import nullcontext

        return nullcontext(f"sqlite:///{tempfile.mkdtemp(prefix='hotline-bench-cpu-db-')}/hub.db")
    return bench_database("hotline_bench_cpu")


def report(spans: Spans, driver: Any, placed: int, cpu_total: float, wall: float, errors: list[Any]) -> None:
    talked = sum(1 for v in driver.finished.values() if v == "talked")
    print(f"calls: {placed} placed, {talked} talked with an agent, {len(driver.finished)} ended; "
          f"simulator errors: {len(errors)}")
    for error in errors[:5]:
        print("   ", error)
    print(f"\n{'kind':<32}{'count':>7}{'per call':>9}{'CPU ms each':>12}{'CPU ms/call':>12}{'SQL each':>10}")
    groups: dict[str, float] = defaultdict(float)
    for kind in sorted(spans.count, key=lambda k: -spans.cpu[k]):
        n = spans.count[kind]
        print(f"{kind:<32}{n:>7}{n / placed:>9.2f}{spans.cpu[kind] * 1000 / n:>12.2f}"
              f"{spans.cpu[kind] * 1000 / placed:>12.2f}{spans.statements[kind] / n:>10.1f}")
        groups[kind.split(" ", 1)[0]] += spans.cpu[kind]
    outside = cpu_total - sum(spans.cpu.values())
    print("\nCPU per call (ms): " + ", ".join(f"{g} {s * 1000 / placed:.1f}" for g, s in sorted(groups.items()))
          + f", driver and simulator {outside * 1000 / placed:.1f}")
    web = groups.get("webhook", 0.0) + groups.get("request", 0.0)
    hub = web + groups.get("task", 0.0) + groups.get("sweep", 0.0)
    statements = sum(v for k, v in spans.statements.items() if k.startswith("webhook"))
    print(f"web process: {web * 1000 / placed:.1f} ms of CPU per call ({statements / placed:.0f} statements); "
          f"web + tasks: {hub * 1000 / placed:.1f} ms; wall {wall:.0f} s for the whole run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=5, help="new calls per simulated second")
    parser.add_argument("--talk", type=float, default=20.0, help="simulated seconds each caller talks")
    parser.add_argument("--profile", help="write cProfile statistics of the driven part to this file")
    parser.add_argument("--statements", action="store_true", help="list the SQL statements of each kind")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
