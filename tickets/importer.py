"""Importing existing customers from CSV: each row is created whole or not at all (a savepoint per
row), and the report says which rows were rejected and why, without repeating their data."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from sqlalchemy.orm import Session

from core import directory, organisation
from core.audit import record
from core.errors import Conflict, ValidationFailed, item_text
from core.models import User
from tickets.customer_fields import Problems, clean_fields, clean_phones
from tickets.customers import create_customer

COLUMNS = (
    "name", "phone", "other_phones", "gender", "birthday", "age", "email", "address", "id_number",
    "special_needs", "products", "call_times", "consent", "consent_method", "consent_at", "site", "owner",
    "tier", "points", "spend",
)
REQUIRED_COLUMNS = ("name", "phone")
LIST_SEPARATOR = ";"


@dataclass(frozen=True)
class RejectedRow:
    line: int  # the line in the file, the header being line 1
    errors: list[dict[str, str]]  # {"field": ..., "msg": ...}


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    customer_ids: list[int] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.imported + len(self.rejected)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(LIST_SEPARATOR) if part.strip()]


def _cents(value: str, problems: Problems) -> int:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        problems.add(["spend"], "Write the spend as an amount such as 1234.50.")
        return 0
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        problems.add(["spend"], "Write the spend as an amount, zero or more, with at most two decimals.")
        return 0
    return int(amount * 100)


class _Lookups:
    """Sites by code and owners by username, read once per import."""

    def __init__(self, session: Session) -> None:
        self.sites = {s.code: s.id for s in organisation.list_sites(session)}
        self.users = {u.username: u.id for u in directory.list_users(session)}


def _row_data(row: Mapping[str, str | None], lookups: _Lookups, default_site_id: int | None,
              consent_method: str, problems: Problems) -> dict[str, Any]:
    def text(name: str) -> str | None:
        value = (row.get(name) or "").strip()
        return value or None

    data: dict[str, Any] = {name: text(name) for name in ("name", "gender", "birthday", "age", "email", "address",
                                                          "id_number", "special_needs")}
    data["gender"] = data["gender"].lower() if data["gender"] else None
    data["phones"] = [p for p in [text("phone"), *_split(row.get("other_phones"))] if p]
    products, call_times = _split(row.get("products")), _split(row.get("call_times"))
    data["preferences"] = {"products": products, "call_times": call_times} if products or call_times else None
    data["consent_purposes"] = _split(row.get("consent")) or ["service"]
    data["consent_method"] = (text("consent_method") or consent_method).lower()
    if text("consent_at"):
        try:
            data["consent_at"] = datetime.fromisoformat(text("consent_at") or "")
        except ValueError:
            problems.add(["consent_at"], "Write the consent time as YYYY-MM-DDTHH:MM+08:00.")
    site_code = (text("site") or "").lower()
    if site_code:
        if site_code not in lookups.sites:
            problems.add(["site"], "No site with this code.")
        data["site_id"] = lookups.sites.get(site_code)
    else:
        data["site_id"] = default_site_id
    if text("owner"):
        owner = lookups.users.get((text("owner") or "").lower())
        if owner is None:
            problems.add(["owner"], "No active user with this username.")
        data["owning_agent_id"] = owner
    if text("tier"):
        data["tier"] = (text("tier") or "").lower()
    if text("points"):
        try:
            data["points"] = int(text("points") or "")
        except ValueError:
            problems.add(["points"], "Points are a whole number.")
    if text("spend"):
        data["spend_cents"] = _cents(text("spend") or "", problems)
    return data


def _field_errors(items: Iterable[dict[str, object]]) -> list[dict[str, str]]:
    out = []
    for item in items:
        raw = item.get("loc") or []
        loc = [str(part) for part in (raw if isinstance(raw, (list, tuple)) else [raw])]
        name = ".".join(loc) or "row"
        # The CSV names the first phone "phone" and the others "other_phones".
        if loc[:1] == ["phones"]:
            name = "phone" if len(loc) > 1 and loc[1] == "0" else "other_phones" if len(loc) > 1 else "phone"
        out.append({"field": name, "msg": item_text(item)})  # the report is in English, like the file
    return out


def import_rows(session: Session, *, rows: Iterable[Mapping[str, str | None]], by: User | None,
                default_site_id: int | None = None, consent_method: str = "import",
                first_line: int = 2, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Create a customer from each row; good rows are kept, bad rows are reported and leave
    nothing behind. The caller commits. `progress(rows)` hears of each row done."""
    report = ImportReport()
    lookups = _Lookups(session)
    seen: dict[str, int] = {}  # phone blind index -> line that imported it
    for line, row in enumerate(rows, start=first_line):
        if progress is not None and line > first_line:
            progress(line - first_line)
        problems = Problems()
        data = _row_data(row, lookups, default_site_id, consent_method, problems)
        phones = clean_phones(data["phones"], Problems())
        for position, phone in enumerate(phones):
            if phone.index in seen:
                problems.add(["phones", position, "number"], "Duplicate phone: line %(line)s has it too.",
                             line=seen[phone.index])
        if problems:
            clean_fields(data, problems, partial=False)  # report the row's other faults too
            report.rejected.append(RejectedRow(line, _field_errors(problems.items)))
            continue
        try:
            with session.begin_nested():
                customer = create_customer(session, data=data, by=by, audit=False)
        except ValidationFailed as exc:
            report.rejected.append(RejectedRow(line, _field_errors(exc.errors)))
            continue
        except Conflict as exc:
            loc = (exc.field or "row").split(".")
            report.rejected.append(RejectedRow(line, _field_errors([{"loc": loc, "msg": exc.message}])))
            continue
        for phone in phones:
            seen[phone.index] = line
        report.imported += 1
        report.customer_ids.append(customer.id)
    record(session, action="customers.imported", actor_id=by.id if by else None,
           actor_name=by.username if by else "system", object_type="customer",
           details={"imported": report.imported, "rejected": len(report.rejected),
                    "first_id": min(report.customer_ids, default=None),
                    "last_id": max(report.customer_ids, default=None)})
    return report


def import_csv(session: Session, *, source: TextIO, by: User | None, default_site_id: int | None = None,
               consent_method: str = "import", progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import a CSV with a header row naming some of COLUMNS (`name` and `phone` required; lists
    such as `other_phones` or `consent` separated by `;`)."""
    reader = csv.DictReader(source)
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValidationFailed([{"loc": ["header"], "msg": "The file needs a column named “%(name)s”.",
                                  "params": {"name": name}}
                                for name in missing])
    reader.fieldnames = header
    report = import_rows(session, rows=reader, by=by, default_site_id=default_site_id, consent_method=consent_method,
                         progress=progress)
    report.ignored_columns = [name for name in header if name not in COLUMNS]
    return report
