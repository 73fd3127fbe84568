"""The one Celery app: configuration from settings, tasks enqueued after commit, idempotent tasks
and the sweeps beat runs, the embedded worker and beat, and the worker heartbeat table."""

from __future__ import annotations

import importlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, Task, signals
from celery.app import trace as celery_trace
from celery.beat import EmbeddedService, Scheduler
from celery.canvas import Signature
from celery.platforms import EX_OK
from celery.utils.nodenames import default_nodename
from celery.worker import state as worker_state
from celery.worker.consumer import Consumer
from kombu.utils.json import dumps as json_dumps
from sqlalchemy import String, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import clock
from core.beat_lock import BeatLock, Holding, beat_lock_for
from core.config import Settings, get_settings
from core.db import Base, on_commit

log = logging.getLogger("hotline.worker")

# Core's own task modules. The composition root (hotline/worker.py) adds every package's.
TASK_MODULES: tuple[str, ...] = ("core.tasks",)
# Not Celery's default "celery", so the hub can share a Redis with other Celery apps.
DEFAULT_QUEUE = "hotline"
# The in-memory transport ignores the host; naming one keeps kombu from warning, at every start,
# that it fell back to "localhost".
EMBEDDED_BROKER = "memory://localhost/"
HEARTBEAT_SECONDS = 30

celery_app = Celery("hotline")


def celery_config(settings: Settings, *, task_modules: Iterable[str] = (),
                  queue: str = DEFAULT_QUEUE) -> dict[str, Any]:
    """Celery settings for these hub settings; every task module of TASK_MODULES is included."""
    broker = settings.broker_url or EMBEDDED_BROKER
    conf: dict[str, Any] = dict(
        broker_url=broker,
        broker_connection_retry_on_startup=True,
        # No result backend: tasks report through the database, never through return values.
        result_backend=None,
        task_ignore_result=True,
        result_expires=None,  # otherwise beat adds a daily cleanup task for a backend we lack
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone="UTC",
        include=tuple(dict.fromkeys((*TASK_MODULES, *task_modules))),
        task_default_queue=queue,
        # Only tasks declared idempotent acknowledge late (see idempotent_task).
        task_acks_late=False,
        # With late acks a prefetched message waits behind a long task on a busy worker.
        worker_prefetch_multiplier=1,
        # On a lost broker connection, late-acked tasks are cancelled and redelivered, which is
        # safe because only idempotent tasks ack late.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Survives a broker lost under a running late-acked task (see HubConsumer).
        worker_consumer="core.worker:HubConsumer",
        beat_scheduler="core.worker:SweepScheduler",
    )
    if broker.startswith("memory://"):
        # The in-memory transport polls; its default second is a second of latency per task.
        conf["broker_transport_options"] = {"polling_interval": 0.05}
    elif broker.startswith(("redis://", "rediss://", "sentinel://")):
        # A late-acknowledged task whose worker died (kill -9) stays unacknowledged in Redis and
        # is delivered again after the visibility timeout: kombu's default hour would leave a
        # caller waiting that long. Sized to the longest task (a recording's copy with its
        # retries); the sweeps repair any task's effect sooner (docs/reconcile.md).
        timeout = settings.task_visibility_timeout_seconds
        conf["broker_transport_options"] = {"visibility_timeout": timeout}
    return conf


# Read lazily, from the environment only, for `celery -A core.worker:celery_app ...`; the app
# factory, the CLI and tests call configure_celery() with the settings they use.
celery_app.add_defaults(lambda: celery_config(Settings()))


def configure_celery(settings: Settings, *, task_modules: Iterable[str] = (), queue: str = DEFAULT_QUEUE) -> Celery:
    """Point the app at the settings' broker (memory:// without one). Call while no worker of
    this process is running."""
    celery_app.conf.update(celery_config(settings, task_modules=task_modules, queue=queue))
    # Celery caches the broker pool and the queue declarations on first use; drop both so a
    # reconfiguration takes effect. (Private attributes, checked by the tests on upgrades.)
    celery_app._pool = None
    celery_app.__dict__.pop("amqp", None)
    return celery_app


# The worker's consumer ---------------------------------------------------------------------


