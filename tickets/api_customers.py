"""JSON API for customers (/api/v1/customers) and callback authorisations (/api/v1/grants). Thin:
parse, declare the role, call one service; object-level rules live in the services."""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from core import clock, permissions
from core.auth import AdminUser, AgentUser, ClientIP, DbSession, RequireRole, TeamLeaderUser
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import User
from tickets import care, erasure, grant_requests, purchases, tiers, visibility
from tickets import customers as customer_service
from tickets import grants as grant_service
from tickets.models.customers import CallbackGrant, CallbackGrantRequest
from tickets.schemas_customers import (
    CustomerAggregatesPublic,
    CustomerChangePublic,
    CustomerChangesPublic,
    CustomerCreate,
    CustomerErase,
    CustomerLookup,
    CustomerPublic,
    CustomersPublic,
    CustomerUpdate,
    ErasureRequestCreate,
    ErasureRequestPublic,
    FollowUpComplete,
    FollowUpPublic,
    FollowUpsPublic,
    GrantCreate,
    GrantExtend,
    GrantPublic,
    GrantRequestCreate,
    GrantRequestDecline,
    GrantRequestGrant,
    GrantRequestPublic,
    GrantRequestsPublic,
    GrantsPublic,
    PointsPublic,
    PointsRedeem,
    PurchaseCreate,
    PurchaseImportPublic,
    PurchasePublic,
    QuietCustomerPublic,
    QuietCustomersPublic,
    Tier,
    TierChangePublic,
    TierPreviewPublic,
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
def quiet_customers(session: DbSession, user: TeamLeaderUser, days: int | None = Query(None, ge=1, le=3650),
                    site_id: int | None = None, limit: int = Query(50, ge=1, le=200),
                    offset: int = Query(0, ge=0)) -> QuietCustomersPublic:
    """Customers with neither a contact nor a purchase in `days` days (the quiet_customer_days
    setting by default), for retention calls (masked cards), within the
    caller's list scope."""
    scope = _site_filter(user, site_id)
    rows, count = care.quiet_customers(session, days=days, site_id=scope.get("site_id"), limit=limit, offset=offset)
    return QuietCustomersPublic(count=count, data=[
        QuietCustomerPublic(card=_card(visibility.masked_card(c)), last_contact_at=c.last_contact_at) for c in rows])


async def _csv_body(request: Request) -> str:
    try:
        return (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("Send the CSV as UTF-8 text.", field="body") from None


@router.post("/api/v1/customers/purchases/import", response_model=PurchaseImportPublic)
def import_purchases(session: DbSession, user: AdminUser,
                     text: Annotated[str, Depends(_csv_body)]) -> PurchaseImportPublic:
    """A CSV of purchases (text/csv body; columns customer_id, source_id, amount_cents and
    optionally at) from the till or membership system, with a report per rejected row. Sending
    the file again adds nothing."""
    report = purchases.import_csv(session, source=io.StringIO(text), by=user)
    return PurchaseImportPublic.model_validate(asdict(report))


@router.get("/api/v1/tiers/preview", response_model=TierPreviewPublic)
def preview_tiers(session: DbSession, user: AdminUser, site_id: int | None = None) -> TierPreviewPublic:
    """Who would move (up or down) if the running assessment period ended now; nothing changes."""
    changes = tiers.preview_assessment(session, site_id=site_id)
    return TierPreviewPublic(count=len(changes), data=[
        TierChangePublic(customer_id=c.customer_id, old=c.old, new=c.new, upgrade=c.upgrade) for c in changes])


@router.get("/api/v1/followups", response_model=FollowUpsPublic)
def list_followups(session: DbSession, user: AgentUser, status: str = Query("due", pattern="^(due|done)$"),
                   due_now: bool = False, limit: int = Query(50, ge=1, le=200)) -> FollowUpsPublic:
    """Satisfaction follow-up calls of the tickets the caller may see (`due_now`: only those
    whose time has come)."""
    rows = care.followups_for(session, viewer=user, status=status, due_now=due_now, limit=limit)
    return FollowUpsPublic(data=[FollowUpPublic.model_validate(r) for r in rows], count=len(rows))


@router.post("/api/v1/followups/{followup_id}/complete", response_model=FollowUpPublic)
def complete_followup(followup_id: int, body: FollowUpComplete, session: DbSession, user: AgentUser) -> FollowUpPublic:
    """The follow-up call's outcome and, when the customer was reached, their satisfaction 1-5."""
    followup = care.record_followup(session, followup_id=followup_id, by=user, satisfaction=body.satisfaction,
                                    outcome=body.outcome, note=body.note)
    return FollowUpPublic.model_validate(followup)


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


@router.post("/api/v1/customers/{customer_id}/purchases", response_model=PurchasePublic, status_code=201)
def add_purchase(customer_id: int, body: PurchaseCreate, session: DbSession, user: AdminUser,
                 response: Response) -> PurchasePublic:
    """One purchase from the till or membership system (an administrator's API token). The same
    `source_id` again answers 200 with `created: false` and adds nothing."""
    result = purchases.add_purchase(session, customer_id=customer_id, source_id=body.source_id,
                                    amount_cents=body.amount_cents, at=body.at, by=user)
    if not result.created:
        response.status_code = 200
    return PurchasePublic.model_validate(asdict(result))


@router.post("/api/v1/customers/{customer_id}/points/redeem", response_model=PointsPublic)
def redeem_points(customer_id: int, body: PointsRedeem, session: DbSession, user: AgentUser,
                  ip: ClientIP) -> PointsPublic:
    """Redeem points with a reason, by someone who may see the customer's details."""
    balance = purchases.redeem(session, customer_id=customer_id, points=body.points, reason=body.reason, by=user,
                               source_ip=ip)
    return PointsPublic(customer_id=customer_id, points=balance)


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


# Asking for a callback authorisation --------------------------------------------------------


def _request(request: CallbackGrantRequest) -> GrantRequestPublic:
    return GrantRequestPublic(
        id=request.id, customer_id=request.customer_id, agent_id=request.agent_id, ticket_id=request.ticket_id,
        reason=request.reason, status=request.state(), created_at=request.created_at,
        expires_at=request.expires_at, decided_by_name=request.decided_by_name, decided_at=request.decided_at,
        decline_reason=request.decline_reason, grant_id=request.grant_id)


@router.get("/api/v1/grant-requests", response_model=GrantRequestsPublic)
def list_grant_requests(session: DbSession, user: AgentUser) -> GrantRequestsPublic:
    """One's own requests (newest first) and the waiting ones one may answer (oldest first)."""
    return GrantRequestsPublic(mine=[_request(r) for r in grant_requests.mine(session, user=user)],
                               waiting_for_me=[_request(r) for r in grant_requests.waiting_for(session, user=user)])


@router.post("/api/v1/grant-requests", response_model=GrantRequestPublic, status_code=201)
def ask_for_grant(body: GrantRequestCreate, session: DbSession, user: AgentUser, ip: ClientIP) -> GrantRequestPublic:
    """Ask for a callback authorisation for a customer of one's site, with a reason: the customer's
    site manager, the site's supervisors and the center head are told."""
    if body.ticket_id is not None:
        made = grant_requests.ask_for_ticket(session, ticket_id=body.ticket_id, by=user, reason=body.reason,
                                             source_ip=ip)
        if made.customer_id != body.customer_id:
            raise ValidationFailed("The ticket is about another customer.", field="ticket_id")
    else:
        made = grant_requests.ask(session, customer_id=body.customer_id, by=user, reason=body.reason, source_ip=ip)
    return _request(made)


@router.post("/api/v1/grant-requests/{request_id}/grant", response_model=GrantRequestPublic)
def grant_request(request_id: int, body: GrantRequestGrant, session: DbSession, user: AgentUser,
                  ip: ClientIP) -> GrantRequestPublic:
    return _request(grant_requests.grant(session, request_id=request_id, by=user,
                                         duration_minutes=body.duration_minutes, note=body.note, source_ip=ip))


@router.post("/api/v1/grant-requests/{request_id}/decline", response_model=GrantRequestPublic)
def decline_grant_request(request_id: int, body: GrantRequestDecline, session: DbSession, user: AgentUser,
                          ip: ClientIP) -> GrantRequestPublic:
    return _request(grant_requests.decline(session, request_id=request_id, by=user, reason=body.reason,
                                           source_ip=ip))


@router.post("/api/v1/grant-requests/{request_id}/withdraw", response_model=GrantRequestPublic)
def withdraw_grant_request(request_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> GrantRequestPublic:
    return _request(grant_requests.withdraw(session, request_id=request_id, by=user, source_ip=ip))
