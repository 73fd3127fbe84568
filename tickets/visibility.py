"""Who may see a customer's details (ownership, the call being offered, a live callback grant, a
named manager of the customer's site), which customers a person may list or find (masked), the
call-access rows telephony opens and closes, and full or masked cards."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core import assignments, clock
from core.audit import record
from core.config import get_settings
from core.errors import NotFound
from core.models import Role, User
from core.phones import mask_phone
from tickets import grants as grant_service
from tickets.customer_fields import initials
from tickets.models.customers import CallAccess, CallbackGrant, Customer

# Managers who list their own site's customers (masked cards and counts); the whole center's for
# those above a site. Details need more: see `_reason`.
SITE_BOUND = frozenset({Role.team_leader.value, Role.supervisor.value})
CENTER_WIDE = frozenset({Role.center_head.value, Role.admin.value})
# A call access nobody closed (a lost wrap-up event) still ends: no call lasts this long.
CALL_ACCESS_CAP = timedelta(hours=8)
REASONS = ("ownership", "call", "site", "grant")


class CustomerNotFound(NotFound):
    """No such customer."""


@dataclass(frozen=True)
class Access:
    """Why a viewer may see the details: the reason, and the grant or call it rests on."""

    reason: str
    grant: CallbackGrant | None = None
    call_ref: str | None = None


@dataclass(frozen=True)
class PhoneView:
    number: str  # E.164 on a full card, `+86 138****0000` on a masked one
    is_primary: bool
    masked: str = ""  # the masked number, what a printout shows


@dataclass(frozen=True)
class CustomerCard:
    """What a viewer sees. A masked card has initials, masked numbers, the tier and the site;
    every personal field is None on it."""

    id: int
    masked: bool
    access: str | None
    display_name: str
    phones: list[PhoneView]
    tier: str
    site_id: int
    owning_agent_id: int | None
    erased: bool = False
    gender: str | None = None
    birthday: str | None = None
    age: str | None = None
    email: str | None = None
    address: str | None = None
    id_number: str | None = None
    preferences: dict[str, Any] | None = None
    special_needs: str | None = None
    consent_purposes: list[str] = field(default_factory=list)
    consent_method: str | None = None
    consent_at: datetime | None = None
    points: int | None = None
    spend_cents: int | None = None
    last_contact_at: datetime | None = None
    print_name: str = ""  # the masked name, what a printout shows instead of the name


# Call access ------------------------------------------------------------------------------


def open_call_access(session: Session, *, customer_id: int, agent_id: int, call_ref: str,
                     until: datetime | None = None) -> CallAccess:
    """Let `agent_id` see the caller's details from now until `close_call_access` or `until`
    (without one: until closed, at most CALL_ACCESS_CAP). Opening the same call for the same agent
    again moves the end of the open row: an offer's `until` becomes open-ended when the call is
    answered, then the end of wrap-up when the call ends."""
    if session.get(Customer, customer_id) is None:
        raise CustomerNotFound()
    now = clock.now()
    existing = session.scalars(select(CallAccess).where(
        CallAccess.call_ref == call_ref, CallAccess.agent_id == agent_id, CallAccess.customer_id == customer_id,
        CallAccess.ended_at.is_(None))).first()
    if existing is not None:
        existing.ends_at = until or now + CALL_ACCESS_CAP
        session.flush()
        return existing
    access = CallAccess(customer_id=customer_id, agent_id=agent_id, call_ref=call_ref, started_at=now,
                        ends_at=until or now + CALL_ACCESS_CAP)
    session.add(access)
    session.flush()
    return access


def close_call_access(session: Session, *, call_ref: str, agent_id: int | None = None) -> int:
    """End the access of a call (for one agent, or all) at wrap-up end; returns how many ended."""
    query = update(CallAccess).where(CallAccess.call_ref == call_ref, CallAccess.ended_at.is_(None))
    if agent_id is not None:
        query = query.where(CallAccess.agent_id == agent_id)
    result = session.execute(query.values(ended_at=clock.now()).execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)


def live_call_access(session: Session, *, customer_id: int, agent_id: int) -> CallAccess | None:
    now = clock.now()
    return session.scalars(select(CallAccess).where(
        CallAccess.customer_id == customer_id, CallAccess.agent_id == agent_id, CallAccess.ended_at.is_(None),
        CallAccess.started_at <= now, or_(CallAccess.ends_at.is_(None), CallAccess.ends_at > now),
    ).limit(1)).first()


# The rule ---------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def workstation_allowed(source_ip: str | None) -> bool:
    """Whether personal data may be shown to a request from `source_ip` (the client address as
    `core.auth.client_ip` finds it, trusted proxies honoured). With no registered workstations
    (`HOTLINE_WORKSTATION_NETWORKS` empty, the default) the check is off; with some, an unknown
    or unparseable address is refused, so a path that forgets the address fails closed."""
    entries = tuple(get_settings().workstation_networks)
    if not entries:
        return True
    if not source_ip:
        return False
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(entries))


def details_access(session: Session, *, customer: Customer, viewer: User, source_ip: str | None) -> Access | None:
    """Why `viewer` may see `customer`'s details now, from `source_ip`, or None. The least
    exceptional reason wins, so a grant is only used when nothing else allows the view. Outside
    the registered workstations (when there are any) nobody sees details, whatever the reason."""
    if not workstation_allowed(source_ip):
        return None
    return _reason(session, customer=customer, viewer=viewer)


def _reason(session: Session, *, customer: Customer, viewer: User) -> Access | None:
    if customer.is_erased or not viewer.is_active:
        return None
    if customer.owning_agent_id is not None and customer.owning_agent_id == viewer.id:
        return Access("ownership")
    call = live_call_access(session, customer_id=customer.id, agent_id=viewer.id)
    if call is not None:
        return Access("call", call_ref=call.call_ref)
    # A named manager of the customer's site (an assignment, not a role).
    if assignments.is_site_manager(session, user_id=viewer.id, site_id=customer.site_id):
        return Access("site")
    grant = grant_service.live_grant(session, customer_id=customer.id, agent_id=viewer.id)
    if grant is not None:
        return Access("grant", grant=grant)
    return None


# Lists and lookups -------------------------------------------------------------------------


def list_scope(viewer: User) -> dict[str, int] | None:
    """Which customers `viewer` may list and find (as masked cards), as filters for
    `tickets.customers.list_customers`: an agent their own customers, a team leader or supervisor
    their site's, the center head and administrators every site ({}). None: no customer at all
    (QA inspectors, who work on recordings). The customers page and the API both use this."""
    if viewer.role == Role.agent.value:
        return {"owning_agent_id": viewer.id}
    if viewer.role in SITE_BOUND:
        return {"site_id": viewer.site_id} if viewer.site_id is not None else {}
    if viewer.role in CENTER_WIDE:
        return {}
    return None


def in_scope(viewer: User, customer: Customer) -> bool:
    scope = list_scope(viewer)
    if scope is None:
        return False
    if "owning_agent_id" in scope:
        return customer.owning_agent_id == scope["owning_agent_id"]
    return "site_id" not in scope or customer.site_id == scope["site_id"]


def findable(session: Session, *, customer: Customer | None, viewer: User) -> Customer | None:
    """The customer a phone lookup found, if `viewer` may know of them: in their list, or one whose
    details they may see now (the caller of their call, a live grant). Otherwise None, so a
    number of someone else's customer reads the same as an unknown number."""
    if customer is None or customer.is_erased or not viewer.is_active:
        return None
    if in_scope(viewer, customer) or _reason(session, customer=customer, viewer=viewer) is not None:
        return customer
    return None


