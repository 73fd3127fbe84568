"""Ticket search (`tickets.search.search`, with its capped count) among 1,000,000 tickets and 200,000
customer phone indexes, and opening a ticket from a call (`open_from_call` + commit), on PostgreSQL
in a throw-away database beside HOTLINE_BENCH_DATABASE_URL. Prints p50/p99 in ms; no assertions.
Run: python -m benchmarks.bench_tickets [--tickets N] [--customers N] [--rounds N]."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from benchmarks.common import bench_database, bench_settings, cpu_seconds, percentile
from core import clock, config, db
from core.crypto import blind_index
from core.models import User
from hotline.models import load_all

TEAMS, AGENTS_PER_TEAM = 20, 20
AGENTS = TEAMS * AGENTS_PER_TEAM
LEADER_ID, HEAD_ID = AGENTS + 1, AGENTS + TEAMS + 1
ACTIVE_TAIL = 30_000  # the newest tickets are still being worked; older ones are closed


def _number(n: int) -> str:
    return f"+86139{n:08d}"


def _people_sql() -> list[str]:
    return [
        "INSERT INTO sites (id, name, code, timezone, created_at, updated_at) "
        "VALUES (1, 'Bench', 'bench', 'Asia/Shanghai', now(), now())",
        f"INSERT INTO teams (id, name, site_id, created_at, updated_at) "
        f"SELECT g, 'Team ' || g, 1, now(), now() FROM generate_series(1, {TEAMS}) g",
        # Agents 1..400 (20 per team), team leaders 401..420, the center head 421.
        f"INSERT INTO users (id, username, display_name, password_hash, role, job_type, site_id, team_id, "
        f"is_active, failed_sign_ins, created_at, updated_at) "
        f"SELECT g, 'u' || g, 'User ' || g, 'x', CASE WHEN g <= {AGENTS} THEN 'agent' WHEN g < {HEAD_ID} "
        f"THEN 'team_leader' ELSE 'center_head' END, 'hotline_agent', 1, CASE WHEN g <= {AGENTS} "
        f"THEN (g - 1) / {AGENTS_PER_TEAM} + 1 WHEN g < {HEAD_ID} THEN g - {AGENTS} END, true, 0, now(), now() "
        f"FROM generate_series(1, {HEAD_ID}) g",
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))",
    ]


def _tickets_sql(tickets: int, customers: int) -> str:
    # Deterministic pseudo-random spread from hashint4; 60 % of tickets have a known customer
    # (their caller index is that customer's phone index), the rest an unknown caller.
    return f"""
INSERT INTO tickets (id, number, category, priority, status, source, site_id, team_id, assignee_id, created_by_id,
    customer_id, caller_index, tier, escalation_level, sla_business_hours, sla_state, sla_target, sla_due_at,
    sla_at_risk_at, first_response_minutes, resolution_minutes, resolved_at, closed_at, version, created_at, updated_at)
SELECT g, 'HL-' || y || '-' || lpad(row_number() OVER (PARTITION BY y ORDER BY g)::text, 6, '0'),
    (ARRAY['inquiry','inquiry','inquiry','complaint','suggestion','callback_request','other'])[1 + mod(h, 7)],
    (ARRAY['normal','normal','normal','low','high','urgent'])[1 + mod((h / 7), 6)],
    status, 'call', 1, team, agent, agent, customer, COALESCE(p.number_index, md5(g::text) || md5((-g)::text)),
    CASE WHEN customer IS NULL THEN NULL ELSE 'normal' END, CASE WHEN status = 'escalated' THEN 1 ELSE 0 END,
    true, CASE WHEN due <= now() THEN 'breached' WHEN due - interval '48 minutes' <= now() THEN 'at_risk' ELSE 'ok' END,
    CASE WHEN due IS NULL THEN NULL ELSE 'resolution' END, due, due - interval '48 minutes', 240, 2880,
    CASE WHEN status IN ('resolved', 'closed') THEN created + interval '3 hours' END,
    CASE WHEN status = 'closed' THEN created + interval '1 day' END, 1, created, created