class HubConsumer(Consumer):
    """Celery's consumer, but a broker lost while a late-acknowledged task runs no longer ends the
    worker. On a lost connection Celery first collects the connection (kombu drops the
    transport's link to its settings) and then closes it; the close puts the running task's
    unacknowledged message back, which needs a Redis client built from those settings, and
    raises AttributeError. The task, which a thread pool cannot cancel, then finishes and acks
    its message on the dead channel: the same AttributeError. Neither is a connection error, so
    each escapes Celery's guard and the worker stops for good ("Unrecoverable error") after a
    Redis restart that finds a task running (seen in the fault run: no tasks and no sweeps for
    the rest of the run). Here both are best effort: the message stays unacknowledged in Redis,
    which delivers it again after the visibility timeout (a restarted Redis has lost it anyway,
    and the sweeps redo its effect)."""

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        if connection is not None:
            close = connection.close

            def close_quietly() -> None:
                try:
                    close()
                except Exception as error:  # noqa: BLE001 - the connection is dead either way
                    log.warning("worker: the lost broker connection did not close cleanly (%r); reconnecting",
                                error)

            # Celery calls `connection.close` on this very object: the instance attribute wins.
            connection.close = close_quietly
        super().on_connection_error_after_connected(exc)

    def call_soon_ack(self, p: Any, *args: Any, **kwargs: Any) -> Any:
        return super().call_soon_ack(_settle_quietly, p, *args, **kwargs)


