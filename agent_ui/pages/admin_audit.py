"""The audit trail (`/admin/audit`, administrators and center heads), read-only: its entries
newest first, a page at a time, filtered by person, action, customer and days; the chain checked
on demand (`core.audit_checkpoints`, as `hotline audit verify` does: a walk over the whole trail,
so not on every page load). Nothing is decrypted: an entry shows who, what and which record, and
of its details only the ids of the customer and ticket it concerned. Reading the trail is itself
written to the trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_ui import i18n
from agent_ui.i18n import N_
from agent_ui.pages import admin_common as common
from core import audit, audit_checkpoints, permissions
from core.auth import CenterHeadUser, ClientIP, DbSession
from core.directory import find_users
from core.models import Role, User

router = APIRouter()

HERE = "/admin/audit"
PAGE_SIZE = 50
ERRORS = {
    "person": N_("Choose a person from the list."),
    "customer": N_("A customer number is a whole number."),
    "since": N_("Write the day as YYYY-MM-DD."),
    "until": N_("Write the day as YYYY-MM-DD, not before the first day."),
}


@dataclass(frozen=True)
class Filters:
    person: str = ""
    action: str = ""
    customer: str = ""
    since: str = ""
    until: str = ""

    def query(self, **more: str) -> str:
        """The filters (and `more`) as a query string, for the pages' links."""
        values = {k: v for k, v in {**self.__dict__, **more}.items() if v}
        return urlencode(values)


@dataclass(frozen=True)
class Row:
    entry: audit.AuditEntry
    who: str | None  # None: the hub itself (a task, a webhook)
    object_link: str | None
    customer_id: int | None  # named in the details of an entry about something else
    customer_link: str | None
    ticket_id: int | None
    ticket_link: str | None


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _whole(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None


def _link(kind: str, number: int | str | None, viewer: User) -> str | None:
    """Where the viewer may open this record, or None (then its number is shown)."""
    if number is None or not str(number).isdigit():
        return None
    if kind == "customer" and permissions.allowed(viewer.role, permissions.AGENTS):
        return f"/customers/{number}"
    if kind == "ticket" and permissions.allowed(viewer.role, permissions.AGENTS):
        return f"/tickets/{number}"
    if kind == "user" and viewer.role == Role.admin.value:
        return f"/admin/people/{number}"
    if kind == "callback_grant" and permissions.allowed(viewer.role, permissions.TEAM_LEADERS):
        return "/authorisations"
    return None


def _named_id(details: dict[str, Any], key: str) -> int | None:
    value = details.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _row(entry: audit.AuditEntry, names: dict[int, str], viewer: User) -> Row:
    """What the page shows of an entry. Details hold ids and reasons only (core.audit refuses
    personal data keys), but a reason may be typed text; only the customer and ticket ids are shown."""
    details = entry.details_dict
    customer_id = _named_id(details, "customer_id") if entry.object_type != "customer" else None
    ticket_id = _named_id(details, "ticket_id") if entry.object_type != "ticket" else None
    who = names.get(entry.actor_id) if entry.actor_id is not None else None
    if who is None and entry.actor_name and entry.actor_name != "system":
        who = entry.actor_name
    return Row(entry, who, _link(entry.object_type or "", entry.object_id, viewer), customer_id,
               _link("customer", customer_id, viewer), ticket_id, _link("ticket", ticket_id, viewer))


@router.get("/admin/audit", include_in_schema=False)
def audit_trail(request: Request, session: DbSession, user: CenterHeadUser, ip: ClientIP, person: str = "",
                action: str = "", customer: str = "", since: str = "", until: str = "", page: str = "1",
                check: str = "") -> Response:
    filters = Filters(person=person.strip(), action=action.strip(), customer=customer.strip(), since=since.strip(),
                      until=until.strip())
    number = int(page) if page.isdigit() and 0 < len(page) < 7 and int(page) > 0 else 1
    people = find_users(session, active=None, limit=100_000)
    names = {p.id: p.display_name for p in people}
    errors: dict[str, str] = {}
    actor_id = _whole(filters.person) if filters.person else None
    if filters.person and actor_id not in names:
        errors["person"] = ERRORS["person"]
    customer_id = _whole(filters.customer) if filters.customer else None
    if filters.customer and customer_id is None:
        errors["customer"] = ERRORS["customer"]
    first, last = _day(filters.since), _day(filters.until)
    if filters.since and first is None:
        errors["since"] = ERRORS["since"]
    if filters.until and (last is None or (first is not None and last < first)):
        errors["until"] = ERRORS["until"]
    zone = ZoneInfo(i18n.zone_for(getattr(request.state, "viewer", None)))
    verdict = audit_checkpoints.verify_with_checkpoints(session) if check else None
    trail = None
    if not errors:
        trail = audit.browse(
            session, actor_id=actor_id, action=filters.action or None, customer_id=customer_id,
            start=datetime.combine(first, time(0), tzinfo=zone) if first else None,
            end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone) if last else None,
            offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    actions = audit.actions_seen(session)
    # Recorded last: the append holds the trail's write lock until the request commits.
    audit.record(session, action="audit.viewed", actor_id=user.id, actor_name=user.username, source_ip=ip,
                 details={"page": number, "actor_id": actor_id, "action": filters.action or None,
                          "customer_id": customer_id, "since": first, "until": last, "checked": bool(check)})
    context = {
        "filters": filters, "errors": errors, "people": sorted(people, key=lambda p: p.display_name.lower()),
        "actions": actions,
        "rows": [_row(entry, names, user) for entry in trail.entries] if trail else [],
        "page": number, "has_more": bool(trail and trail.has_more), "verdict": verdict,
    }
    return common.page(request, "admin/audit.html", context)
