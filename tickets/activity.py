"""Customer activity, the lowest layer of the lifecycle: contacts (moving last_contact_at) and
purchases, each recorded once per reference. Tiers and care build on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock
from core.errors import ValidationFailed
from tickets.models.customers import Customer, CustomerActivity

# contact: the customer's own (counts towards tier frequency); outreach: the hub reaching out
# (moves last_contact_at only); purchase: spend from the till or membership system.
ACTIVITY_KINDS = ("contact", "outreach", "purchase")
CONTACT_CHANNELS = ("call_in", "call_out", "callback", "ticket_reply", "sms", "followup")
COUNTED_CHANNELS = ("call_in",)


def add(session: Session, *, customer_id: int, kind: str, at: datetime | None, amount_cents: int,
        ref: str | None) -> CustomerActivity | None:
    """One activity row (None when `ref` was recorded before or the customer is erased)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ValidationFailed("No customer with this id.", field="customer_id")
    if customer.is_erased:
        return None  # an erased member's history stays anonymised; nothing new is added
    if ref is not None and session.scalar(select(CustomerActivity.id).where(
            CustomerActivity.kind == kind, CustomerActivity.ref == ref)) is not None:
        return None  # recorded already: a repeated webhook or task
    moment = at or clock.now()
    row = CustomerActivity(customer_id=customer_id, kind=kind, at=moment, amount_cents=amount_cents, ref=ref)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # a concurrent twin won
    if kind != "purchase" and (customer.last_contact_at is None or moment > customer.last_contact_at):
        customer.last_contact_at = moment
    if kind == "purchase":
        customer.spend_cents = (customer.spend_cents or 0) + amount_cents
    session.flush()
    return row
