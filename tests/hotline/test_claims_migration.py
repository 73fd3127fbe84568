"""Migrations 0015 and 0016 add the claims (leases) on the REST calls made outside any transaction:
`offers.ring_claimed_at`, `offers.connect_claimed_at`, `calls.hangup_claimed_at`, then
`calls.control_claimed_at`; existing rows keep their data and start unclaimed, and the downgrade
drops the columns and keeps the rows."""

from __future__ import annotations

from sqlalchemy import inspect, text

from core import db
from hotline import migrate

_ROW = "CURRENT_TIMESTAMP"
CLAIMS = {"offers": {"ring_claimed_at", "connect_claimed_at"}, "calls": {"hangup_claimed_at"}}


def _columns(engine, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_claim_columns_are_added_unclaimed_and_dropped_again(settings, empty_database: str) -> None:  # type: ignore[no-untyped-def]
    migrate.upgrade(empty_database, "0014")
    engine = db.make_engine(empty_database)
    try:
        for table, names in CLAIMS.items():
            assert not names & _columns(engine, table)
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO calls (id, call_sid, leg, direction, status, started_at, language, "
                              f"degraded, created_at, updated_at) VALUES (1, 'CA1', 'agent', 'outbound-api', "
                              f"'ringing', {_ROW}, 'zh-CN', false, {_ROW}, {_ROW})"))
        migrate.upgrade(empty_database, "0015")
        engine.dispose()
        for table, names in CLAIMS.items():
            assert names <= _columns(engine, table)
        with engine.begin() as conn:
            row = conn.execute(text("SELECT call_sid, hangup_claimed_at FROM calls")).one()
            assert tuple(row) == ("CA1", None)
            conn.execute(text(f"UPDATE calls SET hangup_claimed_at = {_ROW}"))
        migrate.downgrade(empty_database, "0014")
        engine.dispose()
        for table, names in CLAIMS.items():
            assert not names & _columns(engine, table)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT call_sid, status FROM calls")).one() == ("CA1", "ringing")
    finally:
        engine.dispose()


def test_the_control_claim_column_is_added_unclaimed_and_dropped_again(settings, empty_database: str) -> None:  # type: ignore[no-untyped-def]
    """Migration 0016 adds `calls.control_claimed_at` (the in-call controls' claim while Twilio is
    asked with no transaction open); existing calls start unclaimed, the downgrade keeps them."""
    migrate.upgrade(empty_database, "0015")
    engine = db.make_engine(empty_database)
    try:
        assert "control_claimed_at" not in _columns(engine, "calls")
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO calls (id, call_sid, leg, direction, status, started_at, language, "
                              f"degraded, created_at, updated_at) VALUES (1, 'CA1', 'caller', 'inbound', "
                              f"'in-progress', {_ROW}, 'zh-CN', false, {_ROW}, {_ROW})"))
        migrate.upgrade(empty_database, "0016")
        engine.dispose()
        assert "control_claimed_at" in _columns(engine, "calls")
        with engine.begin() as conn:
            assert tuple(conn.execute(text("SELECT call_sid, control_claimed_at FROM calls")).one()) == ("CA1", None)
            conn.execute(text(f"UPDATE calls SET control_claimed_at = {_ROW}"))
        migrate.downgrade(empty_database, "0015")
        engine.dispose()
        assert "control_claimed_at" not in _columns(engine, "calls")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT call_sid, status FROM calls")).one() == ("CA1", "in-progress")
    finally:
        engine.dispose()
