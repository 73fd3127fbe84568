"""Alembic migrations build the same schema as the models, on SQLite and on PostgreSQL, and
downgrade cleanly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from core import db
from hotline import migrate
from hotline.models import load_all


def test_upgrade_matches_the_models(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) == migrate.head_revision(empty_database)
    engine = db.make_engine(empty_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, load_all().metadata)
        summary = [f"{d[0]} {getattr(d[1], 'name', '')}" if isinstance(d, tuple) else str(d) for d in diff]
        assert diff == [], f"models and migrations differ: {summary}"
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    migrate.downgrade(empty_database, "base")
    engine = db.make_engine(empty_database)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) == migrate.head_revision(empty_database)


def test_migrated_audit_trail_refuses_update_and_delete(empty_database: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    migrate.upgrade(empty_database)
    engine = db.make_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_entries (seq, at, action, prev_hash, hash) "
                              "VALUES (1, CURRENT_TIMESTAMP, 'test.event', 'p', 'h')"))
        for statement in ("UPDATE audit_entries SET action = 'forged'", "DELETE FROM audit_entries"):
            with pytest.raises(DBAPIError, match="append-only"):
                with engine.begin() as conn:
                    conn.execute(text(statement))
    finally:
        engine.dispose()
