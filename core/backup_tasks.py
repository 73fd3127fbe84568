"""Beat's backups (core.backup): made and verified when the newest is older than the interval."""

from __future__ import annotations

from core import backup
from core.worker import idempotent_task, register_sweep


@register_sweep("core.backup", every_seconds=15 * 60)
def scheduled_backup() -> str | None:
    """A backup when one is due (HOTLINE_BACKUP_INTERVAL_HOURS), verified at once; keeps the newest N."""
    return backup.run_scheduled()


@idempotent_task(name=backup.JOB_TASK)
def backup_now(job_id: int) -> str:
    """A backup an administrator asked for on the backups page (a run already finished is left alone)."""
    return backup.run_job(job_id)
