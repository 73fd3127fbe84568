"""telephony.cache: one entry per database and key, shared by every session on that database,
whatever execution options a unit of work put on its bind."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import db
from telephony import cache


def test_a_write_locked_session_finds_what_another_session_remembered(engine) -> None:
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return 42

    for _ in range(5):
        with Session(engine) as session:
            db.write_locked(session)  # on SQLite a fresh option-engine over the same pool each time
            assert cache.remembered(session, "answer", load) == 42
    assert loads == [1]
    assert len(cache._entries) == 1


def test_another_database_has_its_own_entries(engine, tmp_path) -> None:
    other = db.make_engine(f"sqlite:///{tmp_path}/other.db")
    try:
        with Session(engine) as first, Session(other) as second:
            assert cache.remembered(first, "k", lambda: "first") == "first"
            assert cache.remembered(second, "k", lambda: "second") == "second"
            assert cache.remembered(first, "k", lambda: "again") == "first"
    finally:
        other.dispose()
