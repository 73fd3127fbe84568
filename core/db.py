"""Engine, sessions and the declarative base. Times are stored in UTC; a session is opened per
request and per task; work that must follow a commit (events, tasks) is queued with
`on_commit` and dropped on rollback."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, Table, create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result
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

# SQLite: one writer at a time ----------------------------------------------------------------
#
# SQLite has one writer. A transaction begun as a reader (plain BEGIN) that then writes fails
# at once with "database is locked" when another connection holds the write lock or committed
# since its snapshot: the busy timeout is not consulted for that upgrade. So on SQLite a unit
# of work is a writer from its first statement (BEGIN IMMEDIATE) unless it is declared a reader
# (`reader()`), and writers queue on a lock in the process before asking SQLite, which wakes the
# next writer the moment one commits instead of SQLite's polling sleeps. Other processes (a
# `hotline` command beside the server) meet the busy timeout. Writers keep transactions short:
# no network call and no solver run while one is open.

_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None
_lock = threading.Lock()

WRITER = "sqlite_immediate"  # execution option: True makes the transaction a serialised writer
BUSY_TIMEOUT_S = float(os.environ.get("HOTLINE_SQLITE_BUSY_TIMEOUT", "30"))  # seconds


class WriterGate:
    """The write lock of one SQLite database inside this process, with the figures the
    embedded-load benchmark prints (waits and holds in milliseconds, timeouts)."""

    def __init__(self, timeout: float = BUSY_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._owner: object | None = None
        self._since = 0.0
        self._stats = threading.Lock()
        self._passing = threading.Lock()  # one release per turn, by its holder or a waiter
        self._began_at = ""
        self.waiting = 0
        self.reset()

    def reset(self) -> None:
        with self._stats:
            self.waits: list[float] = []
            self.holds: list[float] = []
            self.timeouts = 0
            # With `trace` on (the benchmark), where each long hold began: code line -> (count, max ms).
            self.long_holds: dict[str, tuple[int, float]] = {}

    trace = bool(os.environ.get("HOTLINE_SQLITE_TRACE"))
    LONG_HOLD_MS = 100.0

    @property
    def busy(self) -> bool:
        """Some writer of this process holds the write lock right now."""
        return self._lock.locked()

    @staticmethod
    def _where() -> str:
        import traceback

        ours = [f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in traceback.extract_stack(limit=60)[:-3]
                if "site-packages" not in f.filename and "/lib/python" not in f.filename
                and not f.filename.startswith("<") and not f.filename.endswith("core/db.py")]
        return " > ".join(dict.fromkeys([ours[0], ours[-1]])) if ours else "?"

    def acquire(self, owner: object) -> None:
        started = time.perf_counter()
        with self._stats:
            self.waiting += 1
        try:
            got = self._acquire(started)
        finally:
            with self._stats:
                self.waiting -= 1
        if not got:
            with self._stats:
                self.timeouts += 1
            raise sqlite3.OperationalError(
                f"database is locked: no turn to write within {self.timeout:g} s (held since "
                f"{self._began_at or 'a transaction begun elsewhere'}; a unit of work opened inside another's write "
                "transaction in the same thread waits for itself)")
        now = time.perf_counter()
        self._owner, self._since = owner, now
        self._began_at = self._where() if self.trace else ""
        with self._stats:
            if len(self.waits) < 1_000_000:
                self.waits.append((now - started) * 1000)

    def _acquire(self, started: float) -> bool:
        """Wait for the turn; a holder whose transaction SQLite has already ended by another path
        than COMMIT or ROLLBACK through SQLAlchemy (an isolation-level change commits implicitly)
        passes its turn on."""
        while True:
            left = self.timeout - (time.perf_counter() - started)
            if left <= 0:
                return False
            if self._lock.acquire(timeout=min(left, 0.05)):
                return True
            holder = self._owner
            # (Held a moment at least: a new holder has the turn before its BEGIN IMMEDIATE runs.
            # Should a turn ever pass too early, SQLite's own lock still keeps writers apart.)
            if (holder is not None and time.perf_counter() - self._since > 0.05
                    and not getattr(holder, "in_transaction", True)):
                self.release(holder)

    def release(self, owner: object) -> None:
        with self._passing:
            if self._owner is not owner:
                return
            held = (time.perf_counter() - self._since) * 1000
            began_at = self._began_at if self.trace else ""
            self._owner = None
            self._lock.release()
        with self._stats:
            if len(self.holds) < 1_000_000:
                self.holds.append(held)
            if began_at and held >= self.LONG_HOLD_MS:
                count, longest = self.long_holds.get(began_at, (0, 0.0))
                self.long_holds[began_at] = (count + 1, max(longest, round(held, 1)))

    def figures(self) -> dict[str, float | int]:
        with self._stats:
            waits, holds, timeouts = sorted(self.waits), sorted(self.holds), self.timeouts

        def pct(values: list[float], q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))], 2) if values else 0.0

        return {"writes": len(waits), "timeouts": timeouts, "wait_p50_ms": pct(waits, 0.5),
                "wait_p99_ms": pct(waits, 0.99), "wait_max_ms": round(waits[-1], 2) if waits else 0.0,
                "hold_p50_ms": pct(holds, 0.5), "hold_p99_ms": pct(holds, 0.99),
                "hold_max_ms": round(holds[-1], 2) if holds else 0.0}


_GATES: dict[str, WriterGate] = {}


def writer_gate(engine: Engine) -> WriterGate | None:
    """The process's write lock for this SQLite database (None on other databases)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        key = f":memory:{id(engine.pool)}"
    else:
        key = str(Path(database).resolve())
    with _lock:
        return _GATES.setdefault(key, WriterGate())