def _settle_quietly(settle: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Ack or reject a message; one that cannot be settled (its channel died with the broker
    connection) is left to the broker's redelivery instead of ending the worker."""
    try:
        settle(*args, **kwargs)
    except OSError:
        raise  # a broken pipe on a live connection: Celery reconnects, as it would without this guard
    except Exception as error:  # noqa: BLE001 - kombu's own guard lets only connection errors through
        log.warning("worker: could not settle a message of a lost broker connection (%r); the broker delivers "
                    "it again after the visibility timeout", error)


# Declaring and enqueueing tasks ---------------------------------------------------------


def idempotent_task(*args: Any, **options: Any) -> Any:
    """`celery_app.task` for a task that is safe to run twice: it is acknowledged only after it
    finishes and re-queued if its worker dies mid-run, so a crash never loses it. Use it bare
    or with Celery's task options: `@idempotent_task(name="tickets.fetch_recording")`."""
    options.setdefault("acks_late", True)
    options.setdefault("reject_on_worker_lost", True)
    options["idempotent"] = True
    return celery_app.task(*args, **options)


def enqueue(session: Session, task: Task | Signature, /, *args: Any, **kwargs: Any) -> None:
    """Send `task(*args, **kwargs)` once the session commits; nothing if it rolls back. Tasks
    take ids and plain values; they are checked now, so a mistake fails inside the transaction."""
    signature = task.clone(args, kwargs) if isinstance(task, Signature) else task.si(*args, **kwargs)
    try:
        json_dumps((signature.args, signature.kwargs))
    except TypeError as exc:
        raise TypeError(f"arguments of task {signature.task} must be ids and plain values: {exc}") from None
    on_commit(session, signature.apply_async)


def enqueue_named(session: Session, name: str, /, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """`enqueue` by the task's registered name, so a service never imports a tasks module (the
    tasks module imports the services, never the other way round). With `countdown`, the task
    runs that many seconds after the commit at the earliest (eager runs: at once)."""
    if name not in celery_app.tasks:
        # Eager runs (tests) call the task in this process: its module must be loaded. The
        # configured task modules (`include`) are imported once, on first need.
        import_task_modules()
    signature = celery_app.signature(name, args=args, kwargs=kwargs, immutable=True)
    if countdown is not None:
        signature.set(countdown=countdown)
    try:
        json_dumps((signature.args, signature.kwargs))
    except TypeError as exc:
        raise TypeError(f"arguments of task {name} must be ids and plain values: {exc}") from None
    on_commit(session, signature.apply_async)


# Sweeps: periodic tasks that redo what a lost task left undone ----------------------------


@dataclass(frozen=True)
class Sweep:
    name: str
    every_seconds: int


SWEEPS: dict[str, Sweep] = {}


def register_sweep(name: str, every_seconds: int, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare an idempotent task, named `name`, that beat runs when it starts and then every
    `every_seconds`. Keep it cheap when there is nothing to do: it runs whether or not work
    was lost."""
    if every_seconds <= 0:
        raise ValueError("a sweep needs a positive period")

    def decorate(fun: Callable[..., Any]) -> Any:
        task = idempotent_task(name=name, **options)(fun)
        SWEEPS[name] = Sweep(name=name, every_seconds=int(every_seconds))
        return task

    return decorate


def build_beat_schedule() -> dict[str, dict[str, Any]]:
    """Celery's `beat_schedule` for the registered sweeps (import the task modules first)."""
    return {
        sweep.name: {
            "task": sweep.name,
            "schedule": timedelta(seconds=sweep.every_seconds),
            # While no worker consumes, beat keeps sending; a copy older than one period is
            # dropped unrun, so a returning worker does not run a backlog of identical sweeps.
            "options": {"expires": sweep.every_seconds},
        }
        for sweep in SWEEPS.values()
    }


def import_task_modules() -> None:
    celery_app.loader.import_default_modules()
    # The loader remembers the modules it saw first (a cached property): those configure_celery
    # added since are imported here, so a task enqueued by name is always found.
    for module in celery_app.conf.include or ():
        importlib.import_module(module)


class SweepScheduler(Scheduler):
    """Beat's scheduler: the static `beat_schedule` plus every registered sweep, kept in memory.
    Each sweep is due as soon as beat starts, so work lost while beat was down is redone first,
    and there is no schedule file to keep. Only the beat holding the beat lock (core.beat_lock)
    sends anything: a second beat stands by and takes over when the first is gone."""

    lock: BeatLock | None = None
    state = "starting"  # then "holding", "standby" or "unreachable", logged at each change

    def setup_schedule(self) -> None:
        import_task_modules()
        super().setup_schedule()
        now = self.app.now()
        for name, entry in build_beat_schedule().items():
            self.schedule[name] = self.Entry(
                **entry, name=name, app=self.app, last_run_at=now - entry["schedule"]
            )
        self.lock = beat_lock_for(get_settings(), namespace=self.app.conf.task_default_queue or DEFAULT_QUEUE)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        lock = self.lock
        if lock is None:
            return super().tick(*args, **kwargs)
        try:
            holding = lock.hold()
        except Exception as exc:
            # A stop request landing inside the lock's Redis call surfaces as another error
            # (seen: "I/O operation on closed file"); it must still stop beat, cleanly.
            if _stop_requested(exc):
                raise SystemExit() from exc
            raise
        if holding is Holding.OTHER:
            if self.state != "standby":
                log.warning("beat: another beat holds the %s; standing by", lock.describe())
                self.state = "standby"
            return lock.retry_seconds
        if holding is Holding.UNREACHABLE:
            # Nobody can tell who holds the lock, and tasks could not be sent anyway.
            if self.state != "unreachable":
                log.warning("beat: cannot reach the %s (%s); sending nothing until it answers",
                            lock.describe(), lock.error)
                self.state = "unreachable"
            return lock.retry_seconds
        if self.state != "holding":
            # Taking over from another beat, or holding again once the broker answers, is news;
            # taking the lock at start is the usual case.
            level = logging.INFO if self.state == "starting" else logging.WARNING
            log.log(level, "beat: holding the %s; sending periodic tasks", lock.describe())
            self.state = "holding"
        return min(super().tick(*args, **kwargs), lock.renew_seconds)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        """As Celery's, but a stop request (SIGINT/SIGTERM raise SystemExit in beat) that lands
        while a task is being sent stops beat: Celery turns the send's failure into an error it
        logs and goes on ticking, so beat ignored the request until it was killed."""
        try:
            return super().apply_async(entry, producer, advance, **kwargs)
        except Exception as exc:
            if _stop_requested(exc):
                raise SystemExit() from exc
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.lock is not None:
                self.lock.release()
                self.state = "starting"


def _stop_requested(exc: BaseException) -> bool:
    """Whether a stop request (SystemExit, KeyboardInterrupt) is somewhere in `exc`'s chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, (SystemExit, KeyboardInterrupt)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


# The embedded worker and beat --------------------------------------------------------------


def _hub_configures_logging(**_kwargs: Any) -> None:
    """A `setup_logging` receiver: its presence stops Celery from reconfiguring the root logger
    of a process whose logging core.logs already set up."""


class EmbeddedWorker:
    """A Celery worker (solo pool, one task at a time) and, optionally, beat, each in a daemon
    thread of this process.

    The worker is Celery's WorkController, not `app.Worker`: that one is the worker as a program
    (`celery worker`), which prints its banner and checks the process's privileges, warning when
    it runs as root. Here the worker is a part of the web process, whose user is the server's
    concern (`hotline worker`, a program of its own, keeps the check)."""

    def __init__(self, *, hostname: str, beat: bool = True, loglevel: str = "INFO") -> None:
        self.hostname = hostname
        self._ready = threading.Event()
        # What the program's worker does before it starts, bar the privilege check: tasks run
        # under this app and see this worker's name (`task.request.hostname`).
        celery_trace.setup_worker_optimizations(celery_app, default_nodename(hostname))
        self.worker = celery_app.WorkController(
            hostname=hostname,
            pool="solo",
            concurrency=1,
            loglevel=loglevel,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            ready_callback=self._on_ready,
        )
        self._worker_thread = threading.Thread(target=self.worker.start, name="hotline-worker", daemon=True)
        # The scheduler is named here: EmbeddedService ignores `beat_scheduler` and would
        # otherwise keep a schedule file in the working directory.
        self.beat = EmbeddedService(celery_app, thread=True, scheduler_cls=SweepScheduler) if beat else None

    def _on_ready(self, consumer: Any) -> None:
        self.worker.on_consumer_ready(consumer)
        self._ready.set()

    def start(self, timeout: float = 15.0) -> EmbeddedWorker:
        self._worker_thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"the embedded worker did not start within {timeout:.0f} s")
        if self.beat is not None:
            self.beat.start()
        return self

    @property
    def running(self) -> bool:
        return self._worker_thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop beat and the worker (which finishes its current task first), waiting at most
        `timeout`. Both are told first and joined after, because each takes up to a couple
        of seconds to notice: beat sleeps up to 1 s, the worker polls the broker for 2 s."""
        beat_running = self.beat is not None and self.beat.is_alive()
        if beat_running:
            # Not beat.stop(): it waits without a bound, forever if the service never ran.
            self.beat.service.stop(wait=False)  # type: ignore[union-attr]
        # Not worker.stop() from this thread: closing the broker connection under the worker's
        # own loop races with it (on Redis it can hang reading a reply the loop already took).
        # The flag is what Celery's SIGTERM handler sets; the worker's loop checks it and shuts
        # itself down in its own thread. It is process-wide, hence reset once the worker is gone.
        worker_state.should_stop = EX_OK
        deadline = time.monotonic() + timeout
        try:
            for thread in (self.beat if beat_running else None, self._worker_thread):
                if thread is not None and thread.is_alive():
                    thread.join(max(0.0, deadline - time.monotonic()))
                    if thread.is_alive():
                        log.warning("embedded %s did not stop within %.0f s", thread.name, timeout)
        finally:
            if not self._worker_thread.is_alive():
                worker_state.should_stop = None


def start_embedded(
    settings: Settings,
    *,
    beat: bool = True,
    task_modules: Iterable[str] = (),
    queue: str = DEFAULT_QUEUE,
    hostname: str | None = None,
) -> EmbeddedWorker:
    """Run tasks and sweeps inside this process (the embedded mode), on memory:// unless the
    settings name a broker. Returns once the worker consumes; call `.stop()` on shutdown."""
    configure_celery(settings, task_modules=task_modules, queue=queue)
    celery_app.conf.update(
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_enable_remote_control=False,  # nobody inspects a worker living inside the web process
    )
    signals.setup_logging.connect(_hub_configures_logging, weak=False, dispatch_uid="hotline.embedded")
    import_task_modules()
    name = hostname or f"hotline-embedded@{socket.gethostname()}"
    return EmbeddedWorker(hostname=name, beat=beat).start()


# Production entry points (the `hotline worker` and `hotline beat` commands) ----------------


def run_worker(argv: Sequence[str] = (), *, settings: Settings | None = None, task_modules: Iterable[str] = ()) -> int:
    """Run `celery worker` in the foreground with Celery's own options (`-c 4`, `-Q hotline`,
    `-n name@%h`); SIGTERM lets the running tasks finish. Returns the exit code."""
    configure_celery(settings or get_settings(), task_modules=task_modules)
    return celery_app.start(["worker", *argv]) or 0


def run_beat(argv: Sequence[str] = (), *, settings: Settings | None = None, task_modules: Iterable[str] = ()) -> int:
    """Run `celery beat` in the foreground; run exactly one per deployment."""
    configure_celery(settings or get_settings(), task_modules=task_modules)
    return celery_app.start(["beat", *argv]) or 0


# Heartbeat ----------------------------------------------------------------------------------


class WorkerHeartbeat(Base):
    """When each worker last ran `core.heartbeat`, so /healthz can tell whether tasks run."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    last_seen: Mapped[datetime]


def record_heartbeat(session: Session, *, name: str) -> None:
    """Upsert the worker's row in one statement, so a task run twice or two runs racing each
    leave a single row."""
    dialect = session.get_bind().dialect.name
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(WorkerHeartbeat)
    elif dialect == "sqlite":
        statement = sqlite.insert(WorkerHeartbeat)
    else:  # pragma: no cover - the hub runs on PostgreSQL and SQLite only
        raise NotImplementedError(f"no heartbeat upsert for {dialect}")
    statement = statement.values(name=name, last_seen=clock.now())
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[WorkerHeartbeat.name], set_={"last_seen": statement.excluded.last_seen}
        )
    )


def last_heartbeat(session: Session) -> datetime | None:
    """The latest heartbeat of any worker, or None if no worker ever ran one."""
    return session.scalar(select(func.max(WorkerHeartbeat.last_seen)))


def worker_alive(session: Session, *, within_seconds: int = 3 * HEARTBEAT_SECONDS) -> bool:
    seen = last_heartbeat(session)
    return seen is not None and clock.now() - seen <= timedelta(seconds=within_seconds)
