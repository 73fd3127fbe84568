"""Backups (`/admin/backups`): the backups kept (made on beat's schedule or here), each with its
last check, and a backup made now, whose progress the page follows and whose failure it explains
(`core.backup` makes and verifies them as runs of long work, `core.jobs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_ui.pages import admin_common as common
from core import backup, jobs
from core.auth import AdminUser, DbSession
from core.storage.base import StorageError

router = APIRouter()

HERE = "/admin/backups"


def _kept() -> tuple[list[dict[str, Any]], bool]:
    """The backups kept, newest first, and whether the storage could be read."""
    try:
        found = backup.list_backups()
    except (StorageError, backup.BackupError, ValueError):
        return [], False
    return [{"id": b.id, "at": datetime.fromisoformat(b.created_at), "recordings": b.recordings,
             "size_mb": b.size_bytes / 1e6, "verify_ok": b.verify_ok} for b in found], True


@router.get("/admin/backups", include_in_schema=False)
def backups_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    kept, readable = _kept()
    context = {"backups": kept, "readable": readable, "job": jobs.latest(session, kind=backup.JOB_KIND)}
    return common.page(request, "admin/backups.html", context, push_url=HERE)


@router.post("/admin/backups", include_in_schema=False)
def back_up_now(request: Request, session: DbSession, user: AdminUser) -> Response:
    latest = jobs.latest(session, kind=backup.JOB_KIND)
    if latest is not None and latest.working:
        return common.done(HERE, "backup_running")
    backup.start(session, by=user)
    return common.done(HERE, "backup_started")
