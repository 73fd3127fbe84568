"""QA at scale on PostgreSQL, in a throw-away database beside HOTLINE_BENCH_DATABASE_URL: monthly
sampling (`qa.sampling.build_all`, and `build_month` team by team) for 2,000 agents over 1,000,000 recorded calls,
and the monthly report (`qa.reports.monthly_report`, plus its CSV and PDF) for 2,000 agents over
six months of evaluations. Prints timings and counts; no assertions.
Run: python -m benchmarks.bench_qa [--calls N] [--teams N] [--agents-per-team N] [--inspector-capacity N]
[--keep]."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from benchmarks.common import bench_database, bench_settings
from core import clock, config, db
from core.clock import FrozenClock
from hotline.models import load_all

MONTH_START = "2025-12-31 16:00:00+00"  # 1 January 2026, midnight in Shanghai
HISTORY_MONTHS = 6  # August 2025 to January 2026
EVALUATIONS_PER_MONTH = 5


def _people_sql(teams: int, per_team: int) -> list[str]:
    agents = teams * per_team
    inspectors = max(1, teams // 5)
    head = agents + teams + inspectors + 1
    return [
        "INSERT INTO sites (id, name, code, timezone, created_at, updated_at) "
        "VALUES (1, 'Bench', 'bench', 'Asia/Shanghai', now(), now())",
        f"INSERT INTO teams (id, name, site_id, created_at, updated_at) "
        f"SELECT g, 'Team ' || g, 1, now(), now() FROM generate_series(1, {teams}) g",
        # Agents 1..A (per_team a team), team leaders, site-wide QA inspectors, then the center head.
        f"INSERT INTO users (id, username, display_name, password_hash, role, job_type, site_id, team_id, "
        f"is_active, failed_sign_ins, created_at, updated_at) "
        f"SELECT g, 'u' || g, 'Agent ' || g, 'x', CASE WHEN g <= {agents} THEN 'agent' "
        f"WHEN g <= {agents + teams} THEN 'team_leader' WHEN g < {head} THEN 'qa_inspector' ELSE 'center_head' END, "
        f"'hotline_agent', 1, CASE WHEN g <= {agents} THEN (g - 1) / {per_team} + 1 "
        f"WHEN g <= {agents + teams} THEN g - {agents} END, true, 0, now(), now() "
        f"FROM generate_series(1, {head}) g",
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))",
    ]


def _calls_sql(calls: int, agents: int) -> list[str]:
    # Spread evenly over January (2,678,400 s); every tenth call has a ticket, a seventh of those
    # are complaints and a ninth escalated; durations from 10 s to 30 min (some too short to score).
    step = 2_678_400 / calls
    tickets = calls // 10
    return [
        f"INSERT INTO tickets (id, number, category, priority, status, source, site_id, escalation_level, "
        f"sla_business_hours, sla_state, version, created_at, updated_at) "
        f"SELECT g, 'HL-2026-' || lpad(g::text, 7, '0'), CASE WHEN mod(g, 7) = 0 THEN 'complaint' ELSE 'inquiry' END, "
        f"'normal', CASE WHEN mod(g, 9) = 0 THEN 'escalated' ELSE 'closed' END, 'call', 1, "
        f"CASE WHEN mod(g, 9) = 0 THEN 1 ELSE 0 END, true, 'ok', 1, "
        f"timestamptz '{MONTH_START}' + g * 10 * {step} * interval '1 second', now() "
        f"FROM generate_series(1, {tickets}) g",
        "INSERT INTO customers (id, site_id, tier, points, spend_cents, consent_purposes, created_at, updated_at) "
        "SELECT g, 1, 'normal', 0, 0, '[\"service\"]', now(), now() FROM generate_series(1, 1000) g",
        f"INSERT INTO care_followups (customer_id, ticket_id, kind, due_at, status, satisfaction, created_at) "
        f"SELECT 1 + mod(g, 1000), g, 'satisfaction', now(), 'done', 1 + mod(abs(hashint4(g)), 5), now() "
        f"FROM generate_series(3, {tickets}, 7) g",
        f"INSERT INTO calls (id, call_sid, leg, direction, status, started_at, answered_at, ended_at, "
        f"duration_seconds, site_id, language, category, ticket_id, agent_id, degraded, created_at, updated_at) "
        f"SELECT g, 'CA' || g, 'caller', 'inbound', 'completed', t, t, t + d * interval '1 second', d, 1, 'zh-CN', "
        f"'inquiry', CASE WHEN mod(g, 10) = 0 THEN g / 10 END, 1 + mod(g - 1, {agents}), false, t, t "
        f"FROM (SELECT g, timestamptz '{MONTH_START}' + g * {step} * interval '1 second' AS t, "
        f"10 + mod(abs(hashint4(g)), 1790) AS d FROM generate_series(1, {calls}) g) AS c",
        "INSERT INTO recordings (id, recording_sid, call_id, kind, status, duration_seconds, channels, started_at, "
        "ticket_id, copy_attempts, created_at, updated_at) "
        "SELECT id, 'RE' || id, id, 'call', 'completed', duration_seconds, 2, started_at, ticket_id, 0, "
        "started_at, started_at FROM calls",
    ]


def _history_sql(agents: int, per_team: int, scorecard_id: int, question_ids: list[int], inspector: int) -> list[str]:
    per_agent = HISTORY_MONTHS * EVALUATIONS_PER_MONTH
    values = ", ".join(str(q) for q in question_ids)
    return [
        # Evaluations of recordings outside the benchmark's set (ids above 100 million), one a
        # week or so per agent over six months; scores from the answers below, roughly.
        f"INSERT INTO qa_evaluations (id, scorecard_id, recording_id, call_id, call_started_at, agent_id, team_id, "
        f"site_id, inspector_id, is_reference, status, score, base_score, bonus_points, auto_failed, created_at, "
        f"updated_at, submitted_at, version) "
        f"SELECT g, {scorecard_id}, 100000000 + g, NULL, "
        f"timestamptz '{MONTH_START}' - interval '5 months' * 1 + mod(g - 1, {per_agent}) * interval '6 days', "
        f"1 + (g - 1) / {per_agent}, (g - 1) / {per_agent} / {per_team} + 1, 1, {inspector}, false, 'submitted', "
        f"50 + mod(abs(hashint4(g)), 51), 50 + mod(abs(hashint4(g)), 51), 0, mod(abs(hashint4(g)), 50) = 0, "
        f"now(), now(), now(), 1 "
        f"FROM generate_series(1, {agents * per_agent}) g",
        f"INSERT INTO qa_evaluation_answers (evaluation_id, question_id, value, not_applicable) "
        f"SELECT e.id, q, CASE WHEN q = {question_ids[1]} THEN mod(abs(hashint4(e.id * 31 + q)), 2) "
        f"ELSE 1 + mod(abs(hashint4(e.id * 31 + q)), 5) END, false "
        f"FROM qa_evaluations e CROSS JOIN unnest(ARRAY[{values}]) AS q",
        "SELECT setval(pg_get_serial_sequence('qa_evaluations', 'id'), (SELECT max(id) FROM qa_evaluations))",
    ]


def seed(engine: Engine, *, calls: int, teams: int, per_team: int) -> None:
    from qa import scorecards
    from telephony.models import Call, Recording

    agents = teams * per_team
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in _people_sql(teams, per_team):
            conn.exec_driver_sql(statement)
    indexes = [*Call.__table__.indexes, *Recording.__table__.indexes]
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
        for statement in _calls_sql(calls, agents):
            conn.exec_driver_sql(statement)
    loaded = time.perf_counter() - started
    with engine.begin() as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            index.create(conn)
    print(f"seeded {agents:,} agents, {calls:,} calls and recordings, {calls // 10:,} tickets in {loaded:.1f} s, "
          f"indexed in {time.perf_counter() - started - loaded:.1f} s")

    started = time.perf_counter()
    with db.new_session() as session:
        card = scorecards.seed_default(session)
        session.commit()
        question_ids = [q.id for q in card.questions if not q.bonus]
        no_rudeness = next(q.id for q in card.questions if q.code == "no_rudeness")
        question_ids.remove(no_rudeness)
        question_ids.insert(1, no_rudeness)  # the yes/no question takes 0 or 1
        inspector = agents + teams + 1
        card_id = card.id
    with engine.begin() as conn:
        for statement in _history_sql(agents, per_team, card_id, question_ids, inspector):
            conn.exec_driver_sql(statement)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        evaluations = conn.exec_driver_sql("SELECT count(*) FROM qa_evaluations").scalar()
        answers = conn.exec_driver_sql("SELECT count(*) FROM qa_evaluation_answers").scalar()
    print(f"seeded {evaluations:,} evaluations and {answers:,} answers over {HISTORY_MONTHS} months in "
          f"{time.perf_counter() - started:.1f} s (analysed)")


def measure(inspector_capacity: int | None = None) -> None:
    from core.models import User
    from core.organisation import list_teams
    from qa import export, reports, sampling, settings
    from qa.models import Assignment

    clock.install(FrozenClock(datetime(2026, 2, 2, 4, tzinfo=UTC)))  # January is complete in Shanghai
    with db.new_session() as session:
        if inspector_capacity is not None:
            settings.set_value(session, key="inspector_monthly_capacity", value=inspector_capacity)
            session.commit()
        capacity = sum(sampling.capacity(session, team_ids=[t.id for t in list_teams(session)]).values())
    print(f"inspectors' monthly capacity: {capacity:,} evaluations (targeted picks stop there)")
    with db.new_session() as session:
        started = time.perf_counter()
        results = sampling.build_all(session, month="2026-01")  # what the monthly sweep runs
        session.commit()
        elapsed = time.perf_counter() - started
        kinds = dict(session.execute(select(Assignment.kind, func.count()).group_by(Assignment.kind)).all())
        reasons = dict(session.execute(select(Assignment.reason, func.count()).where(Assignment.kind == "targeted")
                                       .group_by(Assignment.reason)).all())
    print(f"monthly sampling, all {len(results)} teams in one pass: {elapsed:.2f} s; picked "
          f"{kinds.get('random', 0):,} random and {kinds.get('targeted', 0):,} targeted {reasons}")
    with db.new_session() as session:
        started = time.perf_counter()
        added = sum(r.added_random + r.added_targeted for r in sampling.build_all(session, month="2026-01").values())
        session.commit()
    print(f"sampling again (idempotent top-up, {added} added): {time.perf_counter() - started:.2f} s")
    with db.new_session() as session:
        # The API's build: a QA inspector of the site plans one team (the first ten, or fewer).
        team_ids = sorted(t.id for t in list_teams(session))[:10]
        inspector = session.scalar(select(User).where(User.role == "qa_inspector").order_by(User.id).limit(1))
        session.execute(delete(Assignment).where(Assignment.team_id.in_(team_ids)))
        session.commit()
        timings = []
        for team_id in team_ids:
            started = time.perf_counter()
            sampling.build_month(session, team_id=team_id, month="2026-01", by=inspector)
            session.commit()
            timings.append(time.perf_counter() - started)
    print(f"one team at a time (the API's build), {len(team_ids)} teams: median "
          f"{statistics.median(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms")

    with db.new_session() as session:
        head = session.scalar(select(User).where(User.role == "center_head"))
        started = time.perf_counter()
        report = reports.monthly_report(session, month="2026-01", user=head)
        built = time.perf_counter() - started
        started = time.perf_counter()
        text = export.monthly_csv(report)
        as_csv = time.perf_counter() - started
        started = time.perf_counter()
        pdf = export.monthly_pdf(report)
        as_pdf = time.perf_counter() - started
        # The first team's report warms what a team's report reads; the last one's is timed.
        reports.monthly_report(session, month="2026-01", user=head, team_id=team_ids[0])
        started = time.perf_counter()
        team = reports.monthly_report(session, month="2026-01", user=head, team_id=team_ids[-1])
        one_team = time.perf_counter() - started
    print(f"monthly report, {len(report['agents']):,} agents, {report['evaluations']:,} evaluations in the month, "
          f"{len(report['trend'])}-month trend: {built:.2f} s; CSV {as_csv:.2f} s ({len(text) / 1e6:.1f} MB); "
          f"PDF {as_pdf:.2f} s ({len(pdf) / 1e6:.1f} MB)")
    print(f"monthly report for one team ({len(team['agents'])} agents): {one_team * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--agents-per-team", type=int, default=20)
    parser.add_argument("--inspector-capacity", type=int, default=None,
                        help="evaluations an inspector does a month (the setting's default otherwise)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed) to explore plans")
    args = parser.parse_args()
    with bench_database("hotline_bench_qa", keep=args.keep) as url:
        config.configure(bench_settings(url))
        engine = db.make_engine(url)
        db.configure_engine(engine)
        try:
            load_all().metadata.create_all(engine)
            seed(engine, calls=args.calls, teams=args.teams, per_team=args.agents_per_team)
            measure(args.inspector_capacity)
        finally:
            db.configure_engine(None)
            engine.dispose()
            config.configure(None)


if __name__ == "__main__":
    main()
