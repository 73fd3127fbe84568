"""Long work done in the background (imports, backups): a row per run that the work updates as it
goes, in short transactions of its own, so a page polls its progress and, when it fails, learns
why as a stable code it puts in words. The roster solver's runs (scheduling's RosterJob) follow
the same pattern with the solver's own figures, and the pages show both through one fragment."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import clock
from core.db import Base, TimestampMixin, session_scope
from core.errors import NotFound
from core.models import Role, User

log = logging.getLogger("hotline.jobs")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
WORKING = (QUEUED, RUNNING)
PROGRESS_EVERY_SECONDS = 0.5
# A run that said nothing for this long lost its worker; one never picked up, its queue.
SILENT_AFTER = timedelta(minutes=15)
UNCLAIMED_AFTER = timedelta(minutes=10)
# Why a run failed, for every kind (each kind adds its own codes, put in words by the pages).
LOST, UNEXPECTED = "job.lost", "job.unexpected"


class Job(TimestampMixin, Base):
    """One run of long work: `done` of `total` steps (rows, files), and at the end its `result`
    (counts, never personal data) or the code of its `failure`."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    failure: Mapped[str | None] = mapped_column(String(80))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_jobs_kind_id", "kind", "id"),)

    @property
    def working(self) -> bool:
        return self.status in WORKING


class JobNotFound(NotFound):
    """No such run."""


class JobFailed(Exception):
    """Raised by the work to end its run as failed with a stable code (and maybe figures)."""

    def __init__(self, code: str, **result: Any) -> None:
        super().__init__(code)
        self.code, self.result = code, result


# For the page that starts the work and the page that watches it ----------------------------

def create(session: Session, *, kind: str, by: User | None, params: dict[str, Any] | None = None) -> Job:
    """A queued run; the caller enqueues the work with its id once this commits."""
    job = Job(kind=kind, status=QUEUED, params=params or {}, created_by_id=by.id if by else None)
    session.add(job)
    session.flush()
    return job


def get(session: Session, *, job_id: int, kind: str | None = None) -> Job:
    job = session.get(Job, job_id)
    if job is None or (kind is not None and job.kind != kind):
        raise JobNotFound()
    return job


def get_for(session: Session, *, job_id: int, viewer: User) -> Job:
    """A run as its starter or an administrator may follow it; anyone else is told it does not
    exist (a run's result may be an administrator's business)."""
    job = get(session, job_id=job_id)
    if job.created_by_id != viewer.id and viewer.role != Role.admin.value:
        raise JobNotFound()
    return job


def latest(session: Session, *, kind: str) -> Job | None:
    return session.scalar(select(Job).where(Job.kind == kind).order_by(Job.id.desc()).limit(1))


# For the work ------------------------------------------------------------------------------

class Progress:
    """The work's progress callback, `progress(done, total)`: written to the row in a short
    transaction of its own, at most twice a second (and always with `force`)."""

    def __init__(self, job_id: int) -> None:
        self.job_id, self.last = job_id, 0.0
        self.seen: tuple[int, int | None] = (0, None)  # the latest heard, written with the end if not before

    def __call__(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        self.seen = (done, total)
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        with session_scope() as session:
            session.execute(update(Job).where(Job.id == self.job_id, Job.status == RUNNING)
                            .values(done=done, total=total, updated_at=clock.now()))


def run(job_id: int, work: Callable[[Job, Progress], dict[str, Any]]) -> str:
    """Run `work(job, progress)` for a queued run and record how it ended: its result, or the
    failure it raised (JobFailed's code; anything else is logged and shown as unexpected). The
    row says "running" before the work starts, in its own transaction, and the work holds no
    transaction open while it runs. A run already finished is left alone (a task delivered
    twice); returns the run's status."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            return "missing"
        if job.status != QUEUED:
            return job.status
        job.status, job.started_at = RUNNING, clock.now()
        session.flush()
        session.expunge(job)
    progress = Progress(job_id)
    try:
        result, status, failure = work(job, progress), DONE, None
    except JobFailed as exc:
        result, status, failure = exc.result, FAILED, exc.code
    except Exception:  # noqa: BLE001 - the person who started it sees that it failed, the log says why
        log.exception("%s job %s failed", job.kind, job_id)
        result, status, failure = {}, FAILED, UNEXPECTED
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id, Job.status == RUNNING).values(
            status=status, failure=failure, result=result, done=progress.seen[0], total=progress.seen[1],
            finished_at=clock.now(), updated_at=clock.now()))
    return status


def fail_lost(session: Session, *, now: datetime | None = None) -> int:
    """Runs whose worker went silent, or that no worker picked up, end as failed (`job.lost`):
    the person sees why and starts them again. Returns how many."""
    now = now or clock.now()
    lost = session.execute(update(Job).where(
        ((Job.status == RUNNING) & (Job.updated_at < now - SILENT_AFTER))
        | ((Job.status == QUEUED) & (Job.created_at < now - UNCLAIMED_AFTER))
    ).values(status=FAILED, failure=LOST, finished_at=now, updated_at=now))
    return int(lost.rowcount or 0)  # type: ignore[attr-defined]
