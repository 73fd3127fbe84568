"""Scheduling's Celery tasks: solving a roster job, a sweep that re-queues jobs a lost task left
queued or half-run, and the reminders' sweeps (handovers not accepted, medical certificates due
and overdue). Every one is idempotent; the logic is in the services."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select

from core import clock
from core.db import session_scope
from core.worker import idempotent_task, register_sweep
from scheduling import handover, leave

STALE_AFTER = timedelta(minutes=15)


@idempotent_task(name="scheduling.solve_roster")
def solve_roster(job_id: int) -> str:
    from scheduling.roster import run_job

    return run_job(job_id)


@register_sweep("scheduling.sweep_roster_jobs", every_seconds=300)
def sweep_roster_jobs() -> int:
    """Queued jobs older than a few minutes, and running jobs whose solver went silent past the
    longest time limit, are solved again (run_job is idempotent)."""
    from scheduling.models import RosterJob

    now = clock.now()
    with session_scope() as session:
        ids = list(session.scalars(select(RosterJob.id).where(or_(
            (RosterJob.status == "queued") & (RosterJob.created_at < now - timedelta(minutes=2)),
            (RosterJob.status == "running") & (RosterJob.updated_at < now - STALE_AFTER),
        )).limit(20)))
    for job_id in ids:
        solve_roster.delay(job_id)
    return len(ids)


@register_sweep("scheduling.sweep_handovers", every_seconds=300)
def sweep_handovers() -> int:
    """Handovers not accepted `handover_accept_minutes` after the shift change are reminded."""
    with session_scope() as session:
        return handover.remind_unaccepted(session)


@register_sweep("scheduling.sweep_certificates", every_seconds=3600)
def sweep_certificates() -> int:
    """Medical certificates: reminded on the due day, the leave counted as absence after it."""
    with session_scope() as session:
        return leave.enforce_certificates(session)
