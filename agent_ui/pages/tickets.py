"""Ticket pages: the list with its filters (a caller's phone only ever travels in a POST body,
never in an address) and one ticket with its timeline, recordings, notes, status changes by the
workflow, escalation, assignment, tags, the complaint reply and its edit form. Forms post and
redirect; htmx gets the changed block."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from agent_ui import error_pages, i18n, labels
from agent_ui.form_errors import FormError, describe
from agent_ui.i18n import N_
from agent_ui.pages import grant_requests as request_pages
from agent_ui.pages import grants as grant_pages
from agent_ui.templating import is_htmx, render
from core import clock, organisation, permissions
from core.auth import AgentUser, ClientIP, DbSession
from core.crypto import InvalidPhoneNumber, phone_index
from core.directory import list_users, staff_names
from core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from core.models import Role, User
from telephony import recordings as recording_service
from tickets import care, complaints, repeat_calls, sla, visibility
from tickets import grant_requests as request_service
from tickets import search as ticket_search
from tickets import service as ticket_service
from tickets.tagging import tag_key
from tickets.workflow import DONE, Category, Level, Priority, Status, allowed_from

router = APIRouter()

LIST_PAGE = "tickets/list.html"
DETAIL_PAGE = "tickets/detail.html"
PAGE_SIZE = 25
SLA_STATES = ("ok", "at_risk", "breached")
# Messages beside the list's filters, by the field the search refused.
FILTER_MESSAGES = {
    "phone": N_("This is not a phone number; type it as the caller would dial it."),
    "status": N_("Choose a status from the list."),
    "category": N_("Choose a category from the list."),
    "sla_state": N_("Choose an SLA state from the list."),
    "assignee": N_("Choose an assignee from the list."),
    "created_from": N_("Type the date as YYYY-MM-DD."),
    "created_to": N_("Type the date as YYYY-MM-DD."),
    "cursor": N_("This page of results is no longer valid; search again."),
}
# Each filter's label, to name it where the results repeat its refusal (as the form labels it).
FILTER_WORDS = {
    "number": N_("Ticket number"), "tag": N_("Tag"), "phone": N_("Customer phone"), "status": N_("Status"),
    "category": N_("Category"), "assignee": N_("Assignee"), "sla_state": N_("SLA"),
    "created_from": N_("Opened from"), "created_to": N_("Opened until"),
}
# The hub's own reasons in a timeline (msgids the services write; a person's reason is shown as typed).
HUB_REASONS = frozenset({*sla.BREACH_REASONS.values(), complaints.REPLY_OVERDUE_REASON,
                         repeat_calls.REPEAT_CALL_REASON})
TIMELINE_WORDS = {
    "opened": N_("Opened"), "calls_moved": N_("Calls moved to"),
    "status_changed": N_("Status changed"), "escalated": N_("Escalated"),
    "note_added": N_("Note added"), "field_changed": N_("Changed"), "first_response": N_("First response"),
    "recording_attached": N_("Recording attached"), "call_linked": N_("Call linked"), "tag_added": N_("Tag added"),
    "tag_removed": N_("Tag removed"), "skipped_levels_notified": N_("Skipped levels notified"),
    "handed_to_team_leader": N_("Handed to the team leader"), "callback_requested": N_("Callback requested"),
    "sla_breached": N_("SLA breached"), "sla_at_risk": N_("SLA at risk"),
    "complaint_registered": N_("Complaint registered"), "complaint_replied": N_("Complaint answered"),
    "satisfaction_followup_due": N_("Satisfaction follow-up due"),
    "callback_attempt": N_("Callback attempt"), "callback_refused": N_("Callback refused"),
    "complaint_reply_overdue": N_("Complaint reply overdue"), "phone_followup_done": N_("Phone follow-up made"),
    "phone_followup_overdue": N_("Phone follow-up overdue"),
}
OUTCOME_WORDS = {
    "reached": N_("Reached the customer"), "no_answer": N_("No answer"), "refused": N_("The customer declined"),
    "wrong_number": N_("Wrong number"),
}
REPLY_CHANNEL_WORDS = {
    "phone": N_("By phone"), "sms": N_("By SMS"), "email": N_("By email"), "letter": N_("By letter"),
    "in_person": N_("In person"),
}
REPLY_MAX = 10_000
FIELD_WORDS = {
    "subject": N_("Subject"), "description": N_("Description"), "resolution": N_("Resolution"),
    "priority": N_("Priority"), "category": N_("Category"), "assignee_id": N_("Assignee"), "team_id": N_("Team"),
    "customer_id": N_("Customer"), "status": N_("Status"), "escalation_level": N_("Escalation level"),
}


# The list -------------------------------------------------------------------------------------

@dataclass
class Filters:
    number: str = ""
    phone: str = ""
    status: str = ""
    category: str = ""
    assignee: str = ""  # "", "me", "none" or a user id
    created_from: str = ""
    created_to: str = ""
    sla_state: str = ""
    tag: str = ""
    cursor: str = ""

    def query(self) -> dict[str, str]:
        """The filters that may appear in an address (all but the phone number)."""
        return {k: v for k, v in vars(self).items() if v and k not in ("phone", "cursor")}


def _day(value: str, zone: str, field: str, errors: dict[str, str]) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[field] = FILTER_MESSAGES[field]
        return None
    return datetime.combine(day, time(), ZoneInfo(zone))


def _search_args(filters: Filters, user: User, zone: str, errors: dict[str, str]) -> dict[str, Any]:
    args: dict[str, Any] = {"number": filters.number.strip() or None, "phone": filters.phone.strip() or None}
    if args["phone"]:
        try:
            phone_index(args["phone"])  # checked here too, so every bad filter is shown at once
        except (InvalidPhoneNumber, ValueError):
            errors["phone"] = FILTER_MESSAGES["phone"]
    for name, known in (("status", [s.value for s in Status]), ("category", [c.value for c in Category]),
                        ("sla_state", SLA_STATES)):
        value = getattr(filters, name)
        if value and value not in known:
            errors[name] = FILTER_MESSAGES[name]
        else:
            args[name] = value or None
    if filters.assignee == "me":
        args["assignee_id"] = user.id
    elif filters.assignee == "none":
        args["unassigned"] = True
    elif filters.assignee.isdigit():
        args["assignee_id"] = int(filters.assignee)
    elif filters.assignee:
        errors["assignee"] = FILTER_MESSAGES["assignee"]
    args["created_from"] = _day(filters.created_from, zone, "created_from", errors)
    to_day = _day(filters.created_to, zone, "created_to", errors)
    args["created_to"] = to_day + timedelta(days=1) if to_day else None  # the whole last day counts
    args["tag"] = labels.system_tag_code(filters.tag) or filters.tag.strip() or None
    args["cursor"] = filters.cursor or None
    return args


def _assignees(session: DbSession, user: User) -> list[User]:
    if permissions.allowed(user.role, permissions.TEAM_LEADERS):
        if user.role == Role.team_leader.value and user.team_id:
            return list_users(session, team_id=user.team_id)
        return list_users(session, site_id=user.site_id) if user.site_id else []
    return []


def _list(request: Request, session: DbSession, user: User, filters: Filters) -> Response:
    zone = i18n.zone_for(getattr(request.state, "viewer", None))
    errors: dict[str, str] = {}
    args = _search_args(filters, user, zone, errors)
    page = None
    if not errors:
        try:
            page = ticket_search.search(session, viewer=user, limit=PAGE_SIZE, **args)
        except ValidationFailed as exc:
            for error in exc.errors or [{"loc": [exc.field or "cursor"]}]:
                loc = error.get("loc")
                field = str(loc[-1]) if isinstance(loc, (list, tuple)) and loc else "cursor"
                # The search's own reason when it is about the filters together (the two days the
                # wrong way round); the page's wording for one filter otherwise.
                errors[field] = (ticket_search.PERIOD_REVERSED if error.get("msg") == ticket_search.PERIOD_REVERSED
                                 else FILTER_MESSAGES.get(field, FILTER_MESSAGES["cursor"]))
    now = clock.now()
    rows = [(t, sla.live_state(t, now=now)) for t in page.items] if page else []
    # Who and what, at a glance: the customer masked (initials, as any list shows them), the assignee.
    items = page.items if page else []
    customers = visibility.masked_cards(session, customer_ids={t.customer_id for t in items if t.customer_id})
    people = {uid: staff.display_name for uid, staff in staff_names(
        session, {t.assignee_id for t in items if t.assignee_id}).items()}
    context = {"filters": filters, "filter_errors": errors, "filter_words": FILTER_WORDS, "swapped": is_htmx(request),
               "page": page, "rows": rows, "now": now,
               "customers": customers, "people": people,
               "statuses": list(Status), "categories": list(Category), "sla_states": SLA_STATES,
               "assignees": _assignees(session, user)}
    return render(request, LIST_PAGE, context, status_code=422 if errors else 200,
                  block="results" if is_htmx(request) else None)


@router.get("/tickets", include_in_schema=False)
def ticket_list(request: Request, session: DbSession, user: AgentUser, number: str = "", status: str = "",
                category: str = "", assignee: str = "", created_from: str = "", created_to: str = "",
                sla_state: str = "", tag: str = "") -> Response:
    # No `phone` parameter: a number in an address ends up in logs and browser history.
    filters = Filters(number=number, status=status, category=category, assignee=assignee,
                      created_from=created_from, created_to=created_to, sla_state=sla_state, tag=tag[:60])
    return _list(request, session, user, filters)


@router.post("/tickets", include_in_schema=False)
def ticket_search_form(request: Request, session: DbSession, user: AgentUser,
                       number: Annotated[str, Form()] = "", phone: Annotated[str, Form()] = "",
                       status: Annotated[str, Form()] = "", category: Annotated[str, Form()] = "",
                       assignee: Annotated[str, Form()] = "", created_from: Annotated[str, Form()] = "",
                       created_to: Annotated[str, Form()] = "", sla_state: Annotated[str, Form()] = "",
                       tag: Annotated[str, Form()] = "", cursor: Annotated[str, Form()] = "") -> Response:
    """The filter form and the next-page button post here: the phone stays in the body. A search
    changes nothing, so it answers with the results rather than a redirect."""
    filters = Filters(number=number[:40], phone=phone[:40], status=status, category=category, assignee=assignee,
                      created_from=created_from, created_to=created_to, sla_state=sla_state, tag=tag[:60],
                      cursor=cursor[:400])
    return _list(request, session, user, filters)


# One ticket -----------------------------------------------------------------------------------

def _recordings(session: DbSession, ticket_id: int) -> list[tuple[Any, int | None]]:
    """Each of the ticket's recordings with the id the hub serves it under (None until stored)."""
    found = []
    for item in ticket_service.recordings_of(session, ticket_id=ticket_id):
        stored = recording_service.get_by_ref(session, recording_sid=item.recording_ref)
        found.append((item, stored.id if stored is not None and stored.media_key else None))
    return found


