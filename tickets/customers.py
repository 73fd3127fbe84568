"""Customers: create, change with history, find by phone through the blind index, erase, list and
count. Who may see details is decided in `tickets.visibility`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock, organisation
from core.audit import record
from core.crypto import phone_index
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from core.phones import InvalidPhoneNumber
from tickets import erasure
from tickets import grants as grant_service
from tickets.access import staff_member
from tickets.customer_fields import (
    EDITABLE_FIELDS,
    INVALID_PHONE,
    PERSONAL_FIELDS,
    CleanPhone,
    Problems,
    clean_fields,
)
from tickets.models.customers import (
    TIERS,
    Customer,
    CustomerChange,
    CustomerPhone,
)
from tickets.visibility import CustomerNotFound, details_access, get_customer, workstation_allowed

__all__ = [
    "CallerMatch", "CustomerAggregates", "CustomerErased", "CustomerNotFound", "PhoneTaken", "aggregates",
    "caller_match", "change_history", "create_customer", "erase_customer", "find_by_phone", "get_customer",
    "history", "identify_by_index", "identify_caller", "list_customers", "update_customer",
]


class CustomerErased(Conflict):
    """This customer was erased; their personal data is gone and cannot be changed."""

    code = "erased"


class PhoneTaken(Conflict):
    """This phone number already belongs to another customer."""

    code = "phone_taken"


@dataclass(frozen=True)
class CallerMatch:
    """What the IVR and the router need about a caller, without personal data."""

    customer_id: int
    tier: str
    site_id: int
    owning_agent_id: int | None


@dataclass
class CustomerAggregates:
    total: int = 0
    by_tier: dict[str, int] = field(default_factory=dict)
    by_site: dict[int, int] = field(default_factory=dict)


def _actor(by: User | None) -> dict[str, Any]:
    return {"actor_id": by.id if by else None, "actor_name": by.username if by else "system"}


def _check_refs(session: Session, values: Mapping[str, Any], problems: Problems) -> None:
    if values.get("site_id") is not None:
        try:
            organisation.get_site(session, site_id=values["site_id"])
        except NotFound:
            problems.add(["site_id"], "No site with this id.")
    owner_id = values.get("owning_agent_id")
    if owner_id is not None:
        owner = staff_member(session, owner_id)
        if owner is None or not owner.is_active or owner.role not in grant_service.GRANTEE_ROLES:
            problems.add(["owning_agent_id"], "The owner must be an active agent or manager.")


def _check_phones_free(session: Session, phones: list[CleanPhone], *, customer_id: int | None) -> None:
    if not phones:
        return
    taken = dict(session.execute(select(CustomerPhone.number_index, CustomerPhone.customer_id)
                                 .where(CustomerPhone.number_index.in_([p.index for p in phones]))).all())
    for position, phone in enumerate(phones):
        owner = taken.get(phone.index)
        if owner is not None and owner != customer_id:
            raise PhoneTaken(field=f"phones.{position}.number")


def create_customer(session: Session, *, data: Mapping[str, Any], by: User | None, source_ip: str | None = None,
                    audit: bool = True) -> Customer:
    """Create a customer from `data` (the fields of CustomerCreate). The site defaults to the
    creator's, the owner to the creator when an agent creates. Raises ValidationFailed listing
    every bad field, or PhoneTaken."""
    problems = Problems()
    data = dict(data)
    if data.get("site_id") is None and by is not None:
        data["site_id"] = by.site_id
    if data.get("owning_agent_id") is None and by is not None and by.role == Role.agent.value:
        data["owning_agent_id"] = by.id  # an agent keeps the customers they create
    values = clean_fields(data, problems, partial=False)
    if values.get("site_id") is None and not any(p["loc"] == ["site_id"] for p in problems.items):
        problems.add(["site_id"], "Choose the customer's site.")
    _check_refs(session, values, problems)
    problems.raise_if_any()
    phones: list[CleanPhone] = values.pop("phones")
    _check_phones_free(session, phones, customer_id=None)
    customer = Customer(**{k: v for k, v in values.items() if k in (*PERSONAL_FIELDS, *EDITABLE_FIELDS, "tier",
                                                                   "points", "spend_cents")})
    customer.tier = values.get("tier") or TIERS[0]
    customer.phones = [CustomerPhone(number=p.number, number_index=p.index, is_primary=p.is_primary) for p in phones]
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:
        raise PhoneTaken(field="phones") from None  # taken by a concurrent request since the check
    if audit:
        record(session, action="customer.created", object_type="customer", object_id=customer.id,
               source_ip=source_ip, details={"site_id": customer.site_id}, **_actor(by))
        publish(session, "customer.created", {"customer_id": customer.id}, site_id=customer.site_id)
    return customer


def _snapshot(customer: Customer, name: str) -> Any:
    if name == "phones":
        return [{"number": p.number, "is_primary": p.is_primary} for p in customer.phones]
    value = getattr(customer, name)
    return value.isoformat() if hasattr(value, "isoformat") else value


def update_customer(session: Session, *, customer_id: int, changes: Mapping[str, Any], by: User,
                    reason: str | None = None, requested_by_customer: bool = False,
                    source_ip: str | None = None) -> Customer:
    """Apply `changes` at once and keep a history row (field names, who, why; old values
    encrypted). Only someone who may see the details may change them; moving a customer to
    another site or owner is for their site's managers. A change the customer did not ask for
    needs a reason."""
    customer = get_customer(session, customer_id=customer_id)
    if customer.is_erased:
        raise CustomerErased()
    if not workstation_allowed(source_ip):
        raise PermissionDenied("Customer details can be changed only from a registered workstation.")
    access = details_access(session, customer=customer, viewer=by, source_ip=source_ip)
    if access is None:
        raise PermissionDenied("You may change only customers whose details you may see.")
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed([{"loc": [name], "msg": "This field cannot be changed here."} for name in unknown])
    if ({"site_id", "owning_agent_id"} & set(changes)) and access.reason != "site":
        raise PermissionDenied("Only a manager of the customer's site can move the customer or change the owner.")
    reason = (reason or "").strip() or None
    if not requested_by_customer and reason is None:
        raise ValidationFailed([{"loc": ["reason"],
                                 "msg": "Say why the data changes, or mark it as asked by the customer."}])
    problems = Problems()
    values = clean_fields(changes, problems, partial=True)
    if "site_id" in values and values["site_id"] is None:
        problems.add(["site_id"], "A customer always belongs to a site.")
    _check_refs(session, values, problems)
    problems.raise_if_any()
    if "consent_purposes" in values and "consent_at" not in changes:
        values["consent_at"] = clock.now()
    old: dict[str, Any] = {}
    for name, value in values.items():
        if name == "phones":
            current = [(p.number, p.is_primary) for p in customer.phones]
            if current != [(p.number, p.is_primary) for p in value]:
                old[name] = _snapshot(customer, name)
                _check_phones_free(session, value, customer_id=customer.id)
                _replace_phones(session, customer, value)
        elif getattr(customer, name) != value:
            old[name] = _snapshot(customer, name)
            setattr(customer, name, value)
    if not old:
        return customer
    if access.grant is not None:
        grant_service.use_grant(session, grant=access.grant, purpose="view", source_ip=source_ip)
    fields = sorted(old)
    change = CustomerChange(customer_id=customer.id, at=clock.now(), changed_by_id=by.id, changed_by_name=by.username,
                            fields=fields, reason=reason, requested_by_customer=requested_by_customer, old_values=old)
    session.add(change)
    session.flush()
    record(session, action="customer.changed", object_type="customer", object_id=customer.id, source_ip=source_ip,
           details={"fields": fields, "change_id": change.id, "requested_by_customer": requested_by_customer,
                    "access": access.reason}, **_actor(by))
    publish(session, "customer.changed", {"customer_id": customer.id, "fields": fields}, site_id=customer.site_id)
    return customer


def _replace_phones(session: Session, customer: Customer, phones: list[CleanPhone]) -> None:
    keep = {p.index: p for p in phones}
    for existing in list(customer.phones):
        if existing.number_index not in keep:
            customer.phones.remove(existing)
    session.flush()  # free removed numbers before re-adding any of them
    present = {p.number_index: p for p in customer.phones}
    for phone in phones:
        if phone.index in present:
            present[phone.index].is_primary = phone.is_primary
        else:
            customer.phones.append(CustomerPhone(number=phone.number, number_index=phone.index,
                                                 is_primary=phone.is_primary))
    session.flush()


def history(session: Session, *, customer_id: int) -> list[CustomerChange]:
    return list(session.scalars(select(CustomerChange).where(CustomerChange.customer_id == customer_id)
                                .order_by(CustomerChange.id)))


def change_history(session: Session, *, customer_id: int, viewer: User,
                   source_ip: str | None = None) -> list[CustomerChange]:
    """The history of a customer's personal data (when, who, which fields, why; the old values
    stay encrypted and are never returned) for someone who may see the details now, from a
    registered workstation; audited like a view of the details, since the reasons are personal."""
    customer = get_customer(session, customer_id=customer_id)
    access = details_access(session, customer=customer, viewer=viewer, source_ip=source_ip)
    if access is None:
        raise PermissionDenied("You may read the history only of customers whose details you may see.")
    record(session, action="customer.history_viewed", object_type="customer", object_id=customer.id,
           source_ip=source_ip, details={"reason": access.reason}, **_actor(viewer))
    return history(session, customer_id=customer.id)


# Finding ----------------------------------------------------------------------------------


class InvalidPhone(ValidationFailed):
    """The phone number is not valid."""


def find_by_phone(session: Session, *, phone: str, default_region: str | None = "CN") -> Customer | None:
    """The customer owning `phone` (any usual spelling), looked up by blind index without
    decrypting anything. Raises InvalidPhone (422, field `phone`) for a malformed number."""
    try:
        index = phone_index(phone, default_region=default_region)
    except InvalidPhoneNumber as exc:
        raise InvalidPhone([{"loc": ["phone"], "msg": INVALID_PHONE, "params": {"reason": str(exc)}}]) from None
    return session.scalars(select(Customer).join(CustomerPhone).where(CustomerPhone.number_index == index)).first()


def identify_caller(session: Session, *, caller_id: str | None) -> CallerMatch | None:
    """Caller ID for the IVR and the router: None for unknown, withheld or malformed numbers."""
    if not caller_id:
        return None
    try:
        index = phone_index(caller_id, default_region=None if caller_id.startswith("+") else "CN")
    except (InvalidPhoneNumber, ValueError):
        return None
    return identify_by_index(session, index=index)


def caller_match(index: ColumnElement[Any]) -> Select[int, str, int, int | None]:
    """The caller-ID lookup as a statement (customer_id, tier, site_id, owning_agent_id; at most
    one row, a number belonging to one customer), for a caller that embeds it in its own
    statement: the webhook identifies the caller in the INSERT that opens the call."""
    return (select(Customer.id.label("customer_id"), Customer.tier, Customer.site_id, Customer.owning_agent_id)
            .join(CustomerPhone).where(CustomerPhone.number_index == index))


# Built once: every incoming call runs it, and a statement object keeps its compiled form.
_IDENTIFY = caller_match(bindparam("index"))


def identify_by_index(session: Session, *, index: str | None) -> CallerMatch | None:
    """Caller ID from a number's blind index already computed (the webhook stores it on the call
    too, so it is derived once per call)."""
    if index is None:
        return None
    row = session.execute(_IDENTIFY, {"index": index}).first()
    return CallerMatch(row.customer_id, row.tier, row.site_id, row.owning_agent_id) if row else None


def list_customers(session: Session, *, site_id: int | None = None, tier: str | None = None,
                   owning_agent_id: int | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Customer], int]:
    """Customers not erased, newest first, with the total count for the same filters."""
    query = select(Customer).where(Customer.erased_at.is_(None))
    if site_id is not None:
        query = query.where(Customer.site_id == site_id)
    if tier is not None:
        query = query.where(Customer.tier == tier)
    if owning_agent_id is not None:
        query = query.where(Customer.owning_agent_id == owning_agent_id)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Customer.id.desc()).limit(max(1, min(limit, 200))).offset(max(offset, 0)))
    return list(rows), count


def aggregates(session: Session, *, site_id: int | None = None, tier: str | None = None) -> CustomerAggregates:
    """Counts by tier and by site (erased customers excluded): what every manager may see."""
    query = select(Customer.tier, Customer.site_id, func.count()).where(Customer.erased_at.is_(None))
    if site_id is not None:
        query = query.where(Customer.site_id == site_id)
    if tier is not None:
        query = query.where(Customer.tier == tier)
    result = CustomerAggregates(by_tier=dict.fromkeys(TIERS, 0))
    for row_tier, row_site, count in session.execute(query.group_by(Customer.tier, Customer.site_id)):
        result.total += count
        result.by_tier[row_tier] = result.by_tier.get(row_tier, 0) + count
        result.by_site[row_site] = result.by_site.get(row_site, 0) + count
    return result


# Erasure lives in tickets.erasure (notice, refusals, shredding); this name stays for callers.
erase_customer = erasure.erase_customer
