"""Fault run: a few hundred calls through the carrier simulator with every fault kind injected, kill -9 of a web process, a worker and beat, and a Redis restart; prints violations and time to repair.

    .venv/bin/python -m benchmarks.bench_faults [--calls 500] [--rate 1.5] [--agents 8] [--seed 1]
        [--faults drop=0.03,duplicate=0.05,...] [--no-kills] [--reconcile-window 90] [--redis-port 8290]
        [--trace run.jsonl]

Against the loopback deployment (deploy/loopback.py: nginx, two `hotline serve` web processes, a
Celery worker and beat) on a throw-away PostgreSQL database (HOTLINE_BENCH_DATABASE_URL names
the server, default the local one) and a redis-server of its own on --redis-port (the machine's
shared Redis is never restarted). What is checked and how repair is timed: benchmarks/fault_run.py.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from dataclasses import fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fault_run import ALL_FAULTS, RunConfig, postgres_database, run  # noqa: E402
from telephony.simulator.faults import FaultPlan  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _plan(text: str | None, seed: int) -> FaultPlan:
    if not text:
        return replace(ALL_FAULTS, seed=seed)
    given = FaultPlan.parse(text, seed=seed)
    # Sizes (delays, copies) keep the defaults of the all-faults plan; only probabilities are given.
    sizes = {f.name: getattr(ALL_FAULTS, f.name) for f in fields(FaultPlan) if f.type not in ("float", float)
             and f.name != "seed"}
    return replace(given, **sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=float, default=1.5, help="new calls a second")
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=None, help="probabilities, e.g. drop=0.03,rest_429=0.02 "
                        "(default: every kind, see benchmarks/fault_run.py ALL_FAULTS)")
    parser.add_argument("--no-kills", action="store_true", help="no kill -9 and no Redis restart")
    parser.add_argument("--reconcile-window", type=float, default=90.0)
    parser.add_argument("--drain", type=float, default=60.0)
    parser.add_argument("--redis-port", type=int, default=8290)
    parser.add_argument("--trace", type=Path, default=None, help="keep the carrier's trace here (JSON lines: "
                        "calls, webhooks, faults, violations) to trace a violation")
    args = parser.parse_args()
    try:
        plan = _plan(args.faults, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    config = RunConfig(calls=args.calls, rate=args.rate, agents=args.agents, plan=plan, seed=args.seed,
                       kills=not args.no_kills, reconcile_window=args.reconcile_window, drain=args.drain,
                       redis_port=args.redis_port, trace=args.trace.resolve() if args.trace else None)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))  # the `finally`s stop everything
    base = os.environ.get("HOTLINE_BENCH_DATABASE_URL") or DEFAULT_PG
    with postgres_database(base) as url, tempfile.TemporaryDirectory(prefix="hotline-faults-") as tmp:
        print(f"== fault run: {config.calls} calls, seed {config.seed}, two web processes, two workers, beat, "
              f"PostgreSQL, Redis on port {config.redis_port}", flush=True)
        report = run(config, database_url=url, workdir=Path(tmp), say=lambda line: print(line, flush=True))
    for line in report.lines():
        print(line)


if __name__ == "__main__":
    main()