def _detail(request: Request, session: DbSession, user: User, ticket_id: int, *, status_code: int = 200,
            errors: dict[str, FormError] | None = None, typed: dict[str, Any] | None = None,
            saved: str = "") -> Response:
    try:
        ticket = ticket_service.get(session, ticket_id=ticket_id, user=user)
    except NotFound as exc:
        return error_pages.respond(request, 404, exc)
    now = clock.now()
    events = ticket_service.timeline_for(session, ticket_id=ticket.id, user=user)
    notes = ticket_service.notes(session, ticket_id=ticket.id, user=user)
    ids = {e.actor_id for e in events} | {n.author_id for n in notes} | {ticket.assignee_id, ticket.created_by_id}
    people = {uid: staff.display_name for uid, staff in staff_names(session, {i for i in ids if i}).items()}
    card = None
    if ticket.customer_id is not None:
        card = visibility.masked_cards(session, customer_ids={ticket.customer_id}).get(ticket.customer_id)
    can_work = permissions.allowed(user.role, permissions.AGENTS) and ticket.status != Status.closed.value
    current = Level(ticket.escalation_level)
    context = {
        "ticket": ticket, "events": events, "notes": notes, "people": people, "card": card, "now": now,
        "sla_state": sla.live_state(ticket, now=now), "recordings": _recordings(session, ticket.id),
        "transitions": [s for s in Status if s in allowed_from(ticket.status) and s != Status.escalated],
        "can_work": can_work, "can_escalate": can_work and Status(ticket.status) not in DONE
        and current < Level.center_head,
        "levels_above": [lv for lv in Level if lv > current], "next_level": min(current + 1, Level.center_head),
        "categories": list(Category), "priorities": list(Priority), "errors": errors or {}, "typed": typed or {},
        "saved": saved, "timeline_words": TIMELINE_WORDS, "field_words": FIELD_WORDS,
        "hub_reasons": HUB_REASONS,
        "tags": ticket_service.tags_of(session, ticket_id=ticket.id),
        "is_complaint": ticket.category == Category.complaint.value,
        "reply_channels": REPLY_CHANNEL_WORDS, "reply_late": _reply_late(events),
        "followup": care.followup_of_ticket(session, ticket_id=ticket.id), "followup_outcomes": OUTCOME_WORDS,
        **_assignment_context(session, user, ticket, can_work),
    }
    if ticket.customer_id is not None and can_work:
        context.update(grant_pages.grant_form_context(session, user))
        context.update(request_pages.ask_context(session, user, ticket.customer_id))
    return render(request, DETAIL_PAGE, context, status_code=status_code,
                  block="ticket_main" if is_htmx(request) else None)


