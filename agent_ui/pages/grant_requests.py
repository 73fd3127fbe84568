"""Asking for a callback authorisation (`/authorisations/requests`): an agent asks from a ticket or
a customer's (masked) card with a reason; the people who may grant it (tickets.grant_requests)
find it here and in their reminders, and grant it with a window or decline it with a reason;
the agent reads the outcome here. The customer appears masked; the number is never shown."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from agent_ui.form_errors import describe
from agent_ui.pages import grants as grant_pages
from agent_ui.templating import is_htmx, render
from core import clock
from core.auth import AgentUser, ClientIP, DbSession
from core.directory import staff_names
from core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from core.models import User
from tickets import grant_requests as request_service
from tickets import grants as grant_service
from tickets import service as ticket_service
from tickets import visibility

router = APIRouter()

PAGE = "grants/requests.html"
ASK_FIELDS = {"reason": "reason", "customer_id": "reason", "ticket_id": "reason"}
DECIDE_FIELDS = {"duration_minutes": "duration_minutes", "decline_reason": "decline_reason", "reason": "decline_reason"}


def ask_context(session: Session, user: User, customer_id: int | None) -> dict[str, Any]:
    """What the ask form beside a ticket or a customer's card needs: whether `user` makes
    callbacks, holds a live authorisation already, and their latest request's state."""
    if customer_id is None or user.role not in grant_service.GRANTEE_ROLES:
        return {"can_ask": False}
    live = grant_service.live_grant(session, customer_id=customer_id, agent_id=user.id)
    latest = request_service.latest_for(session, customer_id=customer_id, agent_id=user.id)
    state = latest.state() if latest is not None else None
    decider = None
    if latest is not None and latest.decided_by_id is not None:
        found = staff_names(session, {latest.decided_by_id}).get(latest.decided_by_id)
        decider = found.display_name if found is not None else latest.decided_by_name
    return {"can_ask": live is None and state != "pending", "ask_live": live is not None,
            "ask_latest": latest, "ask_state": state, "ask_decider": decider}


def _rows(session: Session, requests: list[Any]) -> list[dict[str, Any]]:
    people = staff_names(session, {r.agent_id for r in requests} | {r.decided_by_id for r in requests
                                                                     if r.decided_by_id})
    cards = visibility.masked_cards(session, customer_ids={r.customer_id for r in requests})
    numbers = ticket_service.numbers_of(session, ticket_ids={r.ticket_id for r in requests if r.ticket_id})
    now = clock.now()
    def name(user_id: int | None, fallback: str | None) -> str | None:
        return people[user_id].display_name if user_id in people else fallback

    return [{"request": r, "state": r.state(now), "agent": name(r.agent_id, "?"),
             "decider": name(r.decided_by_id, r.decided_by_name), "card": cards.get(r.customer_id),
             "number": numbers.get(r.ticket_id) if r.ticket_id else None} for r in requests]


def _page(request: Request, session: DbSession, user: User, *, status_code: int = 200,
          errors: dict[str, Any] | None = None, typed: dict[str, Any] | None = None, saved: str = "") -> Response:
    context = {
        "now": clock.now(), "waiting": _rows(session, request_service.waiting_for(session, user=user)),
        "mine": _rows(session, request_service.mine(session, user=user)),
        "can_grant": grant_service.may_grant_at_all(session, by=user),
        "errors": errors or {}, "typed": typed or {}, "saved": saved,
        **grant_pages.grant_form_context(session, user),
    }
    return render(request, PAGE, context, status_code=status_code, block="requests_main" if is_htmx(request) else None)


def _done(request: Request, session: DbSession, user: User, saved: str) -> Response:
    if is_htmx(request):
        return _page(request, session, user, saved=saved)
    return RedirectResponse(f"/authorisations/requests?saved={saved}", status_code=303)


def _refused(request: Request, session: DbSession, user: User, form: str, exc: DomainError,
             typed: dict[str, Any] | None = None) -> Response:
    session.rollback()
    return _page(request, session, user, status_code=refusal_status(exc),
                 errors={form: describe(exc, fields=DECIDE_FIELDS)}, typed=typed)


def refusal_status(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    return 422 if exc.code == "invalid" else 403 if isinstance(exc, PermissionDenied) else 409


@router.get("/authorisations/requests", include_in_schema=False)
def requests_page(request: Request, session: DbSession, user: AgentUser, saved: str = "") -> Response:
    return _page(request, session, user, saved=saved if saved in ("granted", "declined", "withdrawn") else "")


@router.post("/authorisations/requests/{request_id}/grant", include_in_schema=False)
def grant(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, request_id: int,
          duration_minutes: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> Response:
    minutes = int(duration_minutes) if duration_minutes.isdigit() else None
    typed = {"duration_minutes": minutes, "note": note[:200]}
    try:
        if duration_minutes.strip() and minutes is None:
            raise ValidationFailed("Choose a duration.", field="duration_minutes")
        request_service.grant(session, request_id=request_id, by=user, duration_minutes=minutes, note=note,
                              source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, f"request-{request_id}", exc, {f"request-{request_id}": typed})
    return _done(request, session, user, "granted")


@router.post("/authorisations/requests/{request_id}/decline", include_in_schema=False)
def decline(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, request_id: int,
            decline_reason: Annotated[str, Form()] = "") -> Response:
    try:
        request_service.decline(session, request_id=request_id, by=user, reason=decline_reason[:500], source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, f"request-{request_id}", exc,
                        {f"request-{request_id}": {"decline_reason": decline_reason[:500]}})
    return _done(request, session, user, "declined")


@router.post("/authorisations/requests/{request_id}/withdraw", include_in_schema=False)
def withdraw(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, request_id: int) -> Response:
    try:
        request_service.withdraw(session, request_id=request_id, by=user, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, f"mine-{request_id}", exc)
    return _done(request, session, user, "withdrawn")
