"""Time-limited callback authorisations: who may grant them (separation of duties), granting,
extending within a capped total life, revoking, the live check made at every use (view or dial),
and recording expiries. Correctness never waits for a task."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import assignments, clock, directory
from core.audit import record, record_refusal
from core.config import get_settings
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from tickets.access import get_visible, staff_member
from tickets.models.customers import CallbackGrant, Customer

DEFAULT_WINDOW_SECONDS = 2 * 3600
MAX_WINDOW_SECONDS = 24 * 3600
# Roles that may grant by their rank (a supervisor at their site, the center head anywhere);
# a named site manager may grant whatever their role.
GRANTOR_ROLES = frozenset({Role.supervisor.value, Role.center_head.value})
# People who make callbacks. Administrators and QA inspectors handle no customer details.
GRANTEE_ROLES = frozenset({Role.agent.value, Role.team_leader.value, Role.supervisor.value, Role.center_head.value})
SYSTEM_IVR = "system:ivr"
PURPOSES = ("view", "dial")


class NoGrant(PermissionDenied):
    """You have no callback authorisation for this customer; ask a supervisor or your team leader for one."""

    code = "no_grant"


class GrantExpired(PermissionDenied):
    """Your callback authorisation for this customer has expired; ask a supervisor or your team leader for a new one."""

    code = "grant_expired"


class GrantRevoked(PermissionDenied):
    """Your callback authorisation for this customer was revoked; ask a supervisor if you still need to call."""

    code = "grant_revoked"


class GrantOverlap(Conflict):
    """This agent already has a live authorisation for this customer; extend it instead of granting another."""

    code = "grant_overlap"
    default_field = "agent_id"


class GrantNotFound(NotFound):
    """No such callback authorisation."""


class GrantingNotAllowed(PermissionDenied):
    """Only the customer's site manager, a supervisor of that site, or the center head can grant,
    extend or revoke a callback authorisation."""

    code = "grant_not_grantor"
    default_field = "agent_id"


class GrantToSelf(GrantingNotAllowed):
    """Nobody authorises themselves; ask the site manager or a supervisor of the customer's site."""

    code = "grant_self"


class GranteeOtherSite(GrantingNotAllowed):
    """Choose someone who works at the customer's site."""

    code = "grant_other_site"


class GrantTooLong(ValidationFailed):
    """A grant's whole life, extensions included, is capped at HOTLINE_GRANT_MAX_SECONDS."""

    default_msgid = "An authorisation cannot last that long, extensions included; choose a shorter duration."

    code = "invalid"


@dataclass(frozen=True)
class CallbackTarget:
    """What telephony dials: the number never leaves the server."""

    grant_id: int
    customer_id: int
    agent_id: int
    number: str  # E.164


def default_window() -> timedelta:
    return timedelta(seconds=int(getattr(get_settings(), "grant_default_seconds", DEFAULT_WINDOW_SECONDS)))


def max_window() -> timedelta:
    return timedelta(seconds=int(getattr(get_settings(), "grant_max_seconds", MAX_WINDOW_SECONDS)))


# Permission: separation of duties ----------------------------------------------------------

REFUSALS = {GrantToSelf: "self", GranteeOtherSite: "grantee_other_site", GrantingNotAllowed: "not_grantor"}


def grantor_basis(session: Session, *, by: User, agent: User, site_id: int) -> str:
    """Why `by` may authorise `agent` for a customer of `site_id`, or the refusal (raised):
    the customer's named site manager; a supervisor of that site (and so over the grantee's team,
    which works there); the center head across sites. Nobody authorises themselves, and the
    grantee works at the customer's site."""
    if by.id == agent.id:
        raise GrantToSelf()
    if assignments.working_site(session, agent) != site_id:
        raise GranteeOtherSite()
    if assignments.is_site_manager(session, user_id=by.id, site_id=site_id):
        return "site_manager"
    if by.role == Role.supervisor.value and assignments.working_site(session, by) == site_id:
        return "supervisor"
    if by.role == Role.center_head.value:
        return "center_head"
    raise GrantingNotAllowed()


def may_grant_at_all(session: Session, *, by: User) -> bool:
    """Whether `by` can authorise anyone (pages show the grant forms only then)."""
    return by.role in GRANTOR_ROLES or bool(assignments.managed_site_ids(session, user_id=by.id))