def _done(request: Request, session: DbSession, user: User, ticket_id: int, saved: str) -> Response:
    if is_htmx(request):
        return _detail(request, session, user, ticket_id, saved=saved)
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


# Each form of the ticket page: the service's name of each field it shows -> the form's name.
FORM_FIELDS: dict[str, dict[str, str]] = {
    "note": {"body": "body"},
    "status": {"status": "to", "to": "to", "reason": "reason", "resolution": "resolution", "version": "version"},
    "escalate": {"to_level": "to_level", "reason": "reason", "version": "version"},
    "edit": {"category": "category", "priority": "priority", "subject": "subject", "version": "version"},
    "assign": {"assignee_id": "assignee_id", "team_id": "team_id", "version": "version"},
    "tags": {"tags": "tag", "tag": "tag", "version": "version"},
    "reply": {"channel": "channel", "summary": "summary", "body": "summary", "version": "version"},
    "satisfaction": {"outcome": "outcome", "satisfaction": "satisfaction"},
}


def _refused(request: Request, session: DbSession, user: User, ticket_id: int, form: str, exc: DomainError,
             typed: dict[str, Any] | None = None) -> Response:
    """The refusal beside its form, in the page itself (nothing typed travels in a cookie)."""
    session.rollback()
    status = 422 if exc.code in ("invalid", "escalation_refused") else 403 if isinstance(exc, PermissionDenied) \
        else 409
    return _detail(request, session, user, ticket_id, status_code=status,
                   errors={form: describe(exc, fields=FORM_FIELDS.get(form))}, typed=typed)


