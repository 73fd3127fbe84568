"""JSON API for customers (/api/v1/customers) and callback authorisations (/api/v1/grants). Thin:
parse, declare the role, call one service; object-level rules live in the services."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query

from core import clock
from core.auth import AdminUser, AgentUser, ClientIP, DbSession, TeamLeaderUser
from core.errors import NotFound
from tickets import care
from tickets import customers as customer_service
from tickets import grants as grant_service
from tickets import visibility
from tickets.models.customers import CallbackGrant
from tickets.schemas_customers import (
    CustomerAggregatesPublic, CustomerChangePublic, CustomerChangesPublic, CustomerCreate, CustomerErase,
    CustomerPublic, CustomersPublic, CustomerUpdate, GrantCreate, GrantExtend, GrantPublic, GrantsPublic,
    QuietCustomerPublic, QuietCustomersPublic, Tier,
)

router = APIRouter(tags=["customers"])


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


@router.get("/api/v1/customers", response_model=CustomersPublic)
def list_customers(session: DbSession, user: AgentUser, site_id: int | None = None, tier: Tier | None = None,
                   limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0)) -> CustomersPublic:
    """Masked cards and aggregate counts; details only through GET /customers/{id}."""
    rows, count = customer_service.list_customers(session, site_id=site_id, tier=tier, limit=limit, offset=offset)
    figures = customer_service.aggregates(session, site_id=site_id, tier=tier)
    return CustomersPublic(data=[_card(visibility.masked_card(c)) for c in rows], count=count,
                           aggregates=CustomerAggregatesPublic.model_validate(asdict(figures)))


@router.get("/api/v1/customers/lookup", response_model=CustomerPublic)
def lookup_customer(session: DbSession, user: AgentUser, ip: ClientIP,
                    phone: str = Query(min_length=1, max_length=40)) -> CustomerPublic:
    """Find a customer by phone number (blind index); masked unless the caller may see details."""
    customer = customer_service.find_by_phone(session, phone=phone)
    if customer is None:
        raise NotFound("No customer has this phone number.")
    return _card(visibility.card_for(session, customer=customer, viewer=user, source_ip=ip))


@router.get("/api/v1/customers/quiet", response_model=QuietCustomersPublic)
def quiet_customers(session: DbSession, user: TeamLeaderUser, days: int = Query(90, ge=1, le=3650),
                    site_id: int | None = None, limit: int = Query(50, ge=1, le=200),
                    offset: int = Query(0, ge=0)) -> QuietCustomersPublic:
    """Customers with no contact in `days` days, for retention calls (masked cards)."""
    rows, count = care.quiet_customers(session, days=days, site_id=site_id, limit=limit, offset=offset)
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
    """Delete the customer's personal data for good; tickets and statistics stay, anonymised."""
    customer = customer_service.erase_customer(session, customer_id=customer_id, by=user, reason=body.reason,
                                               requested_by_customer=body.requested_by_customer, source_ip=ip)
    return _card(visibility.masked_card(customer))


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
