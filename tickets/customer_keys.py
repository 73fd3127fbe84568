"""Each customer's data key (core.keyring): which rows are sealed under it, and finding or making
it. A customer's personal fields, phones, change history, messages, notes, grant reasons and
tickets' free text are encrypted under it; erasure shreds it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import keyring
from tickets.models.customers import (
    CallbackGrant,
    CallbackGrantRequest,
    CareFollowUp,
    Customer,
    CustomerChange,
    CustomerPhone,
    OutboundMessage,
)
from tickets.models.tickets import Ticket

__all__ = ["key_for_customer", "key_for_number_index", "wire"]


def _ensure(session: Session, customer: Customer) -> str | None:
    if customer.erased_at is not None:
        return None  # nothing personal is written for an erased customer; the erasure record is not
    if customer.data_key_id is None:
        customer.data_key_id = keyring.create_key(session, owner=f"customer:{customer.id}" if customer.id else None)
    return customer.data_key_id


def key_for_customer(session: Session, customer_id: int | None) -> str | None:
    """The customer's data key, made now if they have none; None for no customer or an erased one."""
    if customer_id is None:
        return None
    customer = session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        return None
    if customer.data_key_id is None:
        key_id = keyring.create_key(session, owner=f"customer:{customer_id}")
        session.execute(update(Customer).where(Customer.id == customer_id, Customer.data_key_id.is_(None))
                        .values(data_key_id=key_id).execution_options(synchronize_session=False))
        set_committed_value(customer, "data_key_id", key_id)
    return customer.data_key_id


def key_for_number_index(session: Session, index: str | None) -> str | None:
    """The data key of the customer a number (by blind index) belongs to, if any."""
    if index is None:
        return None
    customer_id = session.scalar(select(CustomerPhone.customer_id).where(CustomerPhone.number_index == index))
    return key_for_customer(session, customer_id)


def _customer(session: Session, row: Customer) -> str | None:
    return _ensure(session, row)


def _phone(session: Session, row: CustomerPhone) -> str | None:
    customer = row.customer if row.customer is not None else session.get(Customer, row.customer_id)
    return _ensure(session, customer) if customer is not None else None


def _by_customer_id(session: Session, row: Any) -> str | None:
    return key_for_customer(session, row.customer_id)


def wire() -> None:
    keyring.register(Customer, _customer)
    keyring.register(CustomerPhone, _phone)
    for model in (CustomerChange, CallbackGrant, CallbackGrantRequest, OutboundMessage, CareFollowUp, Ticket):
        keyring.register(model, _by_customer_id)