@router.get("/tickets/by-number/{number}", include_in_schema=False)
def ticket_by_number(request: Request, session: DbSession, user: AgentUser, number: str) -> Response:
    """A ticket number written in a duty log or handover, as a link: the ticket, if one may see it."""
    try:
        ticket = ticket_service.get_by_number(session, number=number[:40], user=user)
    except NotFound as exc:
        return error_pages.respond(request, 404, exc)
    return RedirectResponse(f"/tickets/{ticket.id}", status_code=303)


@router.get("/tickets/{ticket_id}", include_in_schema=False)
def ticket_detail(request: Request, session: DbSession, user: AgentUser, ticket_id: int) -> Response:
    return _detail(request, session, user, ticket_id)


@router.post("/tickets/{ticket_id}/notes", include_in_schema=False)
def add_note(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
             body: Annotated[str, Form()] = "") -> Response:
    try:
        ticket_service.add_note(session, ticket_id=ticket_id, by=user, body=body)
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "note", exc, {"body": body[:10_000]})
    return _done(request, session, user, ticket_id, "note")


@router.post("/tickets/{ticket_id}/status", include_in_schema=False)
def change_status(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
                  to: Annotated[str, Form()] = "", version: Annotated[int | None, Form()] = None,
                  resolution: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
    typed = {"resolution": resolution[:10_000], "reason": reason[:500]}
    try:
        if to == Status.escalated.value:  # escalation has its own form, with urgency and level
            raise ValidationFailed("Use the escalation form.", field="to")
        ticket_service.transition(session, ticket_id=ticket_id, by=user, to=to, version=version,
                                  resolution=resolution, reason=reason)
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "status", exc, typed)
    return _done(request, session, user, ticket_id, "status")


