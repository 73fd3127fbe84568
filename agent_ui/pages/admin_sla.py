"""SLA (`/admin/sla`): the policies tickets are timed by (first response and resolution targets by
category, priority and tier; the most specific match wins), with a link to the SLA settings
(complaint reply time, follow-ups, callbacks, when a deadline is at risk) on `/admin/settings`.
`tickets.sla` checks and audits; a change applies to tickets opened after it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from agent_ui.i18n import N_
from agent_ui.pages import admin_common as common
from core.auth import AdminUser, DbSession
from core.errors import DomainError
from tickets import sla
from tickets.workflow import TIERS, Category, Priority

router = APIRouter()

MINUTES_RULE = N_("Give a whole number of minutes, at least 1.")
FIELDS: common.Fields = {"category": "category", "priority": "priority", "tier": "tier",
                         "resolution_minutes": "resolution_minutes"}
common.DONE.update({"sla_policy_saved": N_("The SLA policy was saved; tickets opened from now on follow it.")})


def _whole(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.isdigit() and 0 < int(value) < 10_000_000 else None


def _page(request: Request, session: DbSession, *, status_code: int = 200, errors: common.Errors | None = None,
          typed: dict[str, str] | None = None) -> Response:
    policies = sorted(sla.policies(session), key=lambda p: (p.specificity, p.category or "", p.priority or "",
                                                            p.tier or ""))
    context = {"policies": policies, "categories": [c.value for c in Category],
               "priorities": [p.value for p in Priority], "tiers": TIERS, "errors": errors or {}, "typed": typed or {}}
    return common.page(request, "admin/sla.html", context, status_code=status_code, push_url="/admin/sla")


@router.get("/admin/sla", include_in_schema=False)
def sla_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _page(request, session)


@router.post("/admin/sla/policies", include_in_schema=False)
def set_policy(request: Request, session: DbSession, user: AdminUser, category: Annotated[str, Form()] = "",
               priority: Annotated[str, Form()] = "", tier: Annotated[str, Form()] = "",
               first_response_minutes: Annotated[str, Form()] = "", resolution_minutes: Annotated[str, Form()] = "",
               business_hours: Annotated[str, Form()] = "") -> Response:
    typed = {"category": category[:32], "priority": priority[:32], "tier": tier[:32],
             "first_response_minutes": first_response_minutes[:10], "resolution_minutes": resolution_minutes[:10],
             "business_hours": "1" if business_hours else ""}
    first, resolution = _whole(first_response_minutes), _whole(resolution_minutes)
    errors: common.Errors = {}
    if first is None:
        errors |= common.refuse("first_response_minutes", MINUTES_RULE)
    if resolution is None:
        errors |= common.refuse("resolution_minutes", MINUTES_RULE)
    if errors or first is None or resolution is None:
        return _page(request, session, status_code=422, errors=errors, typed=typed)
    try:
        sla.set_policy(session, category=category or None, priority=priority or None, tier=tier or None,
                       first_response_minutes=first, resolution_minutes=resolution,
                       business_hours=bool(business_hours), by=user)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, status_code=common.status_for(exc), errors=common.explain(exc, FIELDS),
                     typed=typed)
    return common.done("/admin/sla", "sla_policy_saved")
