"""The team leaders' and supervisors' floor (`/floor`): the live wallboard, escalations, the
ticket backlog, callback authorisations (grant, extend, revoke) and today's figures, whose
charts read `/floor/figures.json`. Forms post and redirect without JavaScript."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from agent_ui import floor_view
from agent_ui.form_errors import describe
from agent_ui.pages import grants as grant_pages
from agent_ui.templating import is_htmx, render
from core import backup, jobs
from core.auth import ClientIP, DbSession, TeamLeaderUser
from core.errors import DomainError, ValidationFailed
from core.storage import StorageError
from tickets import grants as grant_service
from tickets import service as ticket_service

router = APIRouter()

PAGE = "floor/page.html"


def _backup_status(session: DbSession) -> dict[str, Any]:
    """The last good backup (verified, else the newest not yet verified), for the floor's footer,
    and why the latest backup failed, if it did."""
    latest = jobs.latest(session, kind=backup.JOB_KIND)
    failed = latest.failure if latest is not None and latest.status == jobs.FAILED else None
    try:
        found = backup.last_good()
    except (StorageError, backup.BackupError, ValueError):
        return {"state": "unreadable", "failed": failed}
    if found is None:
        return {"state": "none", "failed": failed}
    return {"state": "verified" if found.verify_ok else "unverified", "at": datetime.fromisoformat(found.created_at),
            "failed": failed}


def _page(request: Request, session: DbSession, user: TeamLeaderUser, *, status_code: int = 200,
          errors: dict[str, Any] | None = None, **extra: Any) -> Response:
    context = floor_view.context(session, user)
    context.update(errors=errors or {}, backup_status=_backup_status(session), **extra)
    return render(request, PAGE, context, status_code=status_code, block="floor_main" if is_htmx(request) else None)


def _grants(request: Request, session: DbSession, user: TeamLeaderUser, *, status_code: int = 200,
            errors: dict[str, Any] | None = None, **extra: Any) -> Response:
    """The authorisations panel for htmx, the whole page otherwise (a refusal is shown, not redirected)."""
    if not is_htmx(request):
        if status_code < 400:
            return RedirectResponse("/floor", status_code=303)
        return _page(request, session, user, status_code=status_code, errors=errors, **extra)
    context = floor_view.context(session, user, ["grants"])
    context.update(errors=errors or {}, **extra)
    return render(request, "floor/_grants.html", context, status_code=status_code)


def _refused(request: Request, session: DbSession, user: TeamLeaderUser, exc: DomainError,
             **extra: Any) -> Response:
    session.rollback()
    return _grants(request, session, user, status_code=422 if exc.code == "invalid" else 409,
                   errors={"grants": describe(exc, fields=grant_pages.FIELDS)}, **extra)


@router.get("/floor", include_in_schema=False)
def floor(request: Request, session: DbSession, user: TeamLeaderUser) -> Response:
    return _page(request, session, user)


@router.get("/floor/figures.json", include_in_schema=False)
def figures(session: DbSession, user: TeamLeaderUser) -> JSONResponse:
    return JSONResponse(floor_view.figures_json(session, user), headers={"Cache-Control": "no-store"})


@router.post("/floor/grants", include_in_schema=False)
def grant(request: Request, session: DbSession, user: TeamLeaderUser, ip: ClientIP,
          ticket_number: Annotated[str, Form()] = "", agent_id: Annotated[str, Form()] = "",
          duration_minutes: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
    typed: dict[str, Any] = {"ticket_number": ticket_number.strip()[:40], "reason": reason[:500],
             "agent_id": int(agent_id) if agent_id.isdigit() else None,
             "duration_minutes": int(duration_minutes) if duration_minutes.isdigit() else None}
    try:
        if not typed["ticket_number"]:
            raise ValidationFailed("Give the ticket's number.", field="ticket_number")
        if typed["agent_id"] is None:
            raise ValidationFailed("Choose an agent.", field="agent_id")
        ticket = ticket_service.get_by_number(session, number=typed["ticket_number"], user=user)
        if ticket.customer_id is None:
            raise ValidationFailed("This ticket has no customer.", field="customer_id")
        grant_service.create_grant(session, customer_id=ticket.customer_id, agent_id=typed["agent_id"],
                                   reason=reason, by=user, ticket_id=ticket.id,
                                   duration_minutes=typed["duration_minutes"], source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, exc, grant_form=typed)
    return _grants(request, session, user, granted=True)


@router.post("/floor/grants/{grant_id}/extend", include_in_schema=False)
def extend(request: Request, session: DbSession, user: TeamLeaderUser, ip: ClientIP, grant_id: int,
           duration_minutes: Annotated[int, Form()] = 0) -> Response:
    try:
        grant_service.extend_grant(session, grant_id=grant_id, by=user, duration_minutes=duration_minutes or None,
                                   source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, exc)
    return _grants(request, session, user, granted=True)


@router.post("/floor/grants/{grant_id}/revoke", include_in_schema=False)
def revoke(request: Request, session: DbSession, user: TeamLeaderUser, ip: ClientIP, grant_id: int) -> Response:
    try:
        grant_service.revoke_grant(session, grant_id=grant_id, by=user, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, exc)
    return _grants(request, session, user, granted=True)