@router.post("/tickets/{ticket_id}/escalate", include_in_schema=False)
def escalate(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
             reason: Annotated[str, Form()] = "", urgent: Annotated[str, Form()] = "",
             to_level: Annotated[str, Form()] = "", version: Annotated[int | None, Form()] = None) -> Response:
    typed = {"reason": reason[:500], "urgent": bool(urgent), "to_level": to_level}
    try:
        level = int(to_level) if to_level.isdigit() else None
        ticket_service.escalate(session, ticket_id=ticket_id, by=user, reason=reason[:500], to_level=level,
                                urgent=bool(urgent), version=version)
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "escalate", exc, typed)
    return _done(request, session, user, ticket_id, "escalate")


@router.post("/tickets/{ticket_id}/edit", include_in_schema=False)
def edit(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
         version: Annotated[int, Form()] = 0, subject: Annotated[str, Form()] = "",
         description: Annotated[str, Form()] = "", category: Annotated[str, Form()] = "",
         priority: Annotated[str, Form()] = "") -> Response:
    typed = {"subject": subject[:200], "description": description[:10_000], "category": category,
             "priority": priority}
    changes: dict[str, Any] = {"subject": subject.strip()[:200] or None,
                               "description": description.strip()[:10_000] or None}
    if category:
        changes["category"] = category
    if priority:
        changes["priority"] = priority
    try:
        ticket_service.update(session, ticket_id=ticket_id, by=user, version=version, changes=changes)
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "edit", exc, typed)
    return _done(request, session, user, ticket_id, "edit")


@router.post("/tickets/{ticket_id}/grant", include_in_schema=False)
def grant(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, ticket_id: int,
          agent_id: Annotated[str, Form()] = "", duration_minutes: Annotated[str, Form()] = "",
          reason: Annotated[str, Form()] = "") -> Response:
    """A callback authorisation for this ticket's customer (team leaders and above)."""
    typed = grant_pages.typed_grant(agent_id=agent_id, duration_minutes=duration_minutes, reason=reason)
    try:
        grant_pages.grant_for_ticket(session, by=user, ticket_id=ticket_id, typed=typed, source_ip=ip)
    except DomainError as exc:
        session.rollback()
        status = 422 if exc.code == "invalid" else 409
        return _detail(request, session, user, ticket_id, status_code=status,
                       errors={"grant": describe(exc, fields=grant_pages.FIELDS)}, typed={"grant": typed})
    return _done(request, session, user, ticket_id, "grant")


