"""A customer's card (`/customers/{id}`): full when the rules allow it (own customer, the call
offered, a live callback authorisation, the manager's own site), each full view audited; masked
otherwise. Managers also get aggregate figures. No page prints or exports customer details."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_ui.i18n import N_
from agent_ui.templating import render
from core import clock, permissions
from core.auth import AgentUser, ClientIP, DbSession
from core.errors import NotFound
from tickets import customers as customer_service
from tickets import grants as grant_service
from tickets import search as ticket_search
from tickets import visibility
from tickets.callbacks import grant_state
from tickets.workflow import ACTIVE, PAUSED, Category

router = APIRouter()

PAGE = "customers/card.html"


def _figures(session: DbSession, user: AgentUser, customer_id: int, site_id: int) -> dict[str, object]:
    """Counts only: what every manager may see about a customer and their site."""
    def count(**filters: object) -> int:
        return ticket_search.search(session, viewer=user, customer_id=customer_id, limit=1, **filters).count or 0

    return {
        "tickets": count(),
        "open": count(status=[s.value for s in ACTIVE | PAUSED]),
        "complaints": count(category=Category.complaint.value),
        "site": customer_service.aggregates(session, site_id=site_id),
    }


@router.get("/customers/{customer_id}", include_in_schema=False)
def customer_card(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, customer_id: int) -> Response:
    try:
        card = visibility.view_customer(session, customer_id=customer_id, viewer=user, source_ip=ip)
    except NotFound:
        return render(request, "error.html", {"title": N_("Not found"),
                                               "message": N_("There is no such customer.")}, status_code=404)
    now = clock.now()
    tickets = ticket_search.search(session, viewer=user, customer_id=customer_id, limit=20, with_count=False).items
    grant = None
    if card.access == "grant":
        live = grant_service.live_grant(session, customer_id=customer_id, agent_id=user.id)
        grant = (live, grant_state(live, now)) if live is not None else None
    figures = None
    if permissions.allowed(user.role, permissions.TEAM_LEADERS):
        figures = _figures(session, user, customer_id, card.site_id)
    return render(request, PAGE, {"card": card, "tickets": tickets, "grant": grant, "figures": figures,
                                  "now": now})
