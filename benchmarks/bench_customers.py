"""Caller-ID lookup among 200,000 customers on PostgreSQL, in a throw-away database beside
HOTLINE_BENCH_DATABASE_URL: `tickets.customers.find_by_phone` (numbers as people type them) and
`identify_caller` (what the incoming-call webhook asks). Prints p50/p99 in ms; no assertions.
Run: python -m benchmarks.bench_customers [--customers N] [--lookups N]."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.fernet import Fernet
from sqlalchemy import Text, column, insert, table, text
from sqlalchemy.engine import Engine

from benchmarks.common import bench_database, bench_settings, percentile
from core import config, db
from core.crypto import blind_index
from core.models import Site
from hotline.models import load_all

BATCH = 10_000


def _number(n: int) -> str:
    return f"+86139{n:08d}"


def seed(engine: Engine, *, customers: int, key: str) -> None:
    """Bulk inserts of ready-made Fernet tokens and blind indexes (the encryption is done here,
    not row by row through the ORM), then ANALYZE."""
    fernet = Fernet(key)
    # Raw Text columns: the tokens are already encrypted, so the column types must not encrypt again.
    raw_customers = table("customers", column("id"), column("site_id"), column("name", Text()), column("tier"),
                          column("points"), column("spend_cents"), column("consent_purposes"),
                          column("created_at"), column("updated_at"))
    raw_phones = table("customer_phones", column("customer_id"), column("number", Text()), column("number_index"),
                       column("is_primary"), column("created_at"))
    names = [fernet.encrypt(f"Customer {n}".encode()).decode() for n in range(1000)]
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(Site), [{"id": 1, "name": "Bench", "code": "bench", "timezone": "Asia/Shanghai"}])
        now = text("now()")
        for first in range(0, customers, BATCH):
            ids = range(first + 1, min(first + BATCH, customers) + 1)
            conn.execute(insert(raw_customers).values(created_at=now, updated_at=now), [
                {"id": i, "site_id": 1, "name": names[i % len(names)], "tier": "normal", "points": 0,
                 "spend_cents": 0, "consent_purposes": '["service"]'} for i in ids])
            conn.execute(insert(raw_phones).values(created_at=now), [
                {"customer_id": i, "number": fernet.encrypt(_number(i).encode()).decode(),
                 "number_index": blind_index(_number(i), purpose="phone"), "is_primary": True} for i in ids])
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('customers', 'id'), "
                             "(SELECT max(id) FROM customers))")
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    print(f"seeded {customers:,} customers and phones in {time.perf_counter() - started:.1f} s")


def measure(engine: Engine, *, customers: int, lookups: int) -> None:
    from tickets.customers import find_by_phone, identify_caller

    db.configure_engine(engine)
    rng = random.Random(7)
    spellings = (lambda n: _number(n), lambda n: f"139 {n // 10000:04d} {n % 10000:04d}", lambda n: f"0086139{n:08d}")
    for name, lookup in (("find_by_phone", lambda s, phone: find_by_phone(s, phone=phone)),
                         ("identify_caller", lambda s, phone: identify_caller(s, caller_id=phone))):
        timings: list[float] = []
        found = 0
        with db.new_session() as session:
            for round_ in range(lookups + 200):
                # 90 % known callers in varied spellings, 10 % numbers nobody has.
                n = rng.randint(1, customers) if rng.random() < 0.9 else customers + rng.randint(1, 10**6)
                phone = rng.choice(spellings)(n) if name == "find_by_phone" else _number(n)
                started = time.perf_counter()
                result = lookup(session, phone)
                elapsed = (time.perf_counter() - started) * 1000
                session.expunge_all()
                session.rollback()
                if round_ >= 200:  # the first 200 warm the caches and the pool
                    timings.append(elapsed)
                    found += result is not None
        print(f"{name:16s} {len(timings):,} lookups ({found:,} found): p50 {statistics.median(timings):.2f} ms, "
              f"p95 {percentile(timings, 0.95):.2f} ms, p99 {percentile(timings, 0.99):.2f} ms, "
              f"max {max(timings):.2f} ms")
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN SELECT c.id FROM customers c JOIN customer_phones p ON c.id = p.customer_id "
            "WHERE p.number_index = 'x'").scalars().all()
    print("plan:", " | ".join(line.strip() for line in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    args = parser.parse_args()
    key = Fernet.generate_key().decode()
    with bench_database("hotline_bench") as url:
        config.configure(bench_settings(url, data_key=key))
        engine = db.make_engine(url)
        try:
            load_all().metadata.create_all(engine)
            seed(engine, customers=args.customers, key=key)
            measure(engine, customers=args.customers, lookups=args.lookups)
        finally:
            db.configure_engine(None)
            engine.dispose()


if __name__ == "__main__":
    main()
