"""core.cache: one entry per database and key, shared by every session on that database,
whatever execution options a unit of work put on its bind; fresh for a few seconds, then
reloaded by one caller while the others keep the old value. Time is the injected clock."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from core import cache, db


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


def _counting(value: object, loads: list[object]):  # type: ignore[no-untyped-def]
    def load() -> object:
        loads.append(value)
        return value
    return load


def _remembered_then(session: Session, clock, loads: list[object], *, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """"old" remembered, then the clock moved on by `seconds`."""
    cache.remembered(session, "k", _counting("old", loads))
    clock.advance(seconds=seconds)


def test_an_entry_is_fresh_for_the_ttl_then_reloaded(engine, clock) -> None:
    loads: list[object] = []
    with Session(engine) as session:
        assert cache.remembered(session, "k", _counting("v1", loads)) == "v1"
        clock.advance(seconds=cache.TTL_SECONDS - 0.5)
        assert cache.remembered(session, "k", _counting("v2", loads)) == "v1"
        clock.advance(seconds=1)
        assert cache.remembered(session, "k", _counting("v2", loads)) == "v2"
        assert cache.remembered(session, "k", _counting("v3", loads)) == "v2"
    assert loads == ["v1", "v2"]


def test_while_one_caller_reloads_an_expired_entry_the_others_get_the_old_value(engine, clock) -> None:
    loads: list[object] = []
    with Session(engine) as session:
        _remembered_then(session, clock, loads, seconds=cache.TTL_SECONDS + 1)
        seen_meanwhile: list[object] = []

        def slow_reload() -> str:
            # Another webhook arrives while this one is still reading: it must not load too.
            seen_meanwhile.append(cache.remembered(session, "k", _counting("herd", loads)))
            seen_meanwhile.append(cache.remembered(session, "k", _counting("herd", loads)))
            return "new"

        assert cache.remembered(session, "k", slow_reload) == "new"
        assert seen_meanwhile == ["old", "old"]
        assert cache.remembered(session, "k", _counting("later", loads)) == "new"
    assert loads == ["old"]


def test_concurrent_threads_past_the_ttl_reload_once(engine, clock) -> None:
    import threading

    loads: list[object] = []
    started, release = threading.Event(), threading.Event()
    with Session(engine) as session:
        cache.remembered(session, "k", _counting("old", loads))
    clock.advance(seconds=cache.TTL_SECONDS + 1)

    def blocking_reload() -> str:
        loads.append("new")
        started.set()
        assert release.wait(10)
        return "new"

    results: list[object] = []

    def webhook(load) -> None:  # type: ignore[no-untyped-def]
        with Session(engine) as session:
            results.append(cache.remembered(session, "k", load))

    reloader = threading.Thread(target=webhook, args=(blocking_reload,))
    reloader.start()
    assert started.wait(10)
    others = [threading.Thread(target=webhook, args=(_counting("herd", loads),)) for _ in range(4)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(10)
    assert results == ["old"] * 4  # answered at once, while the reload is still running
    release.set()
    reloader.join(10)
    assert results[-1] == "new"
    assert loads == ["old", "new"]


def test_a_failed_reload_keeps_the_old_value_and_the_next_caller_retries(engine, clock) -> None:
    loads: list[object] = []
    with Session(engine) as session:
        _remembered_then(session, clock, loads, seconds=cache.TTL_SECONDS + 1)

        def failing() -> str:
            raise RuntimeError("database gone")

        with pytest.raises(RuntimeError, match="database gone"):  # the reload's error reaches its caller
            cache.remembered(session, "k", failing)
        assert cache.remembered(session, "k", _counting("retried", loads)) == "retried"
    assert loads == ["old", "retried"]


def test_long_past_the_stale_window_every_caller_loads(engine, clock) -> None:
    loads: list[object] = []
    with Session(engine) as session:
        _remembered_then(session, clock, loads, seconds=cache.TTL_SECONDS + cache.STALE_SECONDS + 1)
        inner: list[object] = []

        def reload() -> str:
            inner.append(cache.remembered(session, "k", _counting("nested", loads)))
            return "outer"

        assert cache.remembered(session, "k", reload) == "outer"
        assert inner == ["nested"]  # nothing old enough to hand out: it loads for itself
