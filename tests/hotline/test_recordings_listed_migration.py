"""Migration 0019 adds `calls.recordings_listed_at` (when Twilio was asked for an ended call's
recordings) and the partial index of the calls not listed yet. Calls that ended before it count
as listed (nothing for the sweep to ask about), live ones do not; the downgrade drops both and
keeps the rows."""

from __future__ import annotations

from sqlalchemy import inspect, text

from core import db
from hotline import migrate

_NOW = "CURRENT_TIMESTAMP"


def _columns(engine, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {column["name"] for column in inspect(engine).get_columns(table)}


def _indexes(engine, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {index["name"] for index in inspect(engine).get_indexes(table)}


def test_the_listing_column_is_added_ended_calls_count_as_listed_and_it_is_dropped_again(
        settings, empty_database: str) -> None:  # type: ignore[no-untyped-def]
    migrate.upgrade(empty_database, "0018")
    engine = db.make_engine(empty_database)
    try:
        assert "recordings_listed_at" not in _columns(engine, "calls")
        with engine.begin() as conn:
            for id_, status, ended in ((1, "completed", _NOW), (2, "in-progress", "NULL")):
                conn.execute(text(f"INSERT INTO calls (id, call_sid, leg, direction, status, started_at, ended_at, "
                                  f"language, degraded, created_at, updated_at) VALUES ({id_}, 'CA{id_}', 'caller', "
                                  f"'inbound', '{status}', {_NOW}, {ended}, 'zh-CN', false, {_NOW}, {_NOW})"))
        migrate.upgrade(empty_database, "0019")
        engine.dispose()
        assert "recordings_listed_at" in _columns(engine, "calls")
        assert "ix_calls_recordings_unlisted" in _indexes(engine, "calls")
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT call_sid, recordings_listed_at = ended_at, recordings_listed_at IS NULL "
                                     "FROM calls ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [("CA1", True, False), ("CA2", None, True)]
        migrate.downgrade(empty_database, "0018")
        engine.dispose()
        assert "recordings_listed_at" not in _columns(engine, "calls")
        assert "ix_calls_recordings_unlisted" not in _indexes(engine, "calls")
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(text("SELECT call_sid, status FROM calls ORDER BY id"))] == [
                ("CA1", "completed"), ("CA2", "in-progress")]
    finally:
        engine.dispose()