FROM (
    SELECT g, h, created, extract(year FROM created AT TIME ZONE 'UTC')::int AS y, team, agent, status,
        CASE WHEN mod(h, 10) < 6 THEN 1 + mod((h / 10), {customers}) END AS customer,
        CASE WHEN status IN ('new', 'open', 'escalated') THEN created + (4 + mod(h, 96)) * interval '1 hour' END AS due
    FROM (
        SELECT g, h, now() - ({tickets} - g) * interval '1 minute' AS created,
            1 + mod((h / 3), {TEAMS}) AS team, (mod((h / 3), {TEAMS})) * {AGENTS_PER_TEAM} + 1 + mod((h / 61), {AGENTS_PER_TEAM})
                AS agent,
            CASE WHEN g <= {tickets - ACTIVE_TAIL} THEN (ARRAY['closed','closed','closed','resolved'])[1 + mod(h, 4)]
                 ELSE (ARRAY['new','open','open','waiting_on_customer','escalated','resolved'])[1 + mod(h, 6)] END AS status
        FROM (SELECT g, abs(hashint4(g)) AS h FROM generate_series(1, {tickets}) g) AS base
    ) AS shaped
) AS s
LEFT JOIN customer_phones p ON p.customer_id = s.customer
"""


def seed(engine: Engine, *, tickets: int, customers: int, key: str) -> None:
    """People with generate_series, customer phones with COPY (blind indexes computed here), tickets
    with one INSERT ... SELECT; the tickets' indexes are built after the load, then ANALYZE."""
    from tickets.models.tickets import Ticket

    fernet = Fernet(key)
    tokens = [fernet.encrypt(_number(n).encode()).decode() for n in range(100)]
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in _people_sql():
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(
            f"INSERT INTO customers (id, site_id, tier, points, spend_cents, consent_purposes, created_at, updated_at) "
            f"SELECT g, 1, 'normal', 0, 0, '[\"service\"]', now(), now() FROM generate_series(1, {customers}) g")
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers))")
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy("COPY customer_phones (customer_id, number, number_index, is_primary, created_at) "
                         "FROM STDIN") as copy:
            for n in range(1, customers + 1):
                copy.write_row((n, tokens[n % 100], blind_index(_number(n), purpose="phone"), True, "now"))
    print(f"seeded {customers:,} customers and phones in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    indexes = list(Ticket.__table__.indexes)
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
        conn.exec_driver_sql(_tickets_sql(tickets, customers))
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))")
        conn.exec_driver_sql("INSERT INTO ticket_number_counters (year, last) SELECT split_part(number, '-', 2)::int, "
                             "max(split_part(number, '-', 3)::int) FROM tickets GROUP BY 1")
    loaded = time.perf_counter() - started
    with engine.begin() as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            index.create(conn)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    print(f"seeded {tickets:,} tickets in {loaded:.1f} s, indexed and analysed in "
          f"{time.perf_counter() - started - loaded:.1f} s")


def _time(name: str, rounds: int, run: Callable[[Any, random.Random], Any]) -> None:
    rng = random.Random(11)
    timings: list[float] = []
    rows = 0
    with db.new_session() as session:
        for round_ in range(rounds + 50):
            started = time.perf_counter()
            result = run(session, rng)
            elapsed = (time.perf_counter() - started) * 1000
            rows += len(getattr(result, "items", ()) or ())
            session.expunge_all()
            session.rollback()
            if round_ >= 50:  # the first 50 warm the caches and the pool
                timings.append(elapsed)
    print(f"{name:34s} p50 {statistics.median(timings):6.2f} ms  p99 {percentile(timings, 0.99):6.2f} ms  "
          f"max {max(timings):7.2f} ms  ({rows / (rounds + 50):.1f} rows/page)")


def measure(engine: Engine, *, tickets: int, customers: int, rounds: int) -> None:
    from tickets.models.tickets import Ticket
    from tickets.search import search

    db.configure_engine(engine)
    with db.new_session() as session:
        people = {u.id: u for u in session.scalars(select(User))}
        numbers = list(session.scalars(select(Ticket.number).order_by(func.random()).limit(5000)))
        session.expunge_all()
    head, agents = people[HEAD_ID], [people[i] for i in range(1, AGENTS + 1)]
    month_ago = clock.now() - timedelta(days=30)
    leaders = [people[i] for i in range(LEADER_ID, HEAD_ID)]

    def paged(session: Any, viewer: User, pages: int, **filters: Any) -> Any:
        page = search(session, viewer=viewer, limit=50, **filters)
        for _ in range(pages - 1):
            if page.next_cursor is None:
                break
            page = search(session, viewer=viewer, limit=50, cursor=page.next_cursor, with_count=False, **filters)
        return page

    shapes: list[tuple[str, Callable[[Any, random.Random], Any]]] = [
        ("by number", lambda s, r: search(s, viewer=head, number=r.choice(numbers))),
        ("by caller phone (blind index)", lambda s, r: search(s, viewer=head, phone=_number(r.randint(1, customers)))),
        ("agent: own+team, status active", lambda s, r: search(s, viewer=r.choice(agents),
                                                               status=["new", "open", "escalated"])),
        ("status + assignee", lambda s, r: search(s, viewer=head, status="open",
                                                  assignee_id=r.choice(agents).id)),
        ("sla breached, most overdue first", lambda s, r: search(s, viewer=r.choice(leaders), sla_state="breached",
                                                                 sort="due")),
        ("sla at risk", lambda s, r: search(s, viewer=head, sla_state="at_risk")),
        ("leader: site newest, page 1", lambda s, r: search(s, viewer=r.choice(leaders))),
        ("leader: site newest, pages 1-5", lambda s, r: paged(s, r.choice(leaders), 5)),
        ("team + status closed, pages 1-3", lambda s, r: paged(s, head, 3, team_id=r.randint(1, TEAMS),
                                                               status="closed")),
        ("category + created in a month", lambda s, r: search(
            s, viewer=head, category="complaint", created_from=month_ago - timedelta(days=30), created_to=month_ago)),
    ]
    print(f"search among {tickets:,} tickets ({rounds} rounds each, 50 per page, capped count included):")
    for name, run in shapes:
        _time(name, rounds, run)

    open_from_call(engine, customers=customers, rounds=rounds)


