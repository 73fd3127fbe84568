"""Asking for a callback authorisation: someone who makes callbacks asks for one for a customer of
their site, with a reason; the people who may grant it (tickets.grants.grantor_basis: the
customer's site manager, a supervisor of that site, the center head) are told, and one of them
grants it (through tickets.grants.create_grant, so every grant rule holds) or declines it with a
reason; the person who asked is told the outcome. A request nobody answers lapses after
REQUEST_HOURS (read from the clock: no task needed). Every step is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import assignments, clock, directory
from core.audit import record, record_refusal
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from tickets import escalation, grants
from tickets.access import get_visible
from tickets.models.customers import CallbackGrantRequest, Customer

REQUEST_HOURS = 8  # a request not answered within a shift lapses; the person asks again
REASON_LIMIT = 500
KIND_ASKED = "grant_request.asked"
KIND_GRANTED = "grant_request.granted"
KIND_DECLINED = "grant_request.declined"


class RequestDuplicate(Conflict):
    """You already asked for an authorisation for this customer; wait for the answer."""

    code = "grant_request_duplicate"


class RequestNeedless(Conflict):
    """You already have a live authorisation for this customer."""

    code = "grant_request_needless"


class RequestClosed(Conflict):
    """This request was already answered or withdrawn."""

    code = "grant_request_closed"


class RequestExpired(Conflict):
    """This request has lapsed without an answer; the person asks again if they still need to call."""

    code = "grant_request_expired"


class RequestNotFound(NotFound):
    """No such authorisation request."""


def _audit(session: Session, request: CallbackGrantRequest, action: str, *, actor: User | None,
           source_ip: str | None = None, **details: object) -> None:
    record(session, action=action, actor_id=actor.id if actor else None,
           actor_name=actor.username if actor else "system", object_type="callback_grant_request",
           object_id=request.id, source_ip=source_ip,
           details={"customer_id": request.customer_id, "agent_id": request.agent_id,
                    "ticket_id": request.ticket_id, **details})


def _changed(session: Session, request: CallbackGrantRequest, change: str) -> None:
    """Live pages of the asker (desktop callbacks) and of the grantors (floor) re-read their panels."""
    publish(session, "grant.changed", {
        "change": change, "request_id": request.id, "grant_id": request.grant_id,
        "customer_id": request.customer_id, "agent_id": request.agent_id, "ticket_id": request.ticket_id,
        "expires_at": request.expires_at.isoformat(),
    }, user_id=request.agent_id)


def _reason(text: str | None, field: str, missing: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed([{"loc": [field], "msg": missing}])
    if len(text) > REASON_LIMIT:
        raise ValidationFailed([{"loc": [field], "msg": "Keep the reason to 500 characters."}])
    return text


def deciders(session: Session, *, request: CallbackGrantRequest) -> list[User]:
    """Who may grant this request: the people `grants.grantor_basis` accepts for its customer's
    site and its asker (never the asker)."""
    agent = directory.find_user(session, request.agent_id)
    if agent is None or request.site_id is None:
        return []
    candidates = {u.id: u for u in directory.list_users(session, role=Role.center_head)}
    candidates.update({u.id: u for u in directory.list_users(session, role=Role.supervisor)})
    for assignment in assignments.for_site(session, site_id=request.site_id):
        if assignment.kind == assignments.SITE_MANAGER and (person := directory.find_user(session, assignment.user_id)):
            candidates[person.id] = person
    found = [person for person in candidates.values()
             if person.is_active and _may_answer(session, request, person, agent=agent)]
    return sorted(found, key=lambda u: (u.display_name, u.id))


def _may_answer(session: Session, request: CallbackGrantRequest, user: User, *, agent: User | None = None) -> bool:
    """Whether `user` may grant this request: the grant service's own rule (grants.grantor_basis)
    for the request's asker and site."""
    agent = agent or directory.find_user(session, request.agent_id)
    if agent is None or request.site_id is None:
        return False
    try:
        grants.grantor_basis(session, by=user, agent=agent, site_id=request.site_id)
    except PermissionDenied:
        return False
    return True


def pending_for(session: Session, *, customer_id: int, agent_id: int) -> CallbackGrantRequest | None:
    return session.scalars(select(CallbackGrantRequest).where(
        CallbackGrantRequest.customer_id == customer_id, CallbackGrantRequest.agent_id == agent_id,
        CallbackGrantRequest.status == "pending", CallbackGrantRequest.expires_at > clock.now(),
    ).limit(1)).first()


def latest_for(session: Session, *, customer_id: int, agent_id: int) -> CallbackGrantRequest | None:
    """The person's latest request for this customer (the pages show its state)."""
    return session.scalars(select(CallbackGrantRequest).where(
        CallbackGrantRequest.customer_id == customer_id, CallbackGrantRequest.agent_id == agent_id,
    ).order_by(CallbackGrantRequest.id.desc()).limit(1)).first()


