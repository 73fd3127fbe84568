"""JSON API for customers (/api/v1/customers) and callback authorisations (/api/v1/grants). Thin:
parse, declare the role, call one service; object-level rules live in the services."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from core import clock, permissions
from core.auth import AdminUser, AgentUser, ClientIP, DbSession, RequireRole, TeamLeaderUser
from core.errors import NotFound, PermissionDenied
from core.models import User
from tickets import care, erasure
from tickets import customers as customer_service
from tickets import grants as grant_service
from tickets import visibility
from tickets.models.customers import CallbackGrant
from tickets.schemas_customers import (
    CustomerAggregatesPublic, CustomerChangePublic, CustomerChangesPublic, CustomerCreate, CustomerErase,
    ErasureRequestCreate, ErasureRequestPublic,
    CustomerLookup, CustomerPublic, CustomersPublic, CustomerUpdate, GrantCreate, GrantExtend, GrantPublic,
    GrantsPublic, QuietCustomerPublic, QuietCustomersPublic, Tier,
)

router = APIRouter(tags=["customers"])

# Customer figures (counts only): managers and QA inspectors.
FiguresUser = Annotated[User, Depends(RequireRole(*(permissions.TEAM_LEADERS | permissions.QA)))]


class MethodNotAllowed(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=405, headers={"Allow": "POST"},
                         detail="Look a number up with POST /api/v1/customers/lookup and the number in the JSON "
                                "body ({\"phone\": ...}); a number in an address ends up in logs.")


def _card(card: visibility.CustomerCard) -> CustomerPublic:
    return CustomerPublic.model_validate(asdict(card))


def _grant(grant: CallbackGrant) -> GrantPublic:
    now = clock.now()
    if grant.revoked_at is not None:
        status = "revoked"
    elif now < grant.starts_at:
        status = "scheduled"
    elif now < grant.expires_at:
        status = "live"
    else:
        status = "expired"
    return GrantPublic.model_validate({**{c: getattr(grant, c) for c in GrantPublic.model_fields if c != "status"},
                                       "status": status})


# Customers --------------------------------------------------------------------------------


def _site_filter(user: User, site_id: int | None) -> dict[str, int]:
    """The list filters for `user` (`tickets.visibility.list_scope`), with the site asked for
    where the scope leaves the choice open; a site outside the scope is refused."""
    scope = visibility.list_scope(user)
    if scope is None:
        raise PermissionDenied("Your role sees customer figures only.")
    if site_id is not None:
        if "owning_agent_id" in scope or scope.get("site_id", site_id) != site_id:
            raise PermissionDenied("You may list only your own site's customers.")
        return {**scope, "site_id": site_id}
    return scope


@router.get("/api/v1/customers", response_model=CustomersPublic)
def list_customers(session: DbSession, user: AgentUser, site_id: int | None = None, tier: Tier | None = None,
                   limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0)) -> CustomersPublic:
    """Masked cards of the customers the caller may list, as on the customers page: an agent their
    own, a team leader or supervisor their site's, the center head and administrators every
    site's. Details only through GET /customers/{id}; figures through GET /customers/aggregates."""
    rows, count = customer_service.list_customers(session, tier=tier, limit=limit, offset=offset,
                                                  **_site_filter(user, site_id))
    return CustomersPublic(data=[_card(visibility.masked_card(c)) for c in rows], count=count)


@router.get("/api/v1/customers/aggregates", response_model=CustomerAggregatesPublic)
def customer_aggregates(session: DbSession, user: FiguresUser, site_id: int | None = None,
                        tier: Tier | None = None) -> CustomerAggregatesPublic:
    """Counts by tier and by site (no customer at all), for managers and QA: a site-bound manager
    or inspector their site's, the center head and administrators any site's."""
    if user.site_id is not None and user.role not in visibility.CENTER_WIDE:
        if site_id not in (None, user.site_id):
            raise PermissionDenied("You may see only your own site's figures.")
        site_id = user.site_id
    figures = customer_service.aggregates(session, site_id=site_id, tier=tier)
    return CustomerAggregatesPublic.model_validate(asdict(figures))


@router.post("/api/v1/customers/lookup", response_model=CustomerPublic)
def lookup_customer(body: CustomerLookup, session: DbSession, user: AgentUser, ip: ClientIP) -> CustomerPublic:
    """Find a customer by phone number (blind index; the number in the body, never in an
    address). Only a customer the caller may list or see is found; masked unless the caller may
    see the details."""
    found = visibility.findable(session, customer=customer_service.find_by_phone(session, phone=body.phone),
                                viewer=user)
    if found is None:
        raise NotFound("No customer of yours has this phone number.")
    return _card(visibility.card_for(session, customer=found, viewer=user, source_ip=ip))


@router.get("/api/v1/customers/lookup", include_in_schema=False)
def lookup_by_address(user: AgentUser) -> None:
    """The old form with the number in the query string: refused, so no client keeps writing
    numbers into access logs."""
    raise MethodNotAllowed()


@router.get("/api/v1/customers/quiet", response_model=QuietCustomersPublic)
def quiet_customers(session: DbSession, user: TeamLeaderUser, days: int = Query(90, ge=1, le=3650),
                    site_id: int | None = None, limit: int = Query(50, ge=1, le=200),
                    offset: int = Query(0, ge=0)) -> QuietCustomersPublic:
    """Customers with no contact in `days` days, for retention calls (masked cards), within the
    caller's list scope."""
    scope = _site_filter(user, site_id)
    rows, count = care.quiet_customers(session, days=days, site_id=scope.get("site_id"), limit=limit, offset=offset)
    return QuietCustomersPublic(count=count, data=[
        QuietCustomerPublic(card=_card(visibility.masked_card(c)), last_contact_at=c.last_contact_at) for c in rows])


