"""Purchases coming in from the membership or till system: one at a time (idempotent by the
source's own id) or a CSV of many with a report per row; each earns points by the rule and may
earn an upgrade (tickets.tiers). Points are redeemed here too, by someone serving the customer."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import jobs
from core.audit import record
from core.db import session_scope
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import Role, User
from core.storage import get_storage
from core.storage.base import NotStored
from core.users import get as get_user
from core.worker import enqueue_named
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
                first_line: int = 2, audit: bool = True) -> PurchaseImportReport:
    """Good rows are recorded, bad rows reported with their line; a repeated file adds nothing.
    `audit=False`: the caller audits the whole import once (a file imported in parts)."""
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
    if audit:
        _audit_import(session, report, by)
    return report


def _audit_import(session: Session, report: PurchaseImportReport, by: User | None) -> None:
    record(session, action="customer.purchases_imported", actor_id=by.id if by else None,
           actor_name=by.username if by else "system", object_type="customer",
           details={"added": report.added, "repeated": report.repeated, "rejected": len(report.rejected)})


def _reader(source: TextIO) -> csv.DictReader[str]:
    """The CSV's rows by lower-case column name; ValidationFailed naming each missing column."""
    reader = csv.DictReader(source)
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in CSV_COLUMNS[:3] if name not in header]
    if missing:
        raise ValidationFailed([{"loc": ["header"], "msg": "The file needs a column named “%(name)s”.",
                                  "params": {"name": name}}
                                for name in missing])
    reader.fieldnames = header
    return reader


def import_csv(session: Session, *, source: TextIO, by: User | None) -> PurchaseImportReport:
    """A CSV with a header naming customer_id, source_id, amount_cents and optionally at."""
    return import_rows(session, rows=_reader(source), by=by)


# A file imported in the background, with its progress (core.jobs) ---------------------------------

IMPORT_KIND = "purchase_import"
IMPORT_TASK = "tickets.import_purchases"
# Why an import failed: stable codes the pages put in words (agent_ui.labels.job_failure).
BAD_COLUMNS, NOT_UTF8, FILE_GONE = "import.columns", "import.encoding", "import.file_gone"
IMPORT_BATCH = 200  # rows a write transaction: the write lock is never held for a whole file
MAX_REJECTED_SHOWN = 500


def start_import(session: Session, *, data: bytes, by: User) -> jobs.Job:
    """Keep the uploaded file in the storage and queue its import; the page follows the run."""
    if by.role != Role.admin.value:
        raise PermissionDenied("Only an administrator imports purchases.")
    # Stored before the run's row is written: a write transaction waits on no storage.
    key = f"imports/purchases-{uuid.uuid4().hex}.csv"
    get_storage().put(key, data)
    job = jobs.create(session, kind=IMPORT_KIND, by=by, params={"file": key})
    enqueue_named(session, IMPORT_TASK, job.id)
    return job


def run_import(job_id: int) -> str:
    """The task's body: the rows in batches of short transactions, the progress after each, and
    at the end the report (the rejected lines with their reasons, no customer's data)."""
    return jobs.run(job_id, _import_file)


def _starter(session: Session, job: jobs.Job) -> User | None:
    """Who uploaded the file (None once their account is gone), for the audit trail."""
    try:
        return get_user(session, user_id=job.created_by_id) if job.created_by_id else None
    except NotFound:
        return None


def _import_file(job: jobs.Job, progress: jobs.Progress) -> dict[str, object]:
    key = str(job.params.get("file", ""))
    storage = get_storage()
    try:
        try:
            text = storage.get(key).decode("utf-8-sig")
        except NotStored:
            raise jobs.JobFailed(FILE_GONE) from None
        except UnicodeDecodeError:
            raise jobs.JobFailed(NOT_UTF8) from None
        try:
            rows = list(_reader(io.StringIO(text)))
        except ValidationFailed:
            raise jobs.JobFailed(BAD_COLUMNS) from None
        progress(0, len(rows), force=True)
        report = PurchaseImportReport()
        for start in range(0, len(rows), IMPORT_BATCH):
            with session_scope() as session:
                by = _starter(session, job)
                part = import_rows(session, rows=rows[start:start + IMPORT_BATCH], by=by, first_line=start + 2,
                                   audit=False)
            report.added, report.repeated = report.added + part.added, report.repeated + part.repeated
            report.rejected += part.rejected
            progress(min(start + IMPORT_BATCH, len(rows)), len(rows))
        with session_scope() as session:
            _audit_import(session, report, _starter(session, job))
        return {"added": report.added, "repeated": report.repeated, "rejected_count": len(report.rejected),
                "rejected": report.rejected[:MAX_REJECTED_SHOWN]}
    finally:
        storage.delete(key)


def redeem(session: Session, *, customer_id: int, points: int, reason: str, by: User,
           source_ip: str | None = None) -> int:
    """Redeem points for a customer someone is serving (whoever may see the details)."""
    customer = visibility.get_customer(session, customer_id=customer_id)
    if visibility.details_access(session, customer=customer, viewer=by, source_ip=source_ip) is None:
        raise PermissionDenied("Only someone serving this customer may redeem their points.")
    return tiers.redeem_points(session, customer_id=customer_id, points=points, reason=reason, by=by)
