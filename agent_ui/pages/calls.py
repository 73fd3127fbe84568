"""The call log (`/calls`): the calls the viewer may read (their own, their team's, their site's
or all, by role), filtered by period, agent, queue, direction and outcome, a page at a time. The
filters travel in the address (none of them is personal data); htmx swaps the filters and the
table, and the same GET works without JavaScript. No caller's number is ever on the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from agent_ui import i18n
from agent_ui.i18n import N_
from agent_ui.templating import is_htmx, render
from core import clock, organisation, permissions
from core.auth import DbSession, RequireRole
from core.errors import ValidationFailed
from core.models import Role, User
from telephony import call_log

router = APIRouter()

# QA inspectors read the log too (their site's calls, numbers never shown), to find a call to score.
CallLogUser = Annotated[User, Depends(RequireRole(*(permissions.AGENTS | {Role.qa_inspector})))]

PAGE = "calls/page.html"
PAGE_SIZE = 50
DEFAULT_DAYS = 7  # the log opens on the last week
FILTER_MESSAGES = {
    "from": N_("Type the date as YYYY-MM-DD."),
    "to": N_("Type the date as YYYY-MM-DD."),
    "period": N_("The period ends before it starts; choose a later end date."),
    "too_long": N_("Choose a period of at most 366 days."),
    "agent": N_("Choose an agent from the list."),
    "queue": N_("Choose a queue from the list."),
    "outcome": N_("Choose an outcome from the list."),
    "direction": N_("Choose a direction from the list."),
}
OUTCOME_WORDS = {
    "answered": N_("Answered"), "abandoned": N_("Abandoned"), "voicemail": N_("Voicemail"),
    "callback_requested": N_("Callback requested"), "no_answer": N_("No answer"), "busy": N_("Busy"),
    "failed": N_("Failed"), "in_progress": N_("In progress"),
}
DIRECTION_WORDS = {"inbound": N_("Inbound"), "callback": N_("Callback")}


@dataclass
class Filters:
    start: str = ""  # "from" in the address
    to: str = ""
    agent: str = ""
    queue: str = ""
    outcome: str = ""
    direction: str = ""

    def query(self, **extra: Any) -> str:
        """The filters as an address's query string (with `extra`, such as the page)."""
        values = {"from": self.start, "to": self.to, "agent": self.agent, "queue": self.queue,
                  "outcome": self.outcome, "direction": self.direction, **extra}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _day(value: str, field: str, errors: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors[field] = FILTER_MESSAGES[field]
        return None


def _period(filters: Filters, today: date, errors: dict[str, str]) -> tuple[date, date]:
    """The chosen days (both included), the last week when none is given; a bad date is an error
    beside its field, and the default stands in for it so the rest can still be checked."""
    last = _day(filters.to, "to", errors) if filters.to else today
    first = _day(filters.start, "from", errors) if filters.start else (last or today) - timedelta(days=DEFAULT_DAYS - 1)
    first, last = first or today - timedelta(days=DEFAULT_DAYS - 1), last or today
    if "from" not in errors and "to" not in errors:
        if last < first:
            errors["to"] = FILTER_MESSAGES["period"]
        elif (last - first).days >= call_log.MAX_DAYS:
            errors["to"] = FILTER_MESSAGES["too_long"]
    return first, last


def _arguments(filters: Filters, errors: dict[str, str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if filters.agent:
        if filters.agent.isdigit() and len(filters.agent) < 12:
            args["agent_id"] = int(filters.agent)
        else:
            errors["agent"] = FILTER_MESSAGES["agent"]
    for name, known in (("outcome", call_log.OUTCOMES), ("direction", call_log.DIRECTIONS)):
        value = getattr(filters, name)
        if value and value not in known:
            errors[name] = FILTER_MESSAGES[name]
        elif value:
            args[name] = value
    return args


def _queues(session: DbSession) -> list[tuple[str, str]]:
    """(code, name) of every queue; templates word known codes in the reader's language."""
    return [(s.code, s.name) for s in organisation.list_skills(session)]


def _page_number(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 7 else 1


def _log(request: Request, session: DbSession, user: User, filters: Filters, page: int) -> Response:
    zone = i18n.zone_for(getattr(request.state, "viewer", None))
    tz = ZoneInfo(zone)
    errors: dict[str, str] = {}
    first, last = _period(filters, clock.now().astimezone(tz).date(), errors)
    args = _arguments(filters, errors)
    queues = _queues(session)
    if filters.queue:
        if filters.queue in {code for code, _name in queues}:
            args["queue"] = filters.queue
        else:
            errors["queue"] = FILTER_MESSAGES["queue"]
    result = None
    if not errors:
        try:
            result = call_log.call_log(
                session, viewer=user, start=datetime.combine(first, time(0), tzinfo=tz),
                end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz), page=page, page_size=PAGE_SIZE,
                **args)
        except ValidationFailed as exc:
            for error in exc.errors:
                loc = error.get("loc")
                name = str(loc[-1]) if isinstance(loc, (list, tuple)) and loc else "agent"
                errors[name] = FILTER_MESSAGES["period" if name == "to" else name] if name in FILTER_MESSAGES \
                    else FILTER_MESSAGES["agent"]
    context = {
        "filters": filters, "filter_errors": errors, "result": result, "first_day": first, "last_day": last,
        "agents": call_log.agents_in_scope(session, viewer=user) if user.role != Role.agent.value else [],
        "queues": queues, "outcomes": call_log.OUTCOMES, "directions": call_log.DIRECTIONS,
        "outcome_words": OUTCOME_WORDS, "direction_words": DIRECTION_WORDS,
        "scores": permissions.allowed(user.role, permissions.QA),
        # QA inspectors read the log but do not work tickets: the number is shown, not linked.
        "ticket_links": permissions.allowed(user.role, permissions.AGENTS),
    }
    return render(request, PAGE, context, status_code=422 if errors else 200,
                  block="calls_main" if is_htmx(request) else None)


@router.get("/calls", include_in_schema=False)
def calls(request: Request, session: DbSession, user: CallLogUser, to: str = "", agent: str = "", queue: str = "",
          outcome: str = "", direction: str = "", page: str = "") -> Response:
    # `from` is a Python keyword: read it from the query string itself.
    filters = Filters(start=request.query_params.get("from", "")[:20], to=to[:20], agent=agent[:20],
                      queue=queue[:40], outcome=outcome[:40], direction=direction[:20])
    return _log(request, session, user, filters, _page_number(page))