def open_from_call(engine: Engine, *, customers: int, rounds: int) -> None:
    """`open_from_call` + commit, one in five a complaint (which tells the team leaders). Besides
    the wall time: the database time, the sum over the unit of work's statements (BEGIN and
    COMMIT included) of the time from sending each to having its result, as the
    before/after_cursor_execute events and the transaction events see it, and the count of
    round trips."""
    from tickets import service

    db.configure_engine(engine)
    clock_ = _StatementClock(engine)
    timings: list[float] = []
    database: list[float] = []
    trips: list[int] = []
    backends: dict[int, float] = {}
    for n in range(rounds + 50):
        with db.new_session() as session:
            if n == 50:
                backends.clear()
            pid = session.connection().connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            backends.setdefault(pid, cpu_seconds(pid))
            clock_.reset()
            started = time.perf_counter()
            customer = n % customers + 1
            service.open_from_call(session, call_sid=f"CA{uuid.uuid4().hex}", customer_id=customer,
                                   category="complaint" if n % 5 == 0 else "inquiry", site_id=1,
                                   caller_index=blind_index(_number(customer), purpose="phone"))
            session.commit()
            if n >= 50:
                timings.append((time.perf_counter() - started) * 1000)
                database.append(clock_.total * 1000)
                trips.append(clock_.count)
    print(f"{'open_from_call + commit':34s} p50 {statistics.median(timings):6.2f} ms  "
          f"p99 {percentile(timings, 0.99):6.2f} ms  max {max(timings):7.2f} ms")
    print(f"{'  of which database time':34s} p50 {statistics.median(database):6.2f} ms  "
          f"p99 {percentile(database, 0.99):6.2f} ms  max {max(database):7.2f} ms  "
          f"({statistics.median(trips):.0f} round trips, BEGIN and COMMIT included)")
    used = [cpu_seconds(pid) - start for pid, start in backends.items()]
    if all(value >= 0 for value in used):
        # On a shared, busy machine the times above include waiting for a core; the server's own
        # CPU (from /proc, database on this host) does not.
        print(f"{'  database server CPU, mean':34s} {sum(used) * 1000 / rounds:6.2f} ms per ticket "
              f"(PostgreSQL backend{'s' if len(used) > 1 else ''} {', '.join(map(str, backends))}, /proc)")


class _StatementClock:
    """Adds up the time each statement, BEGIN and COMMIT spends between leaving the client and
    its result arriving (the database's work plus the network), and counts them."""

    def __init__(self, engine: Engine) -> None:
        from sqlalchemy import event

        self.total, self.count, self._started = 0.0, 0, 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        # psycopg sends BEGIN inside the first statement's execute (so it is in that span);
        # COMMIT is timed around the DBAPI call.
        original = engine.dialect.do_commit

        def timed_commit(dbapi_connection: Any) -> None:
            started = time.perf_counter()
            try:
                original(dbapi_connection)
            finally:
                self.total += time.perf_counter() - started
                self.count += 1

        engine.dialect.do_commit = timed_commit  # type: ignore[method-assign]

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def _before(self, *_args: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, *_args: Any) -> None:
        self.total += time.perf_counter() - self._started
        self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1_000)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed) to explore plans")
    parser.add_argument("--only-open", action="store_true", help="skip the searches: only open tickets from calls")
    args = parser.parse_args()
    key = Fernet.generate_key().decode()
    with bench_database("hotline_bench", keep=args.keep) as url:
        config.configure(bench_settings(url, data_key=key))
        engine = db.make_engine(url)
        try:
            load_all().metadata.create_all(engine)
            seed(engine, tickets=args.tickets, customers=args.customers, key=key)
            if args.only_open:
                open_from_call(engine, customers=args.customers, rounds=args.rounds)
            else:
                measure(engine, tickets=args.tickets, customers=args.customers, rounds=args.rounds)
        finally:
            db.configure_engine(None)
            engine.dispose()
            config.configure(None)


if __name__ == "__main__":
    main()
