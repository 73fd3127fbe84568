"""Finding tickets: by number, caller phone (blind index, never decrypting), status, category,
assignee, team, dates, tag and SLA state, within what the viewer may see, with keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session, defer

from core import clock
from core.crypto import InvalidPhoneNumber, phone_index
from core.errors import NOT_ALLOWED_VALUE, ValidationFailed
from core.models import User
from tickets import access
from tickets.models.tickets import Ticket, TicketTag
from tickets.tagging import tag_key
from tickets.workflow import Category, Priority, Status

__all__ = ["COUNT_CAP", "MAX_LIMIT", "SORTS", "Page", "search"]

SORTS = ("newest", "oldest", "due")
MAX_LIMIT = 200
# Counting every match of a broad filter on millions of rows costs more than the page itself:
# counts stop at this cap and the page says so (`count_capped`).
COUNT_CAP = 10_000

PERIOD_REVERSED = "The period ends before it starts: the last day comes before the first."


@dataclass(frozen=True)
class Page:
    items: list[Ticket]
    count: int | None
    count_capped: bool
    next_cursor: str | None


def _values(value: str | Sequence[str] | None, enum: type, field: str, errors: list[dict[str, Any]]) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out = []
    for item in items:
        try:
            out.append(enum(item).value)
        except ValueError:
            known = ", ".join(e.value for e in enum)  # type: ignore[attr-defined]
            errors.append({"loc": [field], "msg": NOT_ALLOWED_VALUE, "params": {"value": item, "known": known}})
    return out


def _sla_filter(state: str, now: datetime) -> ColumnElement[bool]:
    # From the deadlines, so the filter is exact between two sweeps. Only running clocks count:
    # resolved, closed and paused tickets have no SLA state to filter on.
    if state == "breached":
        return Ticket.sla_due_at <= now
    if state == "at_risk":
        return and_(Ticket.sla_at_risk_at <= now, Ticket.sla_due_at > now)
    return Ticket.sla_at_risk_at > now


def _encode(sort: str, values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort, values]).encode()).decode().rstrip("=")


def _decode(cursor: str, sort: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, values = json.loads(raw)
        if kind != sort or not isinstance(values, list):
            raise ValueError(kind)
        if sort in ("due", "newest_at"):
            return [datetime.fromisoformat(values[0]), int(values[1])]
        return [int(values[0])]
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, IndexError):
        raise ValidationFailed("The cursor is not one this search returned; start again without it.",
                               field="cursor") from None


def search(session: Session, *, viewer: User, number: str | None = None, phone: str | None = None,
           caller_index: str | None = None, customer_id: int | None = None,
           status: str | Sequence[str] | None = None, category: str | Sequence[str] | None = None,
           priority: str | Sequence[str] | None = None, assignee_id: int | None = None, unassigned: bool = False,
           team_id: int | None = None, site_id: int | None = None, tag: str | None = None,
           created_from: datetime | None = None, created_to: datetime | None = None, sla_state: str | None = None,
           sort: str = "newest", limit: int = 50, cursor: str | None = None, offset: int | None = None,
           with_count: bool = True) -> Page:
    """One page of the tickets `viewer` may see that match every given filter. `phone` is
    normalised and matched by blind index on the ticket's caller and the customer's numbers.
    Sorts: newest (default), oldest, due (running SLA deadline first). Page on with the returned
    `next_cursor` (keyset), or with `offset`. The first page (no cursor) carries the count of
    matches, capped at COUNT_CAP; later pages carry None."""
    errors: list[dict[str, Any]] = []
    statuses = _values(status, Status, "status", errors)
    categories = _values(category, Category, "category", errors)
    priorities = _values(priority, Priority, "priority", errors)
    if sla_state is not None and sla_state not in ("ok", "at_risk", "breached"):
        errors.append({"loc": ["sla_state"], "msg": NOT_ALLOWED_VALUE,
                       "params": {"value": sla_state, "known": ["ok", "at_risk", "breached"]}})
    if sort not in SORTS:
        errors.append({"loc": ["sort"], "msg": NOT_ALLOWED_VALUE, "params": {"value": sort, "known": list(SORTS)}})
    if not 1 <= limit <= MAX_LIMIT:
        errors.append({"loc": ["limit"], "msg": "Ask for 1 to %(limit)s results.", "params": {"limit": MAX_LIMIT}})
    if phone is not None:
        try:
            caller_index = phone_index(phone)
        except (InvalidPhoneNumber, ValueError):
            errors.append({"loc": ["phone"], "msg": "Not a phone number; type it as the caller would dial it."})
    if created_from is not None and created_to is not None and created_to <= created_from:
        # Nothing could match: the person has the two ends the wrong way round, and is told so.
        errors.append({"loc": ["created_to"], "msg": PERIOD_REVERSED})
    if errors:
        raise ValidationFailed(errors)

    where: list[ColumnElement[bool]] = []
    seen = access.visibility(viewer)
    if seen is not None:
        where.append(seen)
    if number:
        where.append(Ticket.number == number.strip().upper())
    if caller_index:
        from tickets.models.customers import CustomerPhone

        # The owner is looked up first (a unique index): `caller_index = x OR customer_id = y` then
        # plans as two index scans, where an IN (subquery) under OR made PostgreSQL scan everything.
        owners = list(session.scalars(select(CustomerPhone.customer_id)
                                      .where(CustomerPhone.number_index == caller_index)))
        where.append(or_(Ticket.caller_index == caller_index, Ticket.customer_id.in_(owners))
                     if owners else Ticket.caller_index == caller_index)
    if customer_id is not None:
        where.append(Ticket.customer_id == customer_id)
    for column, chosen in ((Ticket.status, statuses), (Ticket.category, categories), (Ticket.priority, priorities)):
        if len(chosen) == 1:
            where.append(column == chosen[0])
        elif chosen:
            where.append(column.in_(chosen))
    if assignee_id is not None:
        where.append(Ticket.assignee_id == assignee_id)
    if unassigned:
        where.append(Ticket.assignee_id.is_(None))
    if team_id is not None:
        where.append(Ticket.team_id == team_id)
    if site_id is not None:
        where.append(Ticket.site_id == site_id)
    if tag:
        where.append(Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag.in_(spellings_of(session, tag)))))
    if created_from is not None:
        where.append(Ticket.created_at >= created_from)
    if created_to is not None:
        where.append(Ticket.created_at < created_to)
    if sla_state is not None:
        where.append(_sla_filter(sla_state, clock.now()))
    if sort == "due":
        where.append(Ticket.sla_due_at.is_not(None))

    count = capped = None
    if with_count and not cursor:  # the first page counts; later pages carry the cursor instead
        counted = session.scalar(select(func.count()).select_from(
            select(Ticket.id).where(*where).limit(COUNT_CAP + 1).subquery()))
        capped = bool(counted and counted > COUNT_CAP)
        count = min(int(counted or 0), COUNT_CAP)

    query: Select[Ticket] = select(Ticket).where(*where).options(
        defer(Ticket.description), defer(Ticket.resolution))
    if sort == "due":
        query = query.order_by(Ticket.sla_due_at, Ticket.id)
        if cursor:
            due, last_id = _decode(cursor, sort)
            query = query.where(tuple_(Ticket.sla_due_at, Ticket.id) > tuple_(due, last_id))
    elif sort == "newest" and created_to is not None:
        # A window in the past: walk the creation-time index back from its end, rather than the
        # primary key back from today past every newer ticket.
        query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
        if cursor:
            at, last_id = _decode(cursor, "newest_at")
            query = query.where(tuple_(Ticket.created_at, Ticket.id) < tuple_(at, last_id))
    elif sort == "oldest":
        query = query.order_by(Ticket.id)
        if cursor:
            query = query.where(Ticket.id > _decode(cursor, sort)[0])
    else:
        query = query.order_by(Ticket.id.desc())
        if cursor:
            query = query.where(Ticket.id < _decode(cursor, sort)[0])
    if offset:
        query = query.offset(max(0, offset))
    items = list(session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        if sort == "due" and last.sla_due_at is not None:
            next_cursor = _encode(sort, [last.sla_due_at.isoformat(), last.id])
        elif sort == "newest" and created_to is not None:
            next_cursor = _encode("newest_at", [last.created_at.isoformat(), last.id])
        else:
            next_cursor = _encode(sort, [last.id])
    return Page(items=items, count=count, count_capped=bool(capped), next_cursor=next_cursor)


def spellings_of(session: Session, tag: str) -> list[str]:
    """Every stored spelling of `tag` (matched casefolded, whitespace collapsed): case-insensitive
    matching the same on SQLite (whose lower() knows only ASCII) and PostgreSQL. It reads the
    distinct tags from their index, a vocabulary far smaller than the tickets."""
    key = tag_key(tag)
    return [t for t in session.scalars(select(TicketTag.tag).distinct()) if tag_key(t) == key]