@router.post("/tickets/{ticket_id}/grant-request", include_in_schema=False)
def ask_for_grant(request: Request, session: DbSession, user: AgentUser, ip: ClientIP, ticket_id: int,
                  reason: Annotated[str, Form()] = "") -> Response:
    """Ask for a callback authorisation for this ticket's customer (tickets.grant_requests)."""
    try:
        request_service.ask_for_ticket(session, ticket_id=ticket_id, by=user, reason=reason[:500], source_ip=ip)
    except DomainError as exc:
        session.rollback()
        return _detail(request, session, user, ticket_id, status_code=request_pages.refusal_status(exc),
                       errors={"ask": describe(exc, fields=request_pages.ASK_FIELDS)},
                       typed={"ask": {"reason": reason[:500]}})
    return _done(request, session, user, ticket_id, "ask")


# Assignment, tags and the complaint reply -----------------------------------------------------

def _assignable(session: DbSession, user: User, ticket: Any) -> list[User]:
    """Whom `user` may assign the ticket to, as the service allows it: a team leader their own
    team, supervisors and above the ticket's site (an agent only takes or gives up the ticket)."""
    if not permissions.allowed(user.role, permissions.TEAM_LEADERS):
        return []
    if user.role == Role.team_leader.value:
        people = list_users(session, team_id=user.team_id) if user.team_id else [user]
    else:
        people = list_users(session, site_id=ticket.site_id)
    return [p for p in people if permissions.allowed(p.role, permissions.AGENTS)]  # not QA inspectors


def _assignment_context(session: DbSession, user: User, ticket: Any, can_work: bool) -> dict[str, Any]:
    leader = can_work and permissions.allowed(user.role, permissions.TEAM_LEADERS)
    people = _assignable(session, user, ticket) if leader else []
    return {"can_reassign": leader, "assignable": people,
            "assignee_listed": ticket.assignee_id is None or any(p.id == ticket.assignee_id for p in people),
            "teams": organisation.list_teams(session, site_id=ticket.site_id) if leader else []}


def _reply_late(events: list[Any]) -> bool | None:
    """Whether the complaint's reply came after its deadline (None: no reply yet)."""
    for event in events:
        if event.kind == "complaint_replied":
            return event.from_value == "late"
    return None


CHOOSE = {"assignee_id": "Choose someone from the list.", "team_id": "Choose a team from the list."}


def _choice_id(value: str, *, field: str, me: int) -> int | None:
    """A person or team chosen in a form: "" or "none" for nobody, "me", or an id."""
    value = value.strip()
    if value in ("", "none"):
        return None
    if value == "me":
        return me
    if not value.isdigit():
        raise ValidationFailed(CHOOSE[field], field=field)
    return int(value)


@router.post("/tickets/{ticket_id}/assign", include_in_schema=False)
def assign(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
           version: Annotated[int | None, Form()] = None, assignee: Annotated[str, Form()] = "",
           team: Annotated[str, Form()] = "keep") -> Response:
    """Take, give up, assign or reassign the ticket (to a person and, for leaders, a team); the
    service decides who may do what."""
    typed = {"assignee": assignee[:20], "team": team[:20]}
    try:
        changes: dict[str, Any] = {"assignee_id": _choice_id(assignee, field="assignee_id", me=user.id)}
        if team != "keep":
            changes["team_id"] = _choice_id(team, field="team_id", me=user.team_id or 0)
        ticket_service.update(session, ticket_id=ticket_id, by=user, version=version, changes=changes)  # type: ignore[arg-type]
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "assign", exc, typed)
    return _done(request, session, user, ticket_id, "assign")


def _change_tags(session: DbSession, user: User, ticket_id: int, version: int | None, *, add: str = "",
                 remove: str = "") -> None:
    ticket = ticket_service.get(session, ticket_id=ticket_id, user=user)
    tags = ticket_service.tags_of(session, ticket_id=ticket.id)
    if add:
        tags.append(labels.system_tag_code(add) or add)
    if remove:
        gone = tag_key(labels.system_tag_code(remove) or remove)
        tags = [t for t in tags if tag_key(t) != gone]
    ticket_service.update(session, ticket_id=ticket_id, by=user, version=version, changes={"tags": tags})  # type: ignore[arg-type]


