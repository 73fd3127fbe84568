"""Purchases coming in from the membership or till system: one at a time (idempotent by the
source's own id) or a CSV of many with a report per row; each earns points by the rule and may
earn an upgrade (tickets.tiers). Points are redeemed here too, by someone serving the customer."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import record
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.models import User
from tickets import tiers, visibility
from tickets.models.customers import Customer, CustomerActivity

MAX_SOURCE_ID = 80  # the activity ref holds "purchase:" + the source's id
CSV_COLUMNS = ("customer_id", "source_id", "amount_cents", "at")


class PurchaseElsewhere(Conflict):
    """This source id was recorded for another customer."""

    default_msgid = "This purchase was recorded for another customer."

    code = "purchase_elsewhere"


@dataclass(frozen=True)
class PurchaseResult:
    customer_id: int
    source_id: str
    created: bool  # False: the same source id came before, nothing was added
    points: int
    tier: str
    spend_cents: int


def _ref(source_id: str) -> str:
    return f"purchase:{source_id}"


def add_purchase(session: Session, *, customer_id: int, source_id: str, amount_cents: int,
                 at: datetime | None = None, by: User | None) -> PurchaseResult:
    """Record one purchase; sending it again (a retried request) changes nothing and says so."""
    source_id = (source_id or "").strip()
    if not source_id or len(source_id) > MAX_SOURCE_ID:
        raise ValidationFailed("Give the till's own id of the purchase, 1 to %(limit)s characters.",
                               field="source_id", params={"limit": MAX_SOURCE_ID})
    if at is not None and at.tzinfo is None:
        raise ValidationFailed("Give the time with its offset, such as 2026-12-05T10:00:00+08:00.", field="at")
    customer = session.get(Customer, customer_id)
    if customer is None or customer.is_erased:
        raise ValidationFailed("No customer with this id.", field="customer_id")
    earlier = session.scalar(select(CustomerActivity.customer_id).where(
        CustomerActivity.kind == "purchase", CustomerActivity.ref == _ref(source_id)))
    if earlier is not None and earlier != customer_id:
        raise PurchaseElsewhere("This purchase was recorded for another customer.", field="source_id",
                                params={"source_id": source_id})
    row = None
    if earlier is None:
        row = tiers.record_purchase(session, customer_id=customer_id, amount_cents=amount_cents,
                                    at=at.astimezone(UTC) if at else None, ref=_ref(source_id), earn_points=True)
        if row is not None:
            record(session, action="customer.purchase_recorded", actor_id=by.id if by else None,
                   actor_name=by.username if by else "system", object_type="customer", object_id=customer_id,
                   details={"source_id": source_id[:40], "amount_cents": amount_cents})
    return PurchaseResult(customer_id, source_id, row is not None, customer.points or 0, customer.tier,
                          customer.spend_cents or 0)


@dataclass
class PurchaseImportReport:
    added: int = 0
    repeated: int = 0
    rejected: list[dict[str, object]] = field(default_factory=list)  # {line, field, msg}


def import_rows(session: Session, *, rows: Iterable[Mapping[str, str | None]], by: User | None,
                first_line: int = 2) -> PurchaseImportReport:
    """Good rows are recorded, bad rows reported with their line; a repeated file adds nothing."""
    report = PurchaseImportReport()
    for line, row in enumerate(rows, start=first_line):
        def text(name: str, row: Mapping[str, str | None] = row) -> str:
            return (row.get(name) or "").strip()

        try:
            if not text("customer_id").isdigit():
                raise ValidationFailed("Give the customer's id (a number).", field="customer_id")
            amount = text("amount_cents")
            if not amount.isdigit():
                raise ValidationFailed("Give the amount in whole cents, such as 12550.", field="amount_cents")
            at = None
            if text("at"):
                try:
                    at = datetime.fromisoformat(text("at"))
                except ValueError:
                    raise ValidationFailed("Give the time as 2026-12-05T10:00:00+08:00.", field="at") from None
            with session.begin_nested():
                result = add_purchase(session, customer_id=int(text("customer_id")), source_id=text("source_id"),
                                      amount_cents=int(amount), at=at, by=by)
        except (ValidationFailed, Conflict) as exc:
            report.rejected.append({"line": line, "field": exc.field or "row", "msg": exc.message})
            continue
        if result.created:
            report.added += 1
        else:
            report.repeated += 1
    record(session, action="customer.purchases_imported", actor_id=by.id if by else None,
           actor_name=by.username if by else "system", object_type="customer",
           details={"added": report.added, "repeated": report.repeated, "rejected": len(report.rejected)})
    return report


def import_csv(session: Session, *, source: TextIO, by: User | None) -> PurchaseImportReport:
    """A CSV with a header naming customer_id, source_id, amount_cents and optionally at."""
    reader = csv.DictReader(source)
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in CSV_COLUMNS[:3] if name not in header]
    if missing:
        raise ValidationFailed([{"loc": ["header"], "msg": "The file needs a column named “%(name)s”.",
                                  "params": {"name": name}}
                                for name in missing])
    reader.fieldnames = header
    return import_rows(session, rows=reader, by=by)


def redeem(session: Session, *, customer_id: int, points: int, reason: str, by: User,
           source_ip: str | None = None) -> int:
    """Redeem points for a customer someone is serving (whoever may see the details)."""
    customer = visibility.get_customer(session, customer_id=customer_id)
    if visibility.details_access(session, customer=customer, viewer=by, source_ip=source_ip) is None:
        raise PermissionDenied("Only someone serving this customer may redeem their points.")
    return tiers.redeem_points(session, customer_id=customer_id, points=points, reason=reason, by=by)
