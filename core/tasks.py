"""Core's own Celery tasks: the worker heartbeat."""

from __future__ import annotations

import socket

from celery import Task

from core import jobs
from core.db import session_scope
from core.worker import HEARTBEAT_SECONDS, record_heartbeat, register_sweep


@register_sweep("core.heartbeat", every_seconds=HEARTBEAT_SECONDS, bind=True)
def heartbeat(self: Task) -> None:
    """Record that this worker is alive and consuming."""
    with session_scope() as session:
        record_heartbeat(session, name=self.request.hostname or socket.gethostname())


@register_sweep("core.sweep_jobs", every_seconds=300)
def sweep_jobs() -> int:
    """Long work whose worker went silent, or that no worker picked up, ends as failed with the
    reason, so the page that follows it stops saying "working" (core.jobs)."""
    with session_scope() as session:
        return jobs.fail_lost(session)