@router.post("/tickets/{ticket_id}/tags", include_in_schema=False)
def add_tag(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
            version: Annotated[int | None, Form()] = None, tag: Annotated[str, Form()] = "") -> Response:
    typed = {"tag": tag[:60]}
    try:
        if not tag.strip():
            raise ValidationFailed("Type a tag.", field="tag")
        _change_tags(session, user, ticket_id, version, add=tag[:60])
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "tags", exc, typed)
    return _done(request, session, user, ticket_id, "tags")


@router.post("/tickets/{ticket_id}/tags/remove", include_in_schema=False)
def remove_tag(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
               version: Annotated[int | None, Form()] = None, tag: Annotated[str, Form()] = "") -> Response:
    try:
        _change_tags(session, user, ticket_id, version, remove=tag.strip()[:60])
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "tags", exc, {})
    return _done(request, session, user, ticket_id, "tags")


@router.post("/tickets/{ticket_id}/reply", include_in_schema=False)
def record_reply(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
                 version: Annotated[int | None, Form()] = None, channel: Annotated[str, Form()] = "",
                 summary: Annotated[str, Form()] = "") -> Response:
    """The customer has had the hotline's reply to their complaint: the reply clock stops, and
    what they were told is kept as a note (notes are encrypted)."""
    typed = {"channel": channel[:20], "summary": summary[:REPLY_MAX]}
    try:
        summary = summary.strip()
        if not summary or len(summary) > REPLY_MAX:
            raise ValidationFailed("Write what the customer was told (up to %(limit)s characters).", field="summary",
                                   params={"limit": f"{REPLY_MAX:,}"})
        complaints.record_reply(session, ticket_id=ticket_id, by=user, channel=channel, version=version)
        ticket_service.add_note(session, ticket_id=ticket_id, by=user, body=summary)
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "reply", exc, typed)
    return _done(request, session, user, ticket_id, "reply")


@router.post("/tickets/{ticket_id}/phone-followup", include_in_schema=False)
def phone_followup_done(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
                        version: Annotated[int | None, Form()] = None) -> Response:
    """The key customer's phone follow-up of a complaint was made."""
    try:
        complaints.record_phone_followup(session, ticket_id=ticket_id, by=user, version=version)
    except DomainError as exc:
        return _refused(request, session, user, ticket_id, "phone_followup", exc)
    return _done(request, session, user, ticket_id, "phone_followup")


@router.post("/tickets/{ticket_id}/satisfaction", include_in_schema=False)
def satisfaction_result(request: Request, session: DbSession, user: AgentUser, ticket_id: int,
                        outcome: Annotated[str, Form()] = "reached", satisfaction: Annotated[str, Form()] = "",
                        note: Annotated[str, Form()] = "") -> Response:
    """The satisfaction follow-up call's result: the outcome and, when reached, a score 1-5."""
    typed = {"outcome": outcome[:20], "satisfaction": satisfaction[:2], "note": note[:1000]}
    try:
        followup = care.followup_of_ticket(session, ticket_id=ticket_id)
        if followup is None:
            ticket_service.get(session, ticket_id=ticket_id, user=user)  # 404 for a ticket one may not see
            raise ValidationFailed("This ticket has no satisfaction follow-up.", field="outcome")
        score = int(satisfaction) if satisfaction.strip().isdigit() else None
        care.record_followup(session, followup_id=followup.id, by=user, satisfaction=score, outcome=outcome,
                             note=note.strip()[:1000] or None)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            return _detail(request, session, user, ticket_id)
        return _refused(request, session, user, ticket_id, "satisfaction", exc, typed)
    return _done(request, session, user, ticket_id, "satisfaction")
