"""Beat's backups (core.backup): made and verified when the newest is older than the interval."""

from __future__ import annotations

from core import backup
from core.worker import register_sweep


@register_sweep("core.backup", every_seconds=15 * 60)
def scheduled_backup() -> str | None:
    """A backup when one is due (HOTLINE_BACKUP_INTERVAL_HOURS), verified at once; keeps the newest N."""
    return backup.run_scheduled()