def grantable_people(session: Session, *, by: User) -> list[User]:
    """Whom `by` may authorise, for the pages' forms: the people of the sites `by` manages or
    supervises (everyone for the center head), never `by`. The service checks each grant again."""
    if by.role == Role.center_head.value:
        sites: set[int] | None = None
    else:
        sites = set(assignments.managed_site_ids(session, user_id=by.id))
        if by.role == Role.supervisor.value and (here := assignments.working_site(session, by)) is not None:
            sites.add(here)
        if not sites:
            return []
    people = [p for p in directory.list_users(session) if p.role in GRANTEE_ROLES and p.id != by.id]
    return [p for p in people if sites is None or assignments.working_site(session, p) in sites]


def _refuse(session: Session, exc: PermissionDenied | ValidationFailed, *, action: str, by: User,
            customer_id: int | None, agent_id: int | None, grant_id: int | None = None,
            source_ip: str | None = None) -> NoReturn:
    """Audit a refused grant, extension or revocation with its reason (kept even though the
    request's own work is rolled back), then raise it."""
    reason = next((code for cls, code in REFUSALS.items() if isinstance(exc, cls)), "too_long")
    record_refusal(session, action="grant.refused", actor_id=by.id, actor_name=by.username,
                   object_type="callback_grant" if grant_id else "customer",
                   object_id=grant_id if grant_id else customer_id, source_ip=source_ip,
                   details={"attempted": action, "refused": reason, "customer_id": customer_id,
                            "agent_id": agent_id})
    raise exc


def _require_grantor(session: Session, *, by: User, agent: User, customer_id: int, action: str,
                     grant_id: int | None = None, source_ip: str | None = None) -> str:
    site_id = session.scalar(select(Customer.site_id).where(Customer.id == customer_id))
    if site_id is None:
        raise NotFound("No such customer.")
    try:
        return grantor_basis(session, by=by, agent=agent, site_id=site_id)
    except GrantingNotAllowed as exc:
        _refuse(session, exc, action=action, by=by, customer_id=customer_id, agent_id=agent.id, grant_id=grant_id,
                source_ip=source_ip)


def _agent(session: Session, agent_id: int) -> User:
    agent = staff_member(session, agent_id)
    if agent is None or not agent.is_active:
        raise ValidationFailed("No active user with this id.", field="agent_id")
    if agent.role not in GRANTEE_ROLES:
        raise ValidationFailed("Callback authorisations are for agents and their managers only.", field="agent_id")
    return agent


def _customer(session: Session, customer_id: int, *, lock: bool = False) -> Customer:
    customer = session.get(Customer, customer_id, with_for_update=lock or None)
    if customer is None:
        raise ValidationFailed("No customer with this id.", field="customer_id")
    if customer.is_erased:
        raise Conflict("This customer was erased; nobody can be authorised to call them.", field="customer_id")
    return customer


def _window(minutes: int | None, field: str) -> timedelta:
    if minutes is None:
        return default_window()
    window = timedelta(minutes=minutes)
    limit = max_window()
    if window <= timedelta(0):
        raise ValidationFailed([{"loc": [field], "msg": "The duration must be at least one minute."}])
    if window > limit:
        hours = limit.total_seconds() / 3600
        raise ValidationFailed([{"loc": [field], "msg": "An authorisation lasts at most %(hours)s hours.",
                                 "params": {"hours": f"{hours:g}"}}])
    return window


# Events and audit -------------------------------------------------------------------------


def _changed(session: Session, grant: CallbackGrant, change: str) -> None:
    publish(session, "grant.changed", {
        "change": change, "grant_id": grant.id, "customer_id": grant.customer_id, "agent_id": grant.agent_id,
        "ticket_id": grant.ticket_id, "expires_at": grant.expires_at.isoformat(),
    }, user_id=grant.agent_id)


def _audit(session: Session, grant: CallbackGrant, action: str, *, actor: User | None, actor_name: str | None = None,
           source_ip: str | None = None, **details: object) -> None:
    record(session, action=action, actor_id=actor.id if actor else None,
           actor_name=actor.username if actor else actor_name, object_type="callback_grant", object_id=grant.id,
           source_ip=source_ip, details={"customer_id": grant.customer_id, "agent_id": grant.agent_id,
                                         "expires_at": grant.expires_at, **details})


# Granting ---------------------------------------------------------------------------------


def _overlapping(session: Session, *, customer_id: int, agent_id: int, starts: datetime, expires: datetime,
                 exclude_id: int | None = None) -> CallbackGrant | None:
    query = select(CallbackGrant).where(
        CallbackGrant.customer_id == customer_id, CallbackGrant.agent_id == agent_id,
        CallbackGrant.revoked_at.is_(None), CallbackGrant.starts_at < expires, CallbackGrant.expires_at > starts,
    )
    if exclude_id is not None:
        query = query.where(CallbackGrant.id != exclude_id)
    return session.scalars(query.limit(1)).first()


