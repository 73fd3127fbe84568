"""Callback authorisations (`/authorisations`): the customer's site manager, a supervisor of that
site or the center head grants one for a ticket's customer with a reason and a duration, extends
or revokes it; team leaders watch their team's. Each one's state with a countdown. The customer
appears masked; the number is never on these pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from agent_ui.form_errors import describe
from agent_ui.templating import is_htmx, render
from core import clock
from core.auth import ClientIP, DbSession, TeamLeaderUser
from core.directory import staff_names
from core.errors import DomainError, PermissionDenied, ValidationFailed
from core.models import User
from tickets import grant_requests, visibility
from tickets import grants as grant_service
from tickets import service as ticket_service
from tickets.callbacks import grant_state

router = APIRouter()

PAGE = "grants/page.html"
DURATIONS = (30, 60, 120, 240, 480, 1440)  # minutes offered in the grant and extend forms
PAGE_SIZE = 30
# The grant and extend forms' fields, by the service's names of them.
FIELDS = {"agent_id": "agent_id", "duration_minutes": "duration_minutes", "reason": "reason",
          "customer_id": "ticket_number", "ticket_number": "ticket_number"}


def grantable_agents(session: DbSession, user: User) -> list[User]:
    """Whom `user` may authorise (`tickets.grants.grantable_people`): the people of the site they
    manage or supervise, everyone's for the center head; never themselves."""
    return grant_service.grantable_people(session, by=user)


def can_grant(session: DbSession, user: User) -> bool:
    return grant_service.may_grant_at_all(session, by=user)


def grant_form_context(session: DbSession, user: User) -> dict[str, Any]:
    longest = grant_service.max_window().total_seconds() / 60
    return {"can_grant": can_grant(session, user), "grant_agents": grantable_agents(session, user),
            "durations": [d for d in DURATIONS if d <= longest],
            "default_duration": int(grant_service.default_window().total_seconds() // 60)}


def typed_grant(*, agent_id: str, duration_minutes: str, reason: str, ticket_number: str = "") -> dict[str, Any]:
    return {"ticket_number": ticket_number.strip()[:40], "reason": reason[:500],
            "agent_id": int(agent_id) if agent_id.isdigit() else None,
            "duration_minutes": int(duration_minutes) if duration_minutes.isdigit() else None,
            "duration_typed": duration_minutes.strip()[:10]}


def grant_for_ticket(session: DbSession, *, by: User, ticket_id: int, typed: dict[str, Any],
                     source_ip: str | None) -> Any:
    if not can_grant(session, by):
        raise PermissionDenied("Only a site manager, a supervisor or the center head grants callback authorisations.")
    if typed["agent_id"] is None:
        raise ValidationFailed("Choose an agent.", field="agent_id")
    if typed["duration_typed"] and typed["duration_minutes"] is None:
        raise ValidationFailed("Choose a duration.", field="duration_minutes")
    return grant_service.create_for_ticket(session, ticket_id=ticket_id, agent_id=typed["agent_id"],
                                           reason=typed["reason"], by=by,
                                           duration_minutes=typed["duration_minutes"], source_ip=source_ip)


def _page(request: Request, session: DbSession, user: User, *, status_code: int = 200,
          errors: dict[str, Any] | None = None, typed: dict[str, Any] | None = None, saved: str = "",
          live_only: bool = False, offset: int = 0) -> Response:
    now = clock.now()
    grants, count = grant_service.list_grants(session, viewer=user, live_only=live_only, limit=PAGE_SIZE,
                                              offset=offset)
    people = {uid: staff.display_name for uid, staff in staff_names(session, {g.agent_id for g in grants}).items()}
    cards = visibility.masked_cards(session, customer_ids={g.customer_id for g in grants})
    numbers = ticket_service.numbers_of(session, ticket_ids={g.ticket_id for g in grants if g.ticket_id})
    context = {
        "now": now, "count": count, "offset": offset, "page_size": PAGE_SIZE, "live_only": live_only,
        "rows": [(g, grant_state(g, now), people.get(g.agent_id, "?"), cards.get(g.customer_id),
                  numbers.get(g.ticket_id) if g.ticket_id is not None else None) for g in grants],
        "errors": errors or {}, "typed": typed or {}, "saved": saved,
        "waiting_requests": grant_requests.count_waiting(session, user=user),
        **grant_form_context(session, user),
    }
    return render(request, PAGE, context, status_code=status_code,
                  block="grants_main" if is_htmx(request) else None)


def _done(request: Request, session: DbSession, user: User, saved: str) -> Response:
    if is_htmx(request):
        return _page(request, session, user, saved=saved)
    return RedirectResponse("/authorisations", status_code=303)


def _refused(request: Request, session: DbSession, user: User, form: str, exc: DomainError,
             typed: dict[str, Any] | None = None) -> Response:
    session.rollback()
    return _page(request, session, user, status_code=422 if exc.code == "invalid" else 409,
                 errors={form: describe(exc, fields=FIELDS)}, typed=typed)


@router.get("/authorisations", include_in_schema=False)
def grants_page(request: Request, session: DbSession, user: TeamLeaderUser, live: str = "",
                offset: int = 0) -> Response:
    return _page(request, session, user, live_only=live == "1", offset=max(0, offset))


@router.post("/authorisations", include_in_schema=False)
def create(request: Request, session: DbSession, user: TeamLeaderUser, ip: ClientIP,
           ticket_number: Annotated[str, Form()] = "", agent_id: Annotated[str, Form()] = "",
           duration_minutes: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
    typed = typed_grant(ticket_number=ticket_number, agent_id=agent_id, duration_minutes=duration_minutes,
                        reason=reason)
    try:
        if not typed["ticket_number"]:
            raise ValidationFailed("Give the ticket's number.", field="ticket_number")
        ticket = ticket_service.get_by_number(session, number=typed["ticket_number"], user=user)
        grant_for_ticket(session, by=user, ticket_id=ticket.id, typed=typed, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, "grant", exc, typed)
    return _done(request, session, user, "granted")


@router.post("/authorisations/{grant_id}/extend", include_in_schema=False)
def extend(request: Request, session: DbSession, user: TeamLeaderUser, ip: ClientIP, grant_id: int,
           duration_minutes: Annotated[str, Form()] = "") -> Response:
    try:
        if not duration_minutes.isdigit():
            raise ValidationFailed("Choose a duration.", field="duration_minutes")
        grant_service.extend_grant(session, grant_id=grant_id, by=user, duration_minutes=int(duration_minutes),
                                   source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, f"grant-{grant_id}", exc)
    return _done(request, session, user, "extended")


@router.post("/authorisations/{grant_id}/revoke", include_in_schema=False)
def revoke(request: Request, session: DbSession, user: TeamLeaderUser, ip: ClientIP, grant_id: int) -> Response:
    try:
        grant_service.revoke_grant(session, grant_id=grant_id, by=user, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user, f"grant-{grant_id}", exc)
    return _done(request, session, user, "revoked")
