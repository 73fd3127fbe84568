"""Engine, sessions and the declarative base. Times are stored in UTC; a session is opened per
request and per task; work that must follow a commit (events, tasks) is queued with
`on_commit` and dropped on rollback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, make_transient_to_detached, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from core import clock

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC on every database. Naive values are refused:
    they are the usual source of off-by-hours bugs."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use core.clock.now() or an aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: clock.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=lambda: clock.now(), onupdate=lambda: clock.now(), nullable=False
    )


# Engine -------------------------------------------------------------------------------

_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None
_lock = threading.Lock()


def _sqlite_setup(engine: Engine) -> None:
    """Foreign keys on, WAL for concurrent readers, a busy timeout instead of 'database is
    locked', and transactions begun by us so `BEGIN IMMEDIATE` can serialise writers."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _sqlite_setup(engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout, and an incoming call makes only a
    # few. A connection the server dropped fails its first statement instead; SQLAlchemy then
    # invalidates the whole pool, so one unit of work per process sees the error (webhooks retry
    # it once on a fresh connection, see telephony.webhooks), and recycling retires connections
    # before a firewall or proxy idle timeout silently cuts them.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def configure_engine(engine: Engine | None) -> None:
    """Install the engine in use (the app factory, the CLI and tests call this)."""
    global _engine, _session_factory
    with _lock:
        _engine = engine
        _session_factory = sessionmaker(bind=engine, expire_on_commit=False) if engine is not None else None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        from core.config import get_settings

        configure_engine(make_engine(get_settings().effective_database_url))
    assert _engine is not None
    return _engine


def new_session() -> Session:
    get_engine()
    assert _session_factory is not None
    return _session_factory()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work for tasks and commands: commit on success, roll back on error."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request, committed when the endpoint returns."""
    with session_scope() as session:
        yield session


def write_locked(session: Session) -> Session:
    """Make the session's next transaction a serialised writer on SQLite (`BEGIN IMMEDIATE`).
    On PostgreSQL row locks (`FOR UPDATE SKIP LOCKED`) do the job and this changes nothing.
    Call before the session has begun a transaction."""
    engine = session.get_bind()
    if engine.dialect.name == "sqlite":
        session.bind = engine.execution_options(sqlite_immediate=True)  # type: ignore[assignment]
    return session


def begin_write(session: Session) -> None:
    """Make the coming transaction SQLite's serialised writer, so reads that decide a write
    cannot go stale; inside a running transaction its first write already holds the lock (on
    PostgreSQL, row locks do this job and nothing changes)."""
    if not session.in_transaction():
        write_locked(session)


# After-commit work ----------------------------------------------------------------------

_PENDING = "hotline_on_commit"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction commits; forget it on rollback."""
    if not session.in_transaction():
        # Tie the callback to a real transaction so a rollback before any SQL still drops it.
        session.begin()
    session.info.setdefault(_PENDING, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the transaction is not committed yet
        return
    callbacks = session.info.pop(_PENDING, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - a failed nudge must not undo a committed unit of work
            import logging

            logging.getLogger("hotline.db").exception("after-commit callback failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, _previous: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING, None)


def add_as_loaded(session: Session, model: type[T], values: dict[str, Any]) -> T:
    """A row just written by a Core statement, put in the session as if loaded from `values`
    (give every column): no SELECT back and no change history to flush. The values go straight
    into the instance's dict, as the ORM does when it loads a row, rather than through each
    attribute's change tracking."""
    instance = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance  # type: ignore[no-any-return]


def utcnow() -> datetime:
    return clock.now()