def create_grant(session: Session, *, customer_id: int, agent_id: int, reason: str, by: User,
                 ticket_id: int | None = None, starts_at: datetime | None = None,
                 duration_minutes: int | None = None, source_ip: str | None = None) -> CallbackGrant:
    """Authorise `agent_id` to see and call back `customer_id` for `duration_minutes` (default and
    maximum from settings: 2 h and 24 h) from `starts_at` (default now). Only the customer's site
    manager, a supervisor of that site or the center head may (`grantor_basis`); a refusal is
    audited with its reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed([{"loc": ["reason"], "msg": "Say why the callback is needed."}])
    if len(reason) > 500:
        raise ValidationFailed([{"loc": ["reason"], "msg": "Keep the reason to 500 characters."}])
    now = clock.now()
    starts = starts_at or now
    if starts.tzinfo is None or starts < now - timedelta(minutes=1):
        raise ValidationFailed([{"loc": ["starts_at"], "msg": "The start must be now or later, with a time zone."}])
    window = _window(duration_minutes, "duration_minutes")
    agent = _agent(session, agent_id)
    customer = _customer(session, customer_id, lock=True)
    basis = _require_grantor(session, by=by, agent=agent, customer_id=customer.id, action="grant",
                             source_ip=source_ip)
    return _insert(session, customer_id=customer_id, agent=agent, reason=reason, ticket_id=ticket_id,
                   starts=starts, expires=starts + window, by=by, by_name=by.username, source_ip=source_ip,
                   basis=basis)


def create_for_ticket(session: Session, *, ticket_id: int, agent_id: int, reason: str, by: User,
                      duration_minutes: int | None = None, source_ip: str | None = None) -> CallbackGrant:
    """A grant for the customer of a ticket that `by` may see (the pages' grant forms): the same
    rules as `create_grant`, linked to the ticket."""
    ticket = get_visible(session, ticket_id=ticket_id, user=by)
    if ticket.customer_id is None:
        raise ValidationFailed("This ticket has no customer.", field="customer_id")
    return create_grant(session, customer_id=ticket.customer_id, agent_id=agent_id, reason=reason, by=by,
                        ticket_id=ticket.id, duration_minutes=duration_minutes, source_ip=source_ip)


def _insert(session: Session, *, customer_id: int, agent: User, reason: str, ticket_id: int | None,
            starts: datetime, expires: datetime, by: User | None, by_name: str, source_ip: str | None,
            basis: str = "system") -> CallbackGrant:
    if _overlapping(session, customer_id=customer_id, agent_id=agent.id, starts=starts, expires=expires):
        raise GrantOverlap()
    grant = CallbackGrant(customer_id=customer_id, agent_id=agent.id, ticket_id=ticket_id, reason=reason,
                          granted_by_id=by.id if by else None, granted_by_name=by_name, starts_at=starts,
                          expires_at=expires)
    session.add(grant)
    session.flush()
    _audit(session, grant, "grant.created", actor=by, actor_name=by_name, source_ip=source_ip,
           ticket_id=ticket_id, starts_at=starts, basis=basis)
    _changed(session, grant, "granted")
    return grant


def grant_for_ivr_callback(session: Session, *, customer_id: int, agent_id: int,
                           ticket_id: int | None) -> CallbackGrant | None:
    """A caller asked the IVR for a callback: the agent who takes the ticket is authorised for the
    default window by the system, under the grant rules (a person of the customer's site; the
    whole life within the maximum). A live grant for the same pair is extended instead
    (idempotent). None when the rules allow no grant: a manager grants one by hand then."""
    agent = _agent(session, agent_id)
    customer = _customer(session, customer_id, lock=True)
    if agent.site_id != customer.site_id:
        return None
    now = clock.now()
    expires = now + default_window()
    current = live_grant(session, customer_id=customer_id, agent_id=agent_id)
    if current is not None:
        expires = min(expires, current.starts_at + max_window())  # the whole life stays within the maximum
        if current.expires_at < expires:
            previous = current.expires_at
            current.expires_at = expires
            session.flush()
            _audit(session, current, "grant.extended", actor=None, actor_name=SYSTEM_IVR, previous=previous)
            _changed(session, current, "extended")
        return current
    return _insert(session, customer_id=customer_id, agent=agent, reason="Callback requested in the IVR",
                   ticket_id=ticket_id, starts=now, expires=expires, by=None, by_name=SYSTEM_IVR, source_ip=None)


def get_grant(session: Session, *, grant_id: int) -> CallbackGrant:
    grant = session.get(CallbackGrant, grant_id)
    if grant is None:
        raise GrantNotFound()
    return grant


def extend_grant(session: Session, *, grant_id: int, by: User, duration_minutes: int | None = None,
                 source_ip: str | None = None) -> CallbackGrant:
    """Move a live grant's expiry to now + `duration_minutes` (default window). Whoever may grant
    it may extend it (never the grantee); the grant's whole life, from its start, stays within
    HOTLINE_GRANT_MAX_SECONDS however often it is extended."""
    grant = get_grant(session, grant_id=grant_id)
    _require_grantor(session, by=by, agent=_agent_or_missing(session, grant.agent_id), customer_id=grant.customer_id,
                     action="extend", grant_id=grant.id, source_ip=source_ip)
    window = _window(duration_minutes, "duration_minutes")
    now = clock.now()
    if grant.revoked_at is not None:
        raise Conflict("This authorisation has ended; grant a new one instead.", params={"state": "revoked"})
    if grant.expires_at <= now:
        raise Conflict("This authorisation has ended; grant a new one instead.", params={"state": "expired"})
    expires = now + window
    if expires <= grant.expires_at:
        raise ValidationFailed([{"loc": ["duration_minutes"],
                                 "msg": "The authorisation already runs longer than that; give a longer duration."}])
    latest = grant.starts_at + max_window()
    if expires > latest:
        hours = max_window().total_seconds() / 3600
        _refuse(session, GrantTooLong([{"loc": ["duration_minutes"], "msg": (
            "An authorisation lasts at most %(hours)s hours in all, extensions included; choose a shorter duration "
            "or grant a new one later."), "params": {"hours": f"{hours:g}",
                                                     "latest": latest.isoformat(timespec="minutes")}}]),
            action="extend", by=by, customer_id=grant.customer_id, agent_id=grant.agent_id, grant_id=grant.id,
            source_ip=source_ip)
    if _overlapping(session, customer_id=grant.customer_id, agent_id=grant.agent_id, starts=grant.starts_at,
                    expires=expires, exclude_id=grant.id):
        raise GrantOverlap("Another authorisation for this agent and customer starts before the new expiry.")
    previous = grant.expires_at
    grant.expires_at = expires
    session.flush()
    _audit(session, grant, "grant.extended", actor=by, source_ip=source_ip, previous=previous)
    _changed(session, grant, "extended")
    return grant


def _agent_or_missing(session: Session, agent_id: int) -> User:
    agent = staff_member(session, agent_id)
    if agent is None:
        raise GrantNotFound("The agent of this authorisation no longer exists.")
    return agent


def revoke_grant(session: Session, *, grant_id: int, by: User | None, source_ip: str | None = None,
                 by_name: str | None = None) -> CallbackGrant:
    """End a grant now: its granter, or anyone who may grant it. Revoking a revoked grant changes
    nothing; `by=None` is the system (erasure)."""
    grant = get_grant(session, grant_id=grant_id)
    if by is not None and by.id != grant.granted_by_id:
        _require_grantor(session, by=by, agent=_agent_or_missing(session, grant.agent_id),
                         customer_id=grant.customer_id, action="revoke", grant_id=grant.id, source_ip=source_ip)
    if grant.revoked_at is not None:
        return grant
    now = clock.now()
    if grant.expires_at <= now:
        raise Conflict("This authorisation has already ended.", params={"state": "expired"})
    grant.revoked_at = now
    grant.revoked_by_id = by.id if by else None
    grant.revoked_by_name = by.username if by else (by_name or "system")
    session.flush()
    _audit(session, grant, "grant.revoked", actor=by, actor_name=grant.revoked_by_name, source_ip=source_ip)
    _changed(session, grant, "revoked")
    return grant


# Checking at every use --------------------------------------------------------------------


def live_grant(session: Session, *, customer_id: int, agent_id: int,
               at: datetime | None = None) -> CallbackGrant | None:
    moment = at or clock.now()
    return session.scalars(
        select(CallbackGrant).where(
            CallbackGrant.customer_id == customer_id, CallbackGrant.agent_id == agent_id,
            CallbackGrant.revoked_at.is_(None), CallbackGrant.starts_at <= moment, CallbackGrant.expires_at > moment,
        ).order_by(CallbackGrant.expires_at.desc()).limit(1)
    ).first()


def require_live_grant(session: Session, *, customer_id: int, agent_id: int) -> CallbackGrant:
    """The live grant for this pair now, or the reason there is none (NoGrant, GrantExpired,
    GrantRevoked: all PermissionDenied)."""
    now = clock.now()
    grant = live_grant(session, customer_id=customer_id, agent_id=agent_id, at=now)
    if grant is not None:
        return grant
    latest = session.scalars(
        select(CallbackGrant).where(CallbackGrant.customer_id == customer_id, CallbackGrant.agent_id == agent_id,
                                    CallbackGrant.starts_at <= now)
        .order_by(CallbackGrant.starts_at.desc(), CallbackGrant.id.desc()).limit(1)
    ).first()
    if latest is None:
        raise NoGrant()
    if latest.revoked_at is not None:
        raise GrantRevoked()
    raise GrantExpired()


def use_grant(session: Session, *, grant: CallbackGrant, purpose: str, source_ip: str | None = None) -> CallbackGrant:
    """Check the grant is live at this moment and audit its use for `purpose` (view or dial)."""
    if purpose not in PURPOSES:
        raise ValueError(f"a grant is used to {' or '.join(PURPOSES)}")
    now = clock.now()
    if grant.revoked_at is not None:
        raise GrantRevoked()
    if not grant.starts_at <= now < grant.expires_at:
        raise GrantExpired() if now >= grant.expires_at else NoGrant("Your callback authorisation has not started yet.")
    agent = staff_member(session, grant.agent_id)
    _audit(session, grant, "grant.used", actor=agent, source_ip=source_ip, purpose=purpose)
    return grant


def callback_target(session: Session, *, customer_id: int, agent_id: int,
                    source_ip: str | None = None) -> CallbackTarget:
    """For telephony's outbound callback: check the live grant now, audit the dial, and return the
    primary number for the server to dial (never sent to the browser)."""
    grant = require_live_grant(session, customer_id=customer_id, agent_id=agent_id)
    customer = session.get(Customer, customer_id)
    if customer is None or customer.is_erased or customer.primary_phone is None:
        raise NotFound("This customer has no phone number to call.")
    use_grant(session, grant=grant, purpose="dial", source_ip=source_ip)
    return CallbackTarget(grant.id, customer_id, agent_id, customer.primary_phone.number)


# Listing and expiry -----------------------------------------------------------------------


def list_grants(session: Session, *, viewer: User, live_only: bool = False, customer_id: int | None = None,
                agent_id: int | None = None, limit: int = 50, offset: int = 0) -> tuple[list[CallbackGrant], int]:
    """The center head sees every grant; a supervisor or site manager those for the customers of
    their sites, a team leader their team's; anyone else their own. Newest first."""
    query = select(CallbackGrant)
    if viewer.role != Role.center_head.value:
        mine = [CallbackGrant.agent_id == viewer.id, CallbackGrant.granted_by_id == viewer.id]
        sites = set(assignments.managed_site_ids(session, user_id=viewer.id))
        if viewer.role == Role.supervisor.value and (here := assignments.working_site(session, viewer)) is not None:
            sites.add(here)
        if sites:
            mine.append(CallbackGrant.customer_id.in_(select(Customer.id).where(Customer.site_id.in_(sites))))
        if viewer.role == Role.team_leader.value and viewer.team_id is not None:
            places = directory.user_places().subquery()
            mine.append(CallbackGrant.agent_id.in_(select(places.c.user_id).where(places.c.team_id == viewer.team_id)))
        query = query.where(or_(*mine))
    if live_only:
        now = clock.now()
        query = query.where(CallbackGrant.revoked_at.is_(None), CallbackGrant.starts_at <= now,
                            CallbackGrant.expires_at > now)
    if customer_id is not None:
        query = query.where(CallbackGrant.customer_id == customer_id)
    if agent_id is not None:
        query = query.where(CallbackGrant.agent_id == agent_id)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(CallbackGrant.id.desc())
                           .limit(max(1, min(limit, 200))).offset(max(offset, 0)))
    return list(rows), count


def record_expiries(session: Session, *, limit: int = 500) -> int:
    """Audit and announce grants that ran out (not revoked) and were not recorded yet. Idempotent:
    `expiry_recorded_at` marks the ones done. Returns how many were recorded."""
    now = clock.now()
    query = (select(CallbackGrant)
             .where(CallbackGrant.expires_at <= now, CallbackGrant.revoked_at.is_(None),
                    CallbackGrant.expiry_recorded_at.is_(None))
             .order_by(CallbackGrant.expires_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    grants = list(session.scalars(query))
    for grant in grants:
        grant.expiry_recorded_at = now
        _audit(session, grant, "grant.expired", actor=None, actor_name="system")
        publish(session, "grant.expired", {"grant_id": grant.id, "customer_id": grant.customer_id,
                                           "agent_id": grant.agent_id, "expires_at": grant.expires_at.isoformat()},
                user_id=grant.agent_id)
    session.flush()
    return len(grants)
