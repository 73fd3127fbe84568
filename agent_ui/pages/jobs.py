"""Long work's progress (`/jobs/{id}`): the fragment a page polls every second while an import or
a backup it started goes on (core.jobs), for the person who started it or an administrator."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from agent_ui.templating import is_htmx, render
from core import jobs
from core.auth import CurrentUser, DbSession

router = APIRouter()

# Where each kind of work is started and shown in a whole page.
HOME = {"purchase_import": "/admin/lifecycle", "backup": "/admin/backups"}


@router.get("/jobs/{job_id}", include_in_schema=False)
def progress(request: Request, session: DbSession, user: CurrentUser, job_id: int) -> Response:
    job = jobs.get_for(session, job_id=job_id, viewer=user)
    if not is_htmx(request):
        return RedirectResponse(HOME.get(job.kind, "/"), status_code=303)
    return render(request, "jobs/_progress.html", {"job": job})
