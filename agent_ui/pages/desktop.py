"""The agent desktop (`/desktop`): presence, the incoming offer with the caller's card, the call
and its ticket form, wrap-up, my callbacks and my tickets. Every form posts and redirects without
JavaScript; with htmx the same endpoints answer with the panel that changed; live changes arrive
over the websocket (agent_ui.live)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agent_ui import desktop_view, i18n
from agent_ui.form_errors import describe
from agent_ui.security import TWILIO_PHONE_CONTENT_SECURITY_POLICY
from agent_ui.templating import is_htmx, render
from core import clock
from core.auth import AgentUser, ClientIP, DbSession
from core.errors import DomainError
from scheduling import notices as notice_service
from telephony import api as phone_api
from telephony import callbacks as callback_service
from telephony import presence as presence_service
from tickets import repeat_calls
from tickets import service as ticket_service

router = APIRouter()

PAGE = "desktop/page.html"
PHONE_ACTIONS = {"answer": ("offer", phone_api.answer), "decline": ("offer", phone_api.decline),
                 "hangup": ("call", phone_api.hangup)}
TEXT_LIMIT = 10_000
SUBJECT_LIMIT = 200


def phone_kind() -> str:
    """Which phone.js implementation the page loads: the demo's simulated carrier or Twilio's SDK."""
    try:
        from telephony.simulator import get_simulator

        get_simulator()
        return "simulator"
    except LookupError:
        return "twilio"


def _page(request: Request, session: DbSession, user: AgentUser, ip: str | None, *, status_code: int = 200,
          errors: dict[str, Any] | None = None, typed: dict[str, str] | None = None) -> Response:
    desktop_view.prepare_for_audit(session, desktop_view.PANELS)
    context = desktop_view.context(session, user, source_ip=ip, locale=i18n.locale_for(request))
    kind = phone_kind()
    context.update(errors=errors or {}, phone_kind=kind, typed=typed or {})
    response = render(request, PAGE, context, status_code=status_code,
                      block="desktop_main" if is_htmx(request) else None)
    if kind == "twilio":
        response.headers["Content-Security-Policy"] = TWILIO_PHONE_CONTENT_SECURITY_POLICY
    return response


def _panel(request: Request, session: DbSession, user: AgentUser, panel: str, *, status_code: int = 200,
           errors: dict[str, Any] | None = None, ip: str | None = None, **extra: Any) -> Response:
    desktop_view.prepare_for_audit(session, [panel])
    context = desktop_view.context(session, user, [panel], source_ip=ip, locale=i18n.locale_for(request))
    context.update(errors=errors or {}, **extra)
    return render(request, f"desktop/_{panel}.html", context, status_code=status_code)


def _done(request: Request, session: DbSession, user: AgentUser, panel: str) -> Response:
    """htmx gets the panel that changed; a plain form post goes back to the page (post-redirect-get)."""
    if is_htmx(request):
        return _panel(request, session, user, panel)
    return RedirectResponse("/desktop", status_code=303)


# The fields the desk's panels show, by the services' names of them.
PANEL_FIELDS = {"state": "state", "version": "version", "category": "category", "resolution": "resolution"}


def _refused(request: Request, session: DbSession, user: AgentUser, ip: str | None, panel: str,
             exc: DomainError, *, typed: dict[str, str] | None = None) -> Response:
    """The refusal beside its field, in the reader's language: the panel for htmx, else the page
    itself (not a redirect, so nothing typed or refused travels in a cookie or the address).
    `typed` is what the person wrote in the refused form, shown again rather than lost."""
    session.rollback()  # nothing half-done is committed; the panel is read afresh
    errors = {panel: describe(exc, fields=PANEL_FIELDS)}
    status = 422 if exc.code == "invalid" else 409
    if is_htmx(request):
        return _panel(request, session, user, panel, status_code=status, errors=errors, ip=ip, typed=typed or {})
    return _page(request, session, user, ip, status_code=status, errors=errors, typed=typed)


@router.get("/desktop", include_in_schema=False)
def desktop(request: Request, session: DbSession, user: AgentUser, ip: ClientIP) -> Response:
    return _page(request, session, user, ip)


@router.post("/desktop/presence", include_in_schema=False)
def change_presence(request: Request, session: DbSession, user: AgentUser, ip: ClientIP,
                    state: Annotated[str, Form()] = "") -> Response:
    try:
        presence_service.set_presence(session, user_id=user.id, state=state.strip())
    except DomainError as exc:
        return _refused(request, session, user, ip, "presence", exc)
    return _done(request, session, user, "presence")


@router.post("/desktop/notices/{notice_id}/acknowledge", include_in_schema=False)
def acknowledge_notice(request: Request, session: DbSession, user: AgentUser, ip: ClientIP,
                       notice_id: int) -> Response:
    try:
        notice_service.acknowledge(session, notice_id=notice_id, by=user)
    except DomainError as exc:
        return _refused(request, session, user, ip, "notices", exc)
    return _done(request, session, user, "notices")


@router.post("/desktop/phone/{action}", include_in_schema=False)
def phone(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, action: str) -> Response:
    """The browser phone's buttons without JavaScript (phone.js calls /api/v1/phone/* itself)."""
    if action not in PHONE_ACTIONS:
        return RedirectResponse("/desktop", status_code=303)
    panel, act = PHONE_ACTIONS[action]
    try:
        act(session=session, user=user)
    except DomainError as exc:
        return _refused(request, session, user, ip, panel, exc)
    return _done(request, session, user, panel)


