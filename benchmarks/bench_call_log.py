"""The call log (`telephony.call_log.call_log`, one page of 50) and the reports' period figures
(`period_report`) among 100,000 calls over 90 days with their queue entries, offers, holds and
recordings, on PostgreSQL in a throw-away database beside HOTLINE_BENCH_DATABASE_URL, for each
role's scope. Prints p50/p99 in ms and the plans of the log's two statements (EXPLAIN ANALYZE);
with --compare-index it first measures without the index on calls.started_at (migration 0002),
to show what that index buys. No assertions.
Run: python -m benchmarks.bench_call_log [--calls N] [--rounds N] [--compare-index]."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event
from sqlalchemy.engine import Engine

from benchmarks.common import bench_database, bench_settings, percentile
from core import clock, config, db
from hotline.models import load_all

SITES, TEAMS, AGENTS_PER_TEAM = 2, 20, 20  # teams 1-10 at site 1, 11-20 at site 2
AGENTS = TEAMS * AGENTS_PER_TEAM
LEADER_ID, SUPERVISOR_ID = AGENTS + 1, AGENTS + TEAMS + 1  # supervisors: one per site
HEAD_ID = SUPERVISOR_ID + SITES
DAYS = 90
ZONE = "Asia/Shanghai"


def _people_sql() -> list[str]:
    return [
        f"INSERT INTO sites (id, name, code, timezone, created_at, updated_at) "
        f"SELECT g, 'Site ' || g, 's' || g, '{ZONE}', now(), now() FROM generate_series(1, {SITES}) g",
        f"INSERT INTO teams (id, name, site_id, created_at, updated_at) "
        f"SELECT g, 'Team ' || g, 1 + (g - 1) / {TEAMS // SITES}, now(), now() FROM generate_series(1, {TEAMS}) g",
        "INSERT INTO skills (id, code, name, created_at, updated_at) VALUES (1, 'inquiry', 'Inquiry', now(), now()), "
        "(2, 'complaint', 'Complaint', now(), now()), (3, 'membership', 'Membership', now(), now())",
        # Agents 1..400 (20 per team), team leaders 401..420, supervisors 421..422, the center head 423.
        f"INSERT INTO users (id, username, display_name, password_hash, role, job_type, site_id, team_id, "
        f"is_active, failed_sign_ins, created_at, updated_at) "
        f"SELECT g, 'u' || g, 'User ' || g, 'x', CASE WHEN g <= {AGENTS} THEN 'agent' WHEN g < {SUPERVISOR_ID} "
        f"THEN 'team_leader' WHEN g < {HEAD_ID} THEN 'supervisor' ELSE 'center_head' END, 'hotline_agent', "
        f"CASE WHEN g <= {AGENTS} THEN 1 + ((g - 1) / {AGENTS_PER_TEAM}) / {TEAMS // SITES} "
        f"WHEN g < {SUPERVISOR_ID} THEN 1 + (g - {AGENTS} - 1) / {TEAMS // SITES} "
        f"WHEN g < {HEAD_ID} THEN g - {SUPERVISOR_ID} + 1 END, "
        f"CASE WHEN g <= {AGENTS} THEN (g - 1) / {AGENTS_PER_TEAM} + 1 WHEN g < {SUPERVISOR_ID} THEN g - {AGENTS} END, "
        f"true, 0, now(), now() FROM generate_series(1, {HEAD_ID}) g",
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))",
    ]


def _calls_sql(calls: int) -> list[str]:
    """Calls spread evenly over the last DAYS days: 5 % callbacks, 4 % ending in the menu, of the
    queued 80 % answered (by an agent of the caller's site), 12 % abandoned, 8 % voicemail or callback."""
    shaped = f"""
CREATE TEMP TABLE shaped AS
SELECT g, h, now() - ({calls} - g) * interval '{DAYS * 86400 // calls} seconds' AS at,
    CASE WHEN mod(h, 20) = 0 THEN 'customer' ELSE 'caller' END AS leg,
    1 + mod(h / 3, {SITES}) AS site,
    (ARRAY['inquiry','inquiry','complaint','membership'])[1 + mod(h / 5, 4)] AS skill,
    CASE WHEN mod(h, 25) = 1 THEN 'menu' WHEN mod(h / 11, 100) < 80 THEN 'answered'
         WHEN mod(h / 11, 100) < 92 THEN 'abandoned' WHEN mod(h / 11, 100) < 96 THEN 'voicemail'
         ELSE 'callback' END AS fate,
    mod(h / 13, 90) AS wait, 60 + mod(h / 17, 600) AS talk
FROM (SELECT g, abs(hashint4(g)) AS h FROM generate_series(1, {calls}) g) AS base;
"""
    agent = f"(site - 1) * {AGENTS // SITES} + 1 + mod(h / 7, {AGENTS // SITES})"
    return [shaped, f"""
INSERT INTO calls (id, call_sid, leg, direction, status, started_at, answered_at, ended_at, duration_seconds,
    site_id, language, skill_code, category, ticket_id, agent_id, enqueued_at, after_queue, bridged_at, degraded,
    created_at, updated_at)
SELECT g, 'CA' || g, leg, CASE WHEN leg = 'caller' THEN 'inbound' ELSE 'outbound-api' END,
    CASE WHEN leg = 'customer' AND fate IN ('abandoned', 'menu') THEN 'no-answer' ELSE 'completed' END, at,
    at + interval '2 seconds', at + (10 + wait + talk) * interval '1 second', 10 + wait + talk, site, 'zh-CN',
    CASE WHEN leg = 'caller' THEN skill END, CASE WHEN leg = 'caller' THEN skill END, g,
    CASE WHEN fate = 'answered' OR leg = 'customer' THEN {agent} END,
    CASE WHEN leg = 'caller' AND fate <> 'menu' THEN at + interval '10 seconds' END,
    CASE WHEN leg = 'caller' AND fate IN ('voicemail', 'callback') THEN fate END,
    CASE WHEN fate = 'answered' THEN at + (10 + wait) * interval '1 second' END, false, at, at
FROM shaped""", """
INSERT INTO queue_entries (id, call_id, skill_code, min_level, category, tier, base_priority, enqueued_at, queued_at,
    sort_key, state, attempts, ended_at)
SELECT g, g, skill, 1, skill, 'normal', 0, at + interval '10 seconds', at + interval '10 seconds',
    at + interval '10 seconds', CASE WHEN fate = 'answered' THEN 'connected' ELSE fate END, 1,
    at + (10 + wait + CASE WHEN fate = 'answered' THEN talk ELSE 0 END) * interval '1 second'
FROM shaped WHERE leg = 'caller' AND fate <> 'menu'""", f"""
INSERT INTO offers (id, entry_id, call_id, user_id, skill_code, state, offered_at, expires_at, resolved_at, ended_at)
SELECT g, g, g, {agent}, skill, 'accepted', at + (8 + wait) * interval '1 second',
    at + (23 + wait) * interval '1 second', at + (10 + wait) * interval '1 second',
    at + (10 + wait + talk) * interval '1 second'
FROM shaped WHERE leg = 'caller' AND fate = 'answered'""", """
INSERT INTO call_control_events (call_id, kind, actor_id, warm, state, started_at, ended_at)
SELECT g, 'hold', 1, false, 'done', at + (40 + wait) * interval '1 second', at + (70 + wait) * interval '1 second'
FROM shaped WHERE leg = 'caller' AND fate = 'answered' AND mod(h, 10) = 3""", """
INSERT INTO recordings (recording_sid, call_id, kind, status, media_key, duration_seconds, copy_attempts,
    created_at, updated_at)
SELECT 'RE' || g, g, CASE WHEN fate = 'voicemail' THEN 'voicemail' ELSE 'call' END, 'completed',
    'recordings/RE' || g || '.wav', talk, 0, at, at
FROM shaped WHERE fate IN ('answered', 'voicemail')""",
        "SELECT setval(pg_get_serial_sequence('calls', 'id'), (SELECT max(id) FROM calls))"]


def seed(engine: Engine, *, calls: int) -> None:
    """People with generate_series, calls and their rows with INSERT ... SELECT; the indexes
    are built after the load, then ANALYZE."""
    from telephony.models import Call, CallControlEvent, Offer, QueueEntry, Recording

    tables = [Call.__table__, QueueEntry.__table__, Offer.__table__, CallControlEvent.__table__,
              Recording.__table__]
    indexes = [index for table in tables for index in table.indexes]
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in _people_sql():
            conn.exec_driver_sql(statement)
        for index in indexes:
            index.drop(conn)
        for statement in _calls_sql(calls):
            conn.exec_driver_sql(statement)
    loaded = time.perf_counter() - started
    with engine.begin() as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            index.create(conn)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    print(f"seeded {calls:,} calls (with queue entries, offers, holds, recordings) in {loaded:.1f} s, indexed and "
          f"analysed in {time.perf_counter() - started - loaded:.1f} s")


def _time(name: str, rounds: int, run: Callable[[Any, random.Random], Any]) -> None:
    rng = random.Random(7)
    timings: list[float] = []
    warm = min(20, rounds)
    with db.new_session() as session:
        for round_ in range(rounds + warm):
            started = time.perf_counter()
            run(session, rng)
            elapsed = (time.perf_counter() - started) * 1000
            session.rollback()
            if round_ >= warm:
                timings.append(elapsed)
    print(f"{name:46s} p50 {statistics.median(timings):7.2f} ms  p99 {percentile(timings, 0.99):7.2f} ms")


def _explain(engine: Engine, title: str, run: Callable[[Any], Any]) -> None:
    """The plans of the statements `run` sends to the database, with their real figures."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with db.new_session() as session:
            run(session)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    print(f"\n-- {title}")
    with engine.connect() as conn:
        on_calls = [(s, p) for s, p in captured if "FROM calls" in s and "WHERE calls.started_at" in s]
        for statement, parameters in on_calls[:2]:  # the count, then the page
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters).all()
            print("\n".join("   " + row[0] for row in plan))
            print()


def measure(engine: Engine, *, rounds: int, label: str = "") -> None:
    from core.models import User
    from telephony import call_log

    db.configure_engine(engine)
    with db.new_session() as session:
        people = {u.id: u for u in session.query(User)}
        session.expunge_all()
    agents = [people[i] for i in range(1, AGENTS + 1)]
    leaders = [people[i] for i in range(LEADER_ID, SUPERVISOR_ID)]
    supervisors = [people[i] for i in range(SUPERVISOR_ID, HEAD_ID)]
    head = people[HEAD_ID]
    now = clock.now()
    week, month = (now - timedelta(days=7), now), (now - timedelta(days=30), now)
    old_week = (now - timedelta(days=80), now - timedelta(days=73))
    today = now.date()

    def log(viewer: User, period: tuple[Any, Any], **filters: Any) -> Callable[[Any, random.Random], Any]:
        return lambda s, r: call_log.call_log(s, viewer=viewer, start=period[0], end=period[1], **filters)

    shapes: list[tuple[str, Callable[[Any, random.Random], Any]]] = [
        ("agent: own calls, last 7 days", lambda s, r: log(r.choice(agents), week)(s, r)),
        ("agent: own calls, last 30 days", lambda s, r: log(r.choice(agents), month)(s, r)),
        ("team leader: team, last 7 days", lambda s, r: log(r.choice(leaders), week)(s, r)),
        ("team leader: team, 30 days, answered", lambda s, r: log(r.choice(leaders), month,
                                                                               outcome="answered")(s, r)),
        ("supervisor: site, last 7 days", lambda s, r: log(r.choice(supervisors), week)(s, r)),
        ("supervisor: site, 30 days, page 10", lambda s, r: log(r.choice(supervisors), month, page=10)(s, r)),
        ("center head: all, last 7 days", lambda s, r: log(head, week)(s, r)),
        ("center head: all, 7 days 80 days ago", lambda s, r: log(head, old_week)(s, r)),
        ("center head: all, 30 days, abandoned", lambda s, r: log(head, month, outcome="abandoned")(s, r)),
        ("center head: one agent, 30 days", lambda s, r: log(head, month, agent_id=r.choice(agents).id)(s, r)),
        ("report: supervisor, site, 30 days by day", lambda s, r: call_log.period_report(
            s, viewer=r.choice(supervisors), first_day=today - timedelta(days=29), last_day=today, zone=ZONE,
            site_id=None)),
        ("report: center head, all, 90 days by week", lambda s, r: call_log.period_report(
            s, viewer=head, first_day=today - timedelta(days=89), last_day=today, zone=ZONE, site_id=None,
            by="week")),
    ]
    print(f"\ncall log among the calls{label} ({rounds} rounds each, 50 per page, count included):")
    for name, run in shapes:
        _time(name, rounds if not name.startswith("report") else max(5, rounds // 10), run)
    for title, viewer, period in (("team leader, last 7 days", leaders[0], week),
                                  ("supervisor, last 7 days", supervisors[0], week),
                                  ("center head, 7 days 80 days ago", head, old_week)):
        _explain(engine, f"plan{label}: {title}",
                 lambda s, v=viewer, p=period: call_log.call_log(s, viewer=v, start=p[0], end=p[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--compare-index", action="store_true",
                        help="measure first without the index on calls.started_at, then with it")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args()
    with bench_database("hotline_bench", keep=args.keep) as url:
        config.configure(bench_settings(url, timezone=ZONE))
        engine = db.make_engine(url)
        try:
            load_all().metadata.create_all(engine)
            seed(engine, calls=args.calls)
            if args.compare_index:
                with engine.begin() as conn:
                    conn.exec_driver_sql("DROP INDEX ix_calls_started_at")
                    conn.exec_driver_sql("ANALYZE calls")
                measure(engine, rounds=args.rounds, label=" without the index on calls.started_at")
                with engine.begin() as conn:
                    conn.exec_driver_sql("CREATE INDEX ix_calls_started_at ON calls (started_at)")
                    conn.exec_driver_sql("ANALYZE calls")
            measure(engine, rounds=args.rounds)
        finally:
            db.configure_engine(None)
            engine.dispose()
            config.configure(None)


if __name__ == "__main__":
    main()