@router.get("/api/v1/customers/{customer_id}", response_model=CustomerPublic)
def get_customer(customer_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> CustomerPublic:
    """The card: full (and audited) if the caller may see the details, masked otherwise."""
    return _card(visibility.view_customer(session, customer_id=customer_id, viewer=user, source_ip=ip))


@router.get("/api/v1/customers/{customer_id}/history", response_model=CustomerChangesPublic)
def customer_history(customer_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> CustomerChangesPublic:
    """Changes of the customer's personal data (fields, who, when, why; never the values), for
    whoever may see the details; audited."""
    rows = customer_service.change_history(session, customer_id=customer_id, viewer=user, source_ip=ip)
    return CustomerChangesPublic(data=[CustomerChangePublic.model_validate(r) for r in rows], count=len(rows))


@router.post("/api/v1/customers", response_model=CustomerPublic, status_code=201)
def create_customer(body: CustomerCreate, session: DbSession, user: AgentUser, ip: ClientIP) -> CustomerPublic:
    customer = customer_service.create_customer(session, data=body.model_dump(), by=user, source_ip=ip)
    return _card(visibility.card_after_write(session, customer=customer, viewer=user, source_ip=ip))


@router.patch("/api/v1/customers/{customer_id}", response_model=CustomerPublic)
def update_customer(customer_id: int, body: CustomerUpdate, session: DbSession, user: AgentUser,
                    ip: ClientIP) -> CustomerPublic:
    customer = customer_service.update_customer(
        session, customer_id=customer_id, changes=body.changes(), by=user, reason=body.reason,
        requested_by_customer=body.requested_by_customer, source_ip=ip)
    return _card(visibility.card_after_write(session, customer=customer, viewer=user, source_ip=ip))


@router.post("/api/v1/customers/{customer_id}/erase", response_model=CustomerPublic)
def erase_customer(customer_id: int, body: CustomerErase, session: DbSession, user: AdminUser,
                   ip: ClientIP) -> CustomerPublic:
    """Erase at once: the customer's data key is shredded (every copy, backups included, becomes
    unreadable for them); tickets and statistics stay, anonymised. An open complaint or unused
    points refuse it (409 `erasure_refused`) unless named in `overrides`."""
    customer = erasure.erase_now(session, customer_id=customer_id, by=user, reason=body.reason,
                                 overrides=body.overrides, requested_by_customer=body.requested_by_customer,
                                 source_ip=ip)
    return _card(visibility.masked_card(customer))


@router.post("/api/v1/customers/{customer_id}/erasure-request", response_model=ErasureRequestPublic,
             status_code=201)
def request_erasure(customer_id: int, body: ErasureRequestCreate, session: DbSession, user: AdminUser,
                    ip: ClientIP) -> ErasureRequestPublic:
    """Record a member's request to leave: they are told by SMS (with consent) that their data
    goes after the notice period (HOTLINE_ERASURE_NOTICE_DAYS) and points can be used until then;
    the sweep then erases them, or holds the erasure for an open complaint or unused points."""
    request = erasure.request_erasure(session, customer_id=customer_id, by=user, reason=body.reason,
                                      overrides=body.overrides, source_ip=ip)
    return ErasureRequestPublic.model_validate(request)


# Callback authorisations ------------------------------------------------------------------


@router.get("/api/v1/grants", response_model=GrantsPublic)
def list_grants(session: DbSession, user: AgentUser, live: bool = False, customer_id: int | None = None,
                agent_id: int | None = None, limit: int = Query(50, ge=1, le=200),
                offset: int = Query(0, ge=0)) -> GrantsPublic:
    """Every grant for supervisors, the team's for a team leader, one's own for anyone else."""
    rows, count = grant_service.list_grants(session, viewer=user, live_only=live, customer_id=customer_id,
                                            agent_id=agent_id, limit=limit, offset=offset)
    return GrantsPublic(data=[_grant(g) for g in rows], count=count)


@router.post("/api/v1/grants", response_model=GrantPublic, status_code=201)
def create_grant(body: GrantCreate, session: DbSession, user: TeamLeaderUser, ip: ClientIP) -> GrantPublic:
    grant = grant_service.create_grant(
        session, customer_id=body.customer_id, agent_id=body.agent_id, reason=body.reason, by=user,
        ticket_id=body.ticket_id, starts_at=body.starts_at, duration_minutes=body.duration_minutes, source_ip=ip)
    return _grant(grant)


@router.post("/api/v1/grants/{grant_id}/extend", response_model=GrantPublic)
def extend_grant(grant_id: int, body: GrantExtend, session: DbSession, user: TeamLeaderUser,
                 ip: ClientIP) -> GrantPublic:
    return _grant(grant_service.extend_grant(session, grant_id=grant_id, by=user,
                                             duration_minutes=body.duration_minutes, source_ip=ip))


@router.post("/api/v1/grants/{grant_id}/revoke", response_model=GrantPublic)
def revoke_grant(grant_id: int, session: DbSession, user: TeamLeaderUser, ip: ClientIP) -> GrantPublic:
    return _grant(grant_service.revoke_grant(session, grant_id=grant_id, by=user, source_ip=ip))
