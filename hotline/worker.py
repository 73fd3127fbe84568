"""Celery for the whole hub: every package's task modules, for `hotline worker`, `hotline beat`
and the embedded worker inside `hotline serve`."""

from __future__ import annotations

from celery import Celery

from core import passwords
from core.config import Settings
from core.worker import EmbeddedWorker, configure_celery, start_embedded
from hotline import hooks

TASK_MODULES = (
    "core.audit_tasks",
    "core.backup_tasks",
    "tickets.tasks",
    "telephony.tasks",
    "telephony.control_tasks",
    "scheduling.tasks",
    "qa.tasks",
)


def configure(settings: Settings) -> Celery:
    passwords.configure(settings)
    hooks.wire()
    return configure_celery(settings, task_modules=TASK_MODULES)


def start(settings: Settings) -> EmbeddedWorker:
    """The embedded worker and beat, in this process."""
    return start_embedded(settings, task_modules=TASK_MODULES)
