"""Routing decision time with 5,000 calls waiting and 2,000 agents online, on PostgreSQL (a
throw-away database beside HOTLINE_BENCH_DATABASE_URL) and SQLite. One decision is one
`route(limit=1)` in a fresh session, committed; the offer's ring task and `call.offered` event go
out after the commit as in production, here to the in-memory transport and the in-process event
bus (no broker round trip), so the commit's figure includes handing them over and no more.
Run: python -m benchmarks.bench_routing [--calls N] [--agents N] [--decisions N] [--only postgresql|sqlite]."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine

from benchmarks.common import bench_database, cpu_seconds
from core import clock, config, db
from core.clock import FrozenClock
from core.models import Skill, User, UserSkill
from hotline.models import load_all
from telephony import priority, routing
from telephony.models.routing import AgentPresence, QueueEntry

SKILLS = ("inquiry", "complaint", "membership", "callback", "operator", "mandarin", "english", "lottery")
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def seed(engine: Engine, *, calls: int, agents: int, rng: random.Random) -> None:
    """Agents with 1-3 skills at levels 1-5: 60 % available, the rest on calls, in wrap-up or on
    a break. Calls over the last 20 minutes, every category, tier and minimum level."""
    with engine.begin() as conn:
        conn.execute(insert(Skill), [{"id": i + 1, "code": code, "name": code} for i, code in enumerate(SKILLS)])
        conn.execute(insert(User), [{"id": i + 1, "username": f"agent{i}", "display_name": f"Agent {i}",
                                     "password_hash": "!", "role": "agent"} for i in range(agents)])
        links = []
        for user_id in range(1, agents + 1):
            for skill_id in rng.sample(range(1, len(SKILLS) + 1), rng.randint(1, 3)):
                links.append({"user_id": user_id, "skill_id": skill_id, "level": rng.randint(1, 5)})
        conn.execute(insert(UserSkill), links)
        states = []
        for user_id in range(1, agents + 1):
            state = rng.choices(("available", "on_call", "wrap_up", "break"), (60, 25, 10, 5))[0]
            since = START - timedelta(seconds=rng.randint(1, 3600))
            states.append({"user_id": user_id, "state": state, "since": since, "away_after_call": False,
                           "idle_since": since if state == "available" else None,
                           "wrap_up_until": START + timedelta(hours=1) if state == "wrap_up" else None})
        conn.execute(insert(AgentPresence), states)
        entries = []
        for n in range(calls):
            category = rng.choices(("inquiry", "complaint", "membership"), (70, 15, 15))[0]
            tier = rng.choices(priority.TIERS, (60, 20, 12, 6, 2))[0]
            enqueued = START - timedelta(seconds=rng.randint(0, 1200))
            base = priority.base_priority(category=category, tier=tier)
            own = rng.randint(1, agents) if tier in priority.PREFERRED_AGENT_TIERS and rng.random() < 0.5 else None
            entries.append({"call_id": n + 1, "skill_code": rng.choice(SKILLS), "min_level": rng.randint(1, 3),
                            "category": category, "tier": tier, "base_priority": base, "enqueued_at": enqueued,
                            "queued_at": enqueued, "state": "waiting", "attempts": 0, "preferred_agent_id": own,
                            "sort_key": priority.sort_key(enqueued_at=enqueued, base=base,
                                                          aging_seconds_per_point=priority.DEFAULTS.aging_seconds_per_point)})
        conn.execute(insert(QueueEntry), entries)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def measure(url: str, *, calls: int, agents: int, decisions: int, warm_up: int, explain: bool,
            async_commit: bool = False) -> None:
    # synchronous_commit off shows the router's own cost apart from the disk: commits no longer
    # wait for the WAL flush.
    options = {"connect_args": {"options": "-c synchronous_commit=off"}} if async_commit else {}
    engine = db.make_engine(url, **options)
    load_all().metadata.create_all(engine)
    seed(engine, calls=calls, agents=agents, rng=random.Random(7))
    db.configure_engine(engine)
    statements = [0]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    timings, decided, committed, cpu, floor = [], [], [], [], []
    backends: dict[int, float] = {}
    for n in range(decisions + warm_up):
        clock.get_clock().advance(seconds=0.01)  # type: ignore[attr-defined]
        before, c0, t0 = statements[0], time.process_time(), time.perf_counter()
        with db.new_session() as session:
            if engine.dialect.name == "postgresql":
                if n == warm_up:
                    backends.clear()
                pid = session.connection().connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
                backends.setdefault(pid, cpu_seconds(pid))
                c0, t0 = time.process_time(), time.perf_counter()  # not the connection's checkout
            made = routing.route(session, limit=1)
            t_decided = time.perf_counter()
            session.commit()
            t_committed = time.perf_counter()
        elapsed, used, count = time.perf_counter() - t0, time.process_time() - c0, statements[0] - before
        if len(made) != 1:
            raise SystemExit(f"decision {n} made {len(made)} offers (every available agent busy? give more --agents "
                             "than --decisions and warm-up decisions together)")
        # The floor on this machine at this moment: a fresh session writing one row and committing.
        t1 = time.perf_counter()
        with db.new_session() as session:
            session.execute(text("UPDATE agent_presence SET away_after_call = away_after_call WHERE user_id = 1"))
            session.commit()
        if n >= warm_up:  # warm-up: connections, statement caches
            timings.append(elapsed * 1000)
            decided.append((t_decided - t0) * 1000)
            committed.append((t_committed - t_decided) * 1000)
            cpu.append(used * 1000)
            floor.append((time.perf_counter() - t1) * 1000)
            per_decision = count
    label = engine.dialect.name + (" (synchronous_commit off)" if async_commit else "")
    print(f"{label}: {calls} calls waiting, {agents} agents online, {len(timings)} decisions "
          f"({per_decision} statements each, {engine.dialect.name == 'sqlite' and 'BEGIN IMMEDIATE' or 'BEGIN'} "
          "included, COMMIT not)")
    print(f"  decision + commit          {_summary(timings)}")
    print(f"    the decision (route)     {_summary(decided)}")
    print(f"    its commit               {_summary(committed)}")
    print(f"  client CPU of a decision   {_summary(cpu)}")
    print(f"  floor: 1-row write, commit {_summary(floor)}")
    used = [cpu_seconds(pid) - start for pid, start in backends.items()]
    if used and all(value >= 0 for value in used):
        # On a busy machine the times above include waiting for a core; the server's own CPU
        # (from /proc, database on this host; the floor's writes included) does not.
        print(f"  database server CPU, mean  {sum(used) * 1000 / len(timings):.2f} ms per decision and floor write")
    if explain and engine.dialect.name == "postgresql":
        explain_plans(engine)
    engine.dispose()
    db.configure_engine(None)


def _summary(values: list[float]) -> str:
    values = sorted(values)
    p = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return (f"p50 {p(0.50):.2f} ms  p90 {p(0.90):.2f} ms  p99 {p(0.99):.2f} ms  max {values[-1]:.2f} ms  "
            f"mean {statistics.mean(values):.2f} ms")


def explain_plans(engine: Engine) -> None:
    """PostgreSQL's plan for the router's one-statement decision (telephony.decision), run
    for real inside a transaction that is then rolled back."""
    from telephony import decision
    from telephony.priority import alive_since

    params = {"now": clock.now(), "default_timeout": 15, "alive_since": alive_since()}
    with engine.connect() as conn:
        compiled = decision._statement(0, False, True).compile(dialect=engine.dialect)
        sql = "EXPLAIN (ANALYZE, COSTS OFF) " + str(compiled)
        values = compiled.construct_params(params)
        values["now"], values["alive_since"] = params["now"], params["alive_since"]
        print("\n".join(r[0] for r in conn.exec_driver_sql(sql, values)))
        conn.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--decisions", type=int, default=500)
    parser.add_argument("--warm-up", type=int, default=20, help="decisions made before measuring (connections, caches)")
    parser.add_argument("--only", choices=("postgresql", "sqlite"))
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL's plan of the one-statement decision")
    parser.add_argument("--async-commit", action="store_true",
                        help="also measure PostgreSQL with synchronous_commit off (the router without the disk)")
    args = parser.parse_args()
    clock.install(FrozenClock(START))
    with tempfile.TemporaryDirectory() as tmp:
        config.configure(config.Settings(var_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db"))
        sizes = dict(calls=args.calls, agents=args.agents, decisions=args.decisions, warm_up=args.warm_up,
                     explain=args.explain)
        if args.only in (None, "postgresql"):
            with bench_database("hotline_bench") as url:
                measure(url, **sizes)
            if args.async_commit:
                with bench_database("hotline_bench") as url:
                    measure(url, **sizes, async_commit=True)
        if args.only in (None, "sqlite"):
            measure(f"sqlite:///{tmp}/bench.db", **sizes)


if __name__ == "__main__":
    main()
