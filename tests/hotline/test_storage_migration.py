"""Migration 0010: a recording's local path becomes its storage key, and back on downgrade."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import text

from core import db
from hotline import migrate


def test_local_paths_become_storage_keys(empty_database: str) -> None:  # noqa: F811
    before = ScriptDirectory.from_config(migrate.alembic_config(empty_database)).get_revision("0010").down_revision
    migrate.upgrade(empty_database, str(before))
    engine = db.make_engine(empty_database)
    try:
        with engine.begin() as conn:
            for n, path in enumerate(["/srv/hotline/var/recordings/2025/03/RE1.wav", None, "/elsewhere/RE3.wav"]):
                conn.execute(text("INSERT INTO recordings (recording_sid, kind, status, local_path, copy_attempts, "
                                  "created_at, updated_at) VALUES (:sid, 'call', 'completed', :path, 0, "
                                  "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"sid": f"RE{n}", "path": path})
        migrate.upgrade(empty_database, "0010")
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT media_key FROM recordings ORDER BY recording_sid")).scalars().all()
        assert keys == ["recordings/2025/03/RE1.wav", None, "/elsewhere/RE3.wav"]
        migrate.downgrade(empty_database, str(before))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(local_path) FROM recordings")).scalar() == 2
    finally:
        engine.dispose()
