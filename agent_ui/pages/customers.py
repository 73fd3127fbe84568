"""Customers: the list (`/customers`, masked cards only, found by phone through the blind index
with the number in a POST body, never in an address; aggregate counts for managers) and a
customer's card (`/customers/{id}`): full when the rules allow it (own customer, the call offered,
a live callback authorisation, the manager's own site), each full view audited; masked otherwise,
with the administrator's erasure form. No page prints or exports customer details."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from agent_ui import error_pages
from agent_ui.form_errors import FormError, describe
from agent_ui.i18n import N_
from agent_ui.pages import grant_requests as request_pages
from agent_ui.templating import is_htmx, render
from core import clock, organisation, permissions
from core.auth import AdminUser, AgentUser, ClientIP, DbSession
from core.crypto import InvalidPhoneNumber
from core.directory import staff_names
from core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from core.models import Role, User
from tickets import care, erasure, purchases, visibility
from tickets import customers as customer_service
from tickets import grant_requests as request_service
from tickets import grants as grant_service
from tickets import search as ticket_search
from tickets.callbacks import grant_state
from tickets.workflow import ACTIVE, PAUSED, TIERS, Category

router = APIRouter()

PAGE = "customers/card.html"
LIST_PAGE = "customers/list.html"
PAGE_SIZE = 30
CHANGE_WORDS = {
    "name": N_("Name"), "gender": N_("Gender"), "birthday": N_("Birthday"), "age": N_("Age"), "email": N_("Email"),
    "address": N_("Address"), "id_number": N_("ID number"), "preferences": N_("Preferences"),
    "special_needs": N_("Special needs"), "phones": N_("Phone"), "consent_purposes": N_("Consent"),
    "consent_method": N_("Consent"), "consent_at": N_("Consent"), "owning_agent_id": N_("Owner"),
    "site_id": N_("Site"), "erased": N_("Erased"),
}



def _figures(session: DbSession, user: AgentUser, customer_id: int, site_id: int) -> dict[str, object]:
    """Counts only: what every manager may see about a customer and their site."""
    def count(**filters: Any) -> int:
        return ticket_search.search(session, viewer=user, customer_id=customer_id, limit=1, **filters).count or 0

    return {
        "tickets": count(),
        "open": count(status=[s.value for s in ACTIVE | PAUSED]),
        "complaints": count(category=Category.complaint.value),
        "site": customer_service.aggregates(session, site_id=site_id),
    }


@router.get("/customers/{customer_id}", include_in_schema=False)
def customer_card(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, customer_id: int) -> Response:
    return _card(request, session, user, ip, customer_id)


def _card(request: Request, session: DbSession, user: User, ip: str | None, customer_id: int, *,
          status_code: int = 200, errors: dict[str, FormError] | None = None,
          typed: dict[str, Any] | None = None) -> Response:
    try:
        card = visibility.view_customer(session, customer_id=customer_id, viewer=user, source_ip=ip)
    except NotFound as exc:
        return error_pages.respond(request, 404, exc)
    now = clock.now()
    tickets = ticket_search.search(session, viewer=user, customer_id=customer_id, limit=20, with_count=False).items
    grant = None
    if card.access == "grant":
        live = grant_service.live_grant(session, customer_id=customer_id, agent_id=user.id)
        grant = (live, grant_state(live, now)) if live is not None else None
    figures = None
    if permissions.allowed(user.role, permissions.TEAM_LEADERS):
        figures = _figures(session, user, customer_id, card.site_id)
    # The history of a full card: its view was just audited, and it names fields, never values.
    changes = [] if card.masked else customer_service.history(session, customer_id=customer_id)
    can_erase = user.role == Role.admin.value and not card.erased
    refusals, pending = [], None
    if can_erase:
        customer = customer_service.get_customer(session, customer_id=customer_id)
        refusals = erasure.refusals(session, customer=customer)
        pending = erasure.pending_for(session, customer_id=customer_id)
    asking = request_pages.ask_context(session, user, None if card.erased else customer_id)
    return render(request, PAGE, {"card": card, "tickets": tickets, "grant": grant, "figures": figures, **asking,
                                  "changes": changes, "change_words": CHANGE_WORDS,
                                  "now": now, "can_erase": can_erase, "erasure_refusals": refusals,
                                  "erasure_pending": pending,
                                  "errors": errors or {}, "typed": typed or {}}, status_code=status_code)


@router.post("/customers/{customer_id}/grant-request", include_in_schema=False)
def ask_for_grant(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, customer_id: int,
                  reason: Annotated[str, Form()] = "") -> Response:
    """Ask for a callback authorisation for this customer, from their (masked) card."""
    try:
        request_service.ask(session, customer_id=customer_id, by=user, reason=reason[:500], source_ip=ip)
    except DomainError as exc:
        session.rollback()
        return _card(request, session, user, ip, customer_id, status_code=request_pages.refusal_status(exc),
                     errors={"ask": describe(exc, fields=request_pages.ASK_FIELDS)},
                     typed={"ask": {"reason": reason[:500]}})
    return RedirectResponse(f"/customers/{customer_id}#ask-grant", status_code=303)


@router.post("/customers/{customer_id}/erase", include_in_schema=False)
def erase(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, customer_id: int,
          reason: Annotated[str, Form()] = "", confirm: Annotated[str, Form()] = "",
          requested_by_customer: Annotated[str, Form()] = "", when: Annotated[str, Form()] = "now",
          overrides: Annotated[list[str] | None, Form()] = None) -> Response:
    """The administrator's erasure (the same services as the API and `hotline customers erase`):
    at once, or with notice (the customer told by SMS, erased after the notice period); an open
    complaint or unused points need the override ticked."""
    chosen = [o for o in (overrides or []) if o]
    typed = {"reason": reason[:500], "requested_by_customer": bool(requested_by_customer), "when": when,
             "overrides": chosen}
    try:
        if confirm != "yes":
            raise ValidationFailed("Tick the box to confirm that this customer's personal data is deleted for good.",
                                   field="confirm")
        if when == "notice":
            erasure.request_erasure(session, customer_id=customer_id, by=user, reason=reason[:500],
                                    overrides=chosen, source_ip=ip)
        else:
            erasure.erase_now(session, customer_id=customer_id, by=user, reason=reason[:500], overrides=chosen,
                              requested_by_customer=bool(requested_by_customer), source_ip=ip)
    except DomainError as exc:
        session.rollback()
        error = describe(exc, fields={"confirm": "confirm", "overrides": "overrides", "reason": "reason"})
        return _card(request, session, user, ip, customer_id, status_code=422 if exc.code == "invalid" else 409,
                     errors={"erase": error}, typed=typed)
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)


@router.post("/customers/{customer_id}/points/redeem", include_in_schema=False)
def redeem_points(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, customer_id: int,
                  points: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
    """Points redeemed (a gift, a voucher) by someone serving the customer, with the reason."""
    typed = {"points": points[:12], "reason": reason[:100]}
    try:
        if not points.strip().isdigit() or int(points) < 1:
            raise ValidationFailed("Redeem a whole number of points, one or more.", field="points")
        purchases.redeem(session, customer_id=customer_id, points=int(points), reason=reason[:100], by=user,
                         source_ip=ip)
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            return error_pages.respond(request, 404, exc)
        error = describe(exc, fields={"points": "points", "reason": "reason"})
        status = 403 if isinstance(exc, PermissionDenied) else 422 if exc.code == "invalid" else 409
        return _card(request, session, user, ip, customer_id, status_code=status, errors={"points": error},
                     typed=typed)
    return RedirectResponse(f"/customers/{customer_id}#points", status_code=303)


# The list ---------------------------------------------------------------------------------------

def _scope(user: User) -> dict[str, Any]:
    """Whose customers the list shows (the API's lists follow the same rule): an agent their own,
    a team leader or supervisor their site, the center head and administrators every site (a
    site filter is offered)."""
    scope = visibility.list_scope(user)
    # None (no customer at all) never reaches this page, which is for agents and managers; closed anyway.
    return dict(scope) if scope is not None else {"owning_agent_id": 0}


def _list(request: Request, session: DbSession, user: User, *, tier: str = "", site: str = "", offset: int = 0,
          quiet: str = "", phone: str = "", status_code: int = 200, errors: dict[str, str] | None = None,
          found: Any = None, searched: bool = False) -> Response:
    errors = dict(errors or {})
    scope = _scope(user)
    chosen_tier = tier if tier in TIERS else None
    if tier and chosen_tier is None:
        errors["tier"] = N_("Choose a tier from the list.")
    sites = organisation.list_sites(session)
    if "site_id" not in scope and "owning_agent_id" not in scope and site:
        if site.isdigit() and any(s.id == int(site) for s in sites):
            scope["site_id"] = int(site)
        else:
            errors["site"] = N_("Choose a site from the list.")
    leader = permissions.allowed(user.role, permissions.TEAM_LEADERS)
    quiet_days = int(quiet) if quiet.isdigit() and 1 <= int(quiet) <= 3650 and leader else None
    if quiet and quiet_days is None:
        errors["quiet"] = N_("Give a number of days from 1 to 3650.")
    if searched:
        rows, count = ([found] if found is not None else []), (1 if found is not None else 0)
    elif quiet_days is not None:
        # Retention calls: who has gone quiet (no contact in N days), the longest quiet first.
        rows, count = care.quiet_customers(session, days=quiet_days, site_id=scope.get("site_id"), limit=PAGE_SIZE,
                                           offset=max(0, offset))
    else:
        rows, count = customer_service.list_customers(session, tier=chosen_tier, limit=PAGE_SIZE,
                                                      offset=max(0, offset), **scope)
    cards = [visibility.masked_card(c) for c in rows]
    last_contact = {c.id: c.last_contact_at for c in rows} if quiet_days is not None else {}
    owners = staff_names(session, {c.owning_agent_id for c in cards if c.owning_agent_id})
    figures = None
    if permissions.allowed(user.role, permissions.TEAM_LEADERS):
        figures = customer_service.aggregates(session, site_id=scope.get("site_id"), tier=chosen_tier)
    context = {"cards": cards, "count": count, "offset": max(0, offset), "page_size": PAGE_SIZE,
               "site_names": {s.id: s.name for s in sites}, "owners": {k: v.display_name for k, v in owners.items()},
               "tiers": TIERS, "tier": tier, "site": site, "phone": phone, "errors": errors, "figures": figures,
               "searched": searched, "sites": sites if not _scope(user) else [],
               "quiet": quiet, "quiet_days": quiet_days, "can_list_quiet": leader, "last_contact": last_contact,
               "mine_only": "owning_agent_id" in scope}
    return render(request, LIST_PAGE, context, status_code=422 if errors else status_code,
                  block="customer_results" if is_htmx(request) else None)


@router.get("/customers", include_in_schema=False)
def customer_list(request: Request, session: DbSession, user: AgentUser, tier: str = "", site: str = "",
                  quiet: str = "", offset: int = 0) -> Response:
    # No `phone` parameter: a number in an address ends up in logs and browser history.
    return _list(request, session, user, tier=tier[:20], site=site[:20], quiet=quiet.strip()[:10], offset=offset)


@router.post("/customers", include_in_schema=False)
def customer_search(request: Request, session: DbSession, user: AgentUser,
                    phone: Annotated[str, Form()] = "") -> Response:
    """Find a customer by phone through the blind index (the number never leaves the POST body);
    the result is a masked card like every row of the list."""
    phone = phone.strip()[:40]
    if not phone:
        return _list(request, session, user, errors={"phone": N_("Type the customer's phone number.")}, phone=phone)
    try:
        found = visibility.findable(session, customer=customer_service.find_by_phone(session, phone=phone),
                                    viewer=user)
    except (InvalidPhoneNumber, ValidationFailed, ValueError):
        return _list(request, session, user, phone=phone, errors={
            "phone": N_("This is not a phone number; type it as the caller would dial it.")})
    return _list(request, session, user, phone=phone, found=found, searched=True)