def _typed(*, category: str, subject: str, notes: str, resolution: str) -> dict[str, str]:
    """The ticket form as the agent sent it, for the panel to show again after a refusal."""
    return {"category": category, "subject": subject[:SUBJECT_LIMIT], "notes": notes[:TEXT_LIMIT],
            "resolution": resolution[:TEXT_LIMIT]}


@router.post("/desktop/tickets/{ticket_id}", include_in_schema=False)
def save_ticket(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, ticket_id: int,
                version: Annotated[int, Form()], category: Annotated[str, Form()] = "",
                subject: Annotated[str, Form()] = "", notes: Annotated[str, Form()] = "",
                resolution: Annotated[str, Form()] = "") -> Response:
    """The autosave (htmx, as the agent types) and the plain Save button."""
    changes = {"category": category, "subject": subject.strip()[:SUBJECT_LIMIT] or None,
               "description": notes.strip()[:TEXT_LIMIT] or None,
               "resolution": resolution.strip()[:TEXT_LIMIT] or None}
    typed = _typed(category=category, subject=subject, notes=notes, resolution=resolution)
    try:
        before = ticket_service.get(session, ticket_id=ticket_id, user=user).category
        ticket = ticket_service.update(session, ticket_id=ticket_id, by=user, version=version, changes=changes)
    except DomainError as exc:
        session.rollback()
        if is_htmx(request):
            errors = {"ticket": describe(exc, fields=PANEL_FIELDS)}
            return render(request, "desktop/_ticket_status.html", {"errors": errors,
                                                                   "autosave": True}, status_code=409)
        return _refused(request, session, user, ip, "ticket", exc, typed=typed)
    if is_htmx(request):
        status = render(request, "desktop/_ticket_status.html", {"saved_at": clock.now(),
                                                                 "saved_version": ticket.version})
        if ticket.category == before:
            return status
        # The caller's card lists the caller's open tickets: it follows a new category at once
        # (not each save of the text, since every full view of a card is audited).
        card = _panel(request, session, user, "call", ip=ip, oob=True)
        headers = {k: v for k, v in status.headers.items() if k.lower() not in ("content-length", "content-type")}
        return HTMLResponse(bytes(status.body) + bytes(card.body), headers=headers)
    return RedirectResponse("/desktop", status_code=303)


@router.post("/desktop/tickets/{ticket_id}/resolve", include_in_schema=False)
def resolve_ticket(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, ticket_id: int,
                   version: Annotated[int, Form()], category: Annotated[str, Form()] = "",
                   subject: Annotated[str, Form()] = "", notes: Annotated[str, Form()] = "",
                   resolution: Annotated[str, Form()] = "") -> Response:
    changes = {"category": category, "subject": subject.strip()[:SUBJECT_LIMIT] or None,
               "description": notes.strip()[:TEXT_LIMIT] or None}
    try:
        ticket = ticket_service.update(session, ticket_id=ticket_id, by=user, version=version, changes=changes)
        ticket_service.transition(session, ticket_id=ticket_id, by=user, to="resolved", version=ticket.version,
                                  resolution=resolution.strip()[:TEXT_LIMIT])
    except DomainError as exc:
        typed = _typed(category=category, subject=subject, notes=notes, resolution=resolution)
        return _refused(request, session, user, ip, "ticket", exc, typed=typed)
    return _done(request, session, user, "ticket")


@router.post("/desktop/tickets/{ticket_id}/attach", include_in_schema=False)
def attach_call(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, ticket_id: int,
                to_ticket_id: Annotated[int, Form()]) -> Response:
    """A repeat caller: this call joins the customer's open ticket of the same kind; the new
    ticket is closed as a duplicate."""
    try:
        repeat_calls.attach_calls(session, ticket_id=ticket_id, to_ticket_id=to_ticket_id, by=user)
    except DomainError as exc:
        return _refused(request, session, user, ip, "ticket", exc)
    return _done(request, session, user, "ticket")


@router.post("/desktop/tickets/{ticket_id}/callback", include_in_schema=False)
def call_back(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, ticket_id: int) -> Response:
    """The hub dials the customer, then rings the agent: the authorisation is checked now (an
    expired one is refused whatever the page showed); the browser never sees the number."""
    try:
        callback_service.request_callback(session, ticket_id=ticket_id, user=user, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, ip, "callbacks", exc)
    return _done(request, session, user, "callbacks")
