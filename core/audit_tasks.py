"""The audit trail's checkpoints, taken by beat every minute and when a worker stops (the web
process takes one when it stops too, see hotline.app)."""

from __future__ import annotations

from typing import Any

from celery import signals

from core import audit_checkpoints
from core.db import session_scope
from core.worker import register_sweep


@register_sweep("core.audit_checkpoint", every_seconds=60)
def audit_checkpoint() -> int:
    """Note the trail's head outside the database (nothing when it has not moved)."""
    with session_scope() as session:
        return 1 if audit_checkpoints.write_checkpoint(session) is not None else 0


@signals.worker_shutdown.connect(weak=False, dispatch_uid="hotline.audit_checkpoint")
def _checkpoint_at_shutdown(**_kwargs: Any) -> None:
    checkpoint_now()


def checkpoint_now() -> None:
    """A checkpoint as a process stops; a failure is logged, never raised into the shutdown."""
    try:
        with session_scope() as session:
            audit_checkpoints.write_checkpoint(session)
    except Exception:  # noqa: BLE001 - the next minute's checkpoint or verify will tell
        audit_checkpoints.log.exception("audit checkpoint at shutdown failed")