def ask(session: Session, *, customer_id: int, by: User, reason: str, ticket_id: int | None = None,
        source_ip: str | None = None) -> CallbackGrantRequest:
    """`by` asks for a callback authorisation for `customer_id`. Refused (and audited): people who
    make no callbacks, a customer of another site, a customer erased, a live authorisation already
    held, a request already waiting."""
    reason = _reason(reason, "reason", "Say why you need to call the customer back.")
    if by.role not in grants.GRANTEE_ROLES:
        raise PermissionDenied("Callback authorisations are for agents and their managers only.")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ValidationFailed("No customer with this id.", field="customer_id")
    if customer.is_erased:
        raise Conflict("This customer was erased; nobody can be authorised to call them.", field="customer_id")

    def refuse(exc: PermissionDenied | Conflict, refused: str) -> NoReturn:
        record_refusal(session, action="grant_request.refused", actor_id=by.id, actor_name=by.username,
                       object_type="customer", object_id=customer_id, source_ip=source_ip,
                       details={"attempted": "ask", "refused": refused, "customer_id": customer_id,
                                "agent_id": by.id, "ticket_id": ticket_id})
        raise exc

    if assignments.working_site(session, by) != customer.site_id:
        refuse(grants.GranteeOtherSite("Only people of the customer's site can be authorised to call them."),
               "grantee_other_site")
    if grants.live_grant(session, customer_id=customer_id, agent_id=by.id) is not None:
        refuse(RequestNeedless(), "already_granted")
    if pending_for(session, customer_id=customer_id, agent_id=by.id) is not None:
        refuse(RequestDuplicate(), "duplicate")
    now = clock.now()
    request = CallbackGrantRequest(customer_id=customer_id, agent_id=by.id, site_id=customer.site_id,
                                   ticket_id=ticket_id, reason=reason, status="pending",
                                   expires_at=now + timedelta(hours=REQUEST_HOURS), created_at=now)
    session.add(request)
    session.flush()
    people = deciders(session, request=request)
    _audit(session, request, "grant_request.created", actor=by, source_ip=source_ip,
           deciders=[p.id for p in people])
    escalation.remind(session, user_ids=[p.id for p in people], kind=KIND_ASKED, key=f"grant-request:{request.id}",
                      params={"request_id": request.id, "user_id": by.id})
    _changed(session, request, "requested")
    return request


def ask_for_ticket(session: Session, *, ticket_id: int, by: User, reason: str,
                   source_ip: str | None = None) -> CallbackGrantRequest:
    """A request for the customer of a ticket `by` may see (the ticket page's form)."""
    ticket = get_visible(session, ticket_id=ticket_id, user=by)
    if ticket.customer_id is None:
        raise ValidationFailed("This ticket has no customer.", field="customer_id")
    return ask(session, customer_id=ticket.customer_id, by=by, reason=reason, ticket_id=ticket.id,
               source_ip=source_ip)


def get_request(session: Session, *, request_id: int, lock: bool = False) -> CallbackGrantRequest:
    request = session.get(CallbackGrantRequest, request_id, with_for_update=lock or None)
    if request is None:
        raise RequestNotFound()
    return request


def _open(session: Session, request: CallbackGrantRequest, *, by: User, attempted: str,
          source_ip: str | None) -> User:
    """The request may still be answered, and `by` may answer it (or the refusal, audited)."""
    agent = directory.find_user(session, request.agent_id)
    if agent is None:
        raise RequestNotFound()

    def refused(why: str) -> None:
        record_refusal(session, action="grant_request.refused", actor_id=by.id, actor_name=by.username,
                       object_type="callback_grant_request", object_id=request.id, source_ip=source_ip,
                       details={"attempted": attempted, "refused": why, "customer_id": request.customer_id,
                                "agent_id": request.agent_id})

    state = request.state()
    if state != "pending":
        refused(state)
        raise RequestExpired() if state == "expired" else RequestClosed()
    if request.site_id is None:
        raise RequestClosed()
    try:
        grants.grantor_basis(session, by=by, agent=agent, site_id=request.site_id)
    except grants.GrantingNotAllowed as exc:
        refused(next((code for cls, code in grants.REFUSALS.items() if isinstance(exc, cls)), "not_grantor"))
        raise
    return agent


def _close(session: Session, request: CallbackGrantRequest, *, by: User, status: str) -> None:
    request.status = status
    request.decided_by_id, request.decided_by_name, request.decided_at = by.id, by.username, clock.now()
    session.flush()
    escalation.settle(session, key_prefix=f"grant-request:{request.id}:")


