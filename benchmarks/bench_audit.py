"""The audit trail page's reads (`core.audit.browse`, one page of 50: the newest, a deep page, by
person, by customer) and the chain check (`core.audit.verify`) over N entries, on SQLite (the
embedded default) and on PostgreSQL in a throw-away database beside HOTLINE_BENCH_DATABASE_URL.
Prints p50/p99 in ms for each read and the seconds of one whole check: the figure that decides
whether the page can check the chain on every load. No assertions.
Run: python -m benchmarks.bench_audit [--entries N] [--rounds N] [--sqlite-only]."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from benchmarks.common import bench_database, bench_settings, percentile
from core import audit, config

ACTIONS = ("customer.viewed", "auth.signin", "grant.created", "grant.used", "ticket.changed")


def seed(session: Session, entries: int) -> None:
    """A valid chain: 200 people, one entry a minute, a customer viewed in every fifth entry."""
    key = audit._chain_key()
    prev, start, rows = audit.GENESIS_HASH, datetime(2026, 1, 1, tzinfo=UTC), []
    for seq in range(1, entries + 1):
        action = ACTIONS[seq % len(ACTIONS)]
        customer = seq % 5000 + 1
        fields: dict[str, Any] = dict(
            seq=seq, at=start + timedelta(minutes=seq), actor_id=seq % 200 + 1, actor_name=f"u{seq % 200 + 1}",
            action=action, object_type="customer" if action == "customer.viewed" else "callback_grant",
            object_id=str(customer if action == "customer.viewed" else seq),
            source_ip="10.0.0.1", details=audit.canonical_details({"customer_id": customer, "agent_id": 7}),
            prev_hash=prev)
        prev = audit.compute_hash(key, **fields)
        rows.append({**fields, "hash": prev})
        if len(rows) == 5000:
            session.execute(insert(audit.AuditEntry), rows)
            rows = []
    if rows:
        session.execute(insert(audit.AuditEntry), rows)
    session.commit()


def timed(label: str, rounds: int, work: Callable[[], object]) -> None:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"  {label:<32} p50 {statistics.median(samples):8.1f} ms   p99 {percentile(samples, 0.99):8.1f} ms")


def run(url: str, entries: int, rounds: int) -> None:
    config.configure(bench_settings(url))
    engine = create_engine(url)
    audit.AuditEntry.__table__.create(engine)  # type: ignore[attr-defined]
    with Session(engine) as session:
        started = time.perf_counter()
        seed(session, entries)
        print(f"{engine.dialect.name}: {entries} entries seeded in {time.perf_counter() - started:.1f} s")
        timed("newest page", rounds, lambda: audit.browse(session))
        timed("page 100 (offset 4,950)", rounds, lambda: audit.browse(session, offset=4950))
        timed("by person", rounds, lambda: audit.browse(session, actor_id=17))
        timed("by customer (details scanned)", rounds, lambda: audit.browse(session, customer_id=4321))
        timed("by action and days", rounds, lambda: audit.browse(
            session, action="grant.used", start=datetime(2026, 2, 1, tzinfo=UTC), end=datetime(2026, 2, 8, tzinfo=UTC)))
        started = time.perf_counter()
        result = audit.verify(session)
        print(f"  whole-chain check: {time.perf_counter() - started:.2f} s for {result.checked} entries "
              f"(intact: {result.ok})")
    engine.dispose()
    config.configure(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/audit.db", args.entries, args.rounds)
    if not args.sqlite_only:
        with bench_database("bench_audit") as url:
            run(url, args.entries, args.rounds)


if __name__ == "__main__":
    main()