# Cards ------------------------------------------------------------------------------------


def masked_card(customer: Customer) -> CustomerCard:
    """The card anyone on the staff may see: initials, masked numbers, tier and site."""
    return CustomerCard(
        id=customer.id, masked=True, access=None,
        display_name="(erased)" if customer.is_erased else initials(customer.name),
        phones=[PhoneView(mask_phone(p.number), p.is_primary, mask_phone(p.number)) for p in customer.phones],
        tier=customer.tier, site_id=customer.site_id, owning_agent_id=customer.owning_agent_id,
        erased=customer.is_erased, print_name="(erased)" if customer.is_erased else initials(customer.name),
    )


def masked_cards(session: Session, *, customer_ids: set[int]) -> dict[int, CustomerCard]:
    """Masked cards of many customers at once (lists of grants and callbacks)."""
    if not customer_ids:
        return {}
    return {c.id: masked_card(c) for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))}


def full_card(customer: Customer, *, access: str) -> CustomerCard:
    return CustomerCard(
        id=customer.id, masked=False, access=access, display_name=customer.name or "",
        print_name=initials(customer.name),
        phones=[PhoneView(p.number, p.is_primary, mask_phone(p.number)) for p in customer.phones],
        tier=customer.tier, site_id=customer.site_id, owning_agent_id=customer.owning_agent_id,
        gender=customer.gender, birthday=customer.birthday, age=customer.age, email=customer.email,
        address=customer.address, id_number=customer.id_number, preferences=customer.preferences,
        special_needs=customer.special_needs, consent_purposes=list(customer.consent_purposes or []),
        consent_method=customer.consent_method, consent_at=customer.consent_at, points=customer.points,
        spend_cents=customer.spend_cents, last_contact_at=customer.last_contact_at,
    )


def get_customer(session: Session, *, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound()
    return customer


def card_for(session: Session, *, customer: Customer, viewer: User, source_ip: str | None = None) -> CustomerCard:
    """The full card, audited (and the grant's use audited), if `viewer` may see it; else masked.
    A view the rules allow but refused because it comes from an unregistered workstation is
    audited too, so attempts from elsewhere show up in the trail."""
    if not workstation_allowed(source_ip):
        reason = _reason(session, customer=customer, viewer=viewer)
        if reason is not None:
            record(session, action="customer.view_refused", actor_id=viewer.id, actor_name=viewer.username,
                   object_type="customer", object_id=customer.id, source_ip=source_ip,
                   details={"reason": reason.reason, "refused": "workstation"})
        return masked_card(customer)
    access = details_access(session, customer=customer, viewer=viewer, source_ip=source_ip)
    if access is None:
        return masked_card(customer)
    details: dict[str, object] = {"reason": access.reason}
    if access.grant is not None:
        grant_service.use_grant(session, grant=access.grant, purpose="view", source_ip=source_ip)
        details["grant_id"] = access.grant.id
    if access.call_ref is not None:
        details["call_ref"] = access.call_ref
    record(session, action="customer.viewed", actor_id=viewer.id, actor_name=viewer.username,
           object_type="customer", object_id=customer.id, source_ip=source_ip, details=details)
    return full_card(customer, access=access.reason)


def view_customer(session: Session, *, customer_id: int, viewer: User, source_ip: str | None = None) -> CustomerCard:
    """A customer's card as `viewer` may see it: full and audited (who, which customer, why), or
    masked and not audited."""
    return card_for(session, customer=get_customer(session, customer_id=customer_id), viewer=viewer,
                    source_ip=source_ip)


def card_after_write(session: Session, *, customer: Customer, viewer: User, source_ip: str | None) -> CustomerCard:
    """The card returned by a create or change: the write itself was audited, so no view entry."""
    access = details_access(session, customer=customer, viewer=viewer, source_ip=source_ip)
    return masked_card(customer) if access is None else full_card(customer, access=access.reason)