def grant(session: Session, *, request_id: int, by: User, duration_minutes: int | None = None,
          note: str = "", source_ip: str | None = None) -> CallbackGrantRequest:
    """Grant the request for `duration_minutes` (the grant service's default and maximum): the
    grant carries the request's reason (and the grantor's note), and every grant rule applies."""
    request = get_request(session, request_id=request_id, lock=True)
    _open(session, request, by=by, attempted="grant", source_ip=source_ip)
    note = (note or "").strip()[:200]
    reason = (request.reason or "").strip()
    made = grants.create_grant(session, customer_id=request.customer_id, agent_id=request.agent_id,
                               reason=f"{reason} · {note}"[:500] if note else reason, by=by,
                               ticket_id=request.ticket_id, duration_minutes=duration_minutes, source_ip=source_ip)
    request.grant_id = made.id
    _close(session, request, by=by, status="granted")
    _audit(session, request, "grant_request.granted", actor=by, source_ip=source_ip, grant_id=made.id,
           expires_at=made.expires_at)
    escalation.remind(session, user_ids=[request.agent_id], kind=KIND_GRANTED,
                      key=f"grant-request-outcome:{request.id}", params={"request_id": request.id})
    _changed(session, request, "request_granted")
    return request


def decline(session: Session, *, request_id: int, by: User, reason: str,
            source_ip: str | None = None) -> CallbackGrantRequest:
    """Decline the request with a reason the person who asked reads."""
    reason = _reason(reason, "decline_reason", "Say why you decline, so the agent knows what to do.")
    request = get_request(session, request_id=request_id, lock=True)
    _open(session, request, by=by, attempted="decline", source_ip=source_ip)
    request.decline_reason = reason
    _close(session, request, by=by, status="declined")
    _audit(session, request, "grant_request.declined", actor=by, source_ip=source_ip)
    escalation.remind(session, user_ids=[request.agent_id], kind=KIND_DECLINED,
                      key=f"grant-request-outcome:{request.id}", params={"request_id": request.id})
    _changed(session, request, "request_declined")
    return request


def withdraw(session: Session, *, request_id: int, by: User, source_ip: str | None = None) -> CallbackGrantRequest:
    """The person who asked takes a waiting request back."""
    request = get_request(session, request_id=request_id, lock=True)
    if request.agent_id != by.id:
        raise RequestNotFound()
    state = request.state()
    if state != "pending":
        raise RequestExpired() if state == "expired" else RequestClosed()
    _close(session, request, by=by, status="withdrawn")
    _audit(session, request, "grant_request.withdrawn", actor=by, source_ip=source_ip)
    _changed(session, request, "request_withdrawn")
    return request


def withdraw_for_erasure(session: Session, *, customer_id: int) -> int:
    """An erased customer: waiting requests end, and every reason is dropped."""
    count = 0
    for request in session.scalars(select(CallbackGrantRequest).where(CallbackGrantRequest.customer_id == customer_id)):
        if request.status == "pending":
            request.status, request.decided_at, request.decided_by_name = "withdrawn", clock.now(), "system:erasure"
            escalation.settle(session, key_prefix=f"grant-request:{request.id}:")
            count += 1
        request.reason, request.decline_reason = None, None
    session.flush()
    return count


def mine(session: Session, *, user: User, limit: int = 30) -> list[CallbackGrantRequest]:
    """The person's own requests, newest first."""
    return list(session.scalars(select(CallbackGrantRequest).where(CallbackGrantRequest.agent_id == user.id)
                                .order_by(CallbackGrantRequest.id.desc()).limit(max(1, min(limit, 200)))))


def waiting_for(session: Session, *, user: User, limit: int = 50) -> list[CallbackGrantRequest]:
    """The waiting requests `user` may answer, oldest first (each checked with the grant rules)."""
    if not grants.may_grant_at_all(session, by=user):
        return []
    query = select(CallbackGrantRequest).where(CallbackGrantRequest.status == "pending",
                                               CallbackGrantRequest.expires_at > clock.now(),
                                               CallbackGrantRequest.agent_id != user.id)
    if user.role != Role.center_head.value:
        sites = set(assignments.managed_site_ids(session, user_id=user.id))
        if user.role == Role.supervisor.value and (here := assignments.working_site(session, user)) is not None:
            sites.add(here)
        query = query.where(CallbackGrantRequest.site_id.in_(sites))
    requests = session.scalars(query.order_by(CallbackGrantRequest.id).limit(max(1, min(limit, 200))))
    return [request for request in requests if _may_answer(session, request, user)]


def count_waiting(session: Session, *, user: User) -> int:
    return len(waiting_for(session, user=user, limit=200))


def visible_to(session: Session, *, request: CallbackGrantRequest, user: User) -> bool:
    """The asker, and whoever may answer it (or did)."""
    if request.agent_id == user.id or request.decided_by_id == user.id:
        return True
    return _may_answer(session, request, user)