def _sqlite_setup(engine: Engine) -> None:
    """Foreign keys on, WAL for concurrent readers, a busy timeout for other processes, and
    transactions begun by us (the pysqlite recipe) so writers start with `BEGIN IMMEDIATE`."""
    gate = writer_gate(engine)
    assert gate is not None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement is its own transaction (SQLite's busy timeout queues it)
        if not options.get(WRITER, False):
            conn.exec_driver_sql("BEGIN")
            return
        dbapi_connection = conn.connection.dbapi_connection
        gate.acquire(dbapi_connection)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.release(dbapi_connection)
            raise

    # The turn passes on once COMMIT or ROLLBACK has returned (not before, or the next writer
    # would meet SQLite's lock still held), and whenever a connection goes back to the pool.
    dialect = engine.dialect
    if not getattr(dialect, "_hotline_gated", False):
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                gate.release(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                gate.release(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]
        dialect._hotline_gated = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        gate.release(dbapi_connection)

    @event.listens_for(engine, "close")
    def _on_close(dbapi_connection: Any, _record: Any) -> None:
        gate.release(dbapi_connection)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
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
        # Sessions are writers unless declared readers (see WriterGate); a plain connection
        # from the engine (migrations, health checks) begins as a reader.
        _session_factory = (sessionmaker(bind=_as_writer(engine), expire_on_commit=False)
                            if engine is not None else None)


def _as_writer(engine: Engine) -> Engine:
    return engine.execution_options(**{WRITER: True}) if engine.dialect.name == "sqlite" else engine


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        from core.config import get_settings

        configure_engine(make_engine(get_settings().effective_database_url))
    assert _engine is not None
    return _engine


def new_session(*, reader: bool = False) -> Session:
    """A unit of work; a writer on SQLite (see WriterGate) unless `reader`."""
    get_engine()
    assert _session_factory is not None
    session = _session_factory()
    return read_only(session) if reader else session


@contextmanager
def session_scope(*, reader: bool = False) -> Iterator[Session]:
    """A unit of work for tasks and commands: commit on success, roll back on error. A reader
    must not write: on SQLite its write fails whenever another writer is busy."""
    session = new_session(reader=reader)
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
    """Make the session's next transaction a serialised writer on SQLite (`BEGIN IMMEDIATE`),
    the default for sessions; undoes `read_only`. On PostgreSQL row locks (`FOR UPDATE SKIP
    LOCKED`) do the job and this changes nothing. Call before the session has begun a transaction;
    a reader session is a reader again once that transaction ends."""
    return _bind_as(session, writer=True, once=True)


def become_writer(session: Session) -> Session:
    """A reader (a page being shown) that is about to write: what it read so far is committed,
    and it goes on as the serialised writer, reading afresh under the write lock. On SQLite a read
    transaction cannot safely turn into a write one; on PostgreSQL this only ends the transaction."""
    if session.in_transaction():
        session.commit()
    return write_locked(session)


def read_first(session: Session) -> Session:
    """Make the session's next transaction a plain reader on SQLite (`BEGIN`); once it ends the
    session is what it was again. For a look taken before slow work that must hold no lock (a
    password check), the writing that follows being a short transaction of its own."""
    return _bind_as(session, writer=False, once=True)


def read_only(session: Session) -> Session:
    """Make the session's next transactions plain readers on SQLite (`BEGIN`): they never wait
    for a writer, and must not write. For pages and checks that only read."""
    return _bind_as(session, writer=False)


_KIND = "hotline_session_kind"  # the bind a session returns to once a one-off writer transaction ends


def _bind_as(session: Session, *, writer: bool, once: bool = False) -> Session:
    engine = session.get_bind()
    if engine.dialect.name == "sqlite" and bool(engine.get_execution_options().get(WRITER, False)) != writer:
        if once:
            session.info.setdefault(_KIND, engine)
        session.bind = engine.execution_options(**{WRITER: writer})
    return session


@event.listens_for(Session, "after_transaction_end")
def _back_to_kind(session: Session, transaction: Any) -> None:
    """A reader made the writer for one transaction (`write_locked`) is a reader again after it,
    so a long-lived reader (a test's session) never keeps the write lock between its reads."""
    if transaction.parent is None and _KIND in session.info:
        session.bind = session.info.pop(_KIND)


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


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, as a Table (SQLAlchemy types `__table__` as any FROM clause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


_INSERTS_UNLESS_PRESENT: dict[tuple[str, str, str], Any] = {}


def insert_unless_present(session: Session, model: type[Base], *, key: str) -> Any:
    """`INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id` for the session's dialect, built
    once per dialect, table and key (a statement built per call is constructed and keyed again
    each time). Executed with a row's values, it returns the new id, or None where a row with
    that key exists."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    cache_key = (dialect, model.__tablename__, key)
    statement = _INSERTS_UNLESS_PRESENT.get(cache_key)
    if statement is None:
        table = table_of(model)
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c.id)
        _INSERTS_UNLESS_PRESENT[cache_key] = statement
    return statement


def affected_rows(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched (its result is a CursorResult, typed as a Result)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)


def add_as_loaded(session: Session, model: type[T], values: dict[str, Any]) -> T:
    """A row just written by a Core statement, put in the session as if loaded from `values`
    (give every column): no SELECT back and no change history to flush. The values go straight
    into the instance's dict, as the ORM does when it loads a row, rather than through each
    attribute's change tracking."""
    instance = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


def utcnow() -> datetime:
    return clock.now()
