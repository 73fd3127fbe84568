"""The ticket service other packages call: opening tickets (from calls, voicemails, callback
requests, agents and the API) with their human number, calls and recording references."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock, directory, organisation
from core.config import get_settings
from core.errors import NOT_ALLOWED_VALUE, NotFound, PermissionDenied, ValidationFailed
from core.models import Role, User
from tickets import access, calendar, complaints, opening, sla, timeline
from tickets.access import TicketNotFound
from tickets.editing import add_note, mark_first_response, notes, timeline_for, transition, update
from tickets.escalation import escalate, hand_to_team_leader, notifications_for
from tickets.models.tickets import Ticket, TicketCall, TicketNumberCounter, TicketRecording, TicketTag
from tickets.tagging import clean_tags
from tickets.versioning import changing
from tickets.workflow import DONE, Category, Priority, Status

__all__ = [
    "TicketNotFound", "add_note", "allocate_number", "assign_to_call_agent", "attach_recording", "calls_of", "escalate",
    "get", "get_by_number", "hand_to_team_leader", "link_call", "numbers_of", "mark_first_response", "notes",
    "notifications_for",
    "open_callback_request", "open_from_call", "open_from_voicemail", "open_ticket", "recordings_of", "tags_of",
    "ticket_for_call", "timeline_for", "transition", "update",
]

SOURCES = ("call", "voicemail", "ivr_callback", "agent", "api")
RECORDING_KINDS = ("call", "voicemail")


# Numbers ------------------------------------------------------------------------------------

def allocate_number(session: Session, *, at: datetime | None = None) -> str:
    """The next `HL-<year>-<6 digits>`: one upsert on the year's counter row, whose lock is held
    until commit, so concurrent openings on any number of processes never share a number."""
    year = (at or clock.now()).astimezone(ZoneInfo(get_settings().timezone)).year
    dialect = session.get_bind().dialect.name
    statement: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(TicketNumberCounter) if dialect == "postgresql" else sqlite.insert(TicketNumberCounter))
    upsert = statement.values(year=year, last=1).on_conflict_do_update(
        index_elements=[TicketNumberCounter.year], set_={"last": TicketNumberCounter.last + 1}
    ).returning(TicketNumberCounter.last)
    last = session.execute(upsert).scalar_one()
    return f"HL-{year}-{last:06d}"


# Opening ------------------------------------------------------------------------------------

def _choice(value: object, enum: type, field: str, errors: list[dict[str, object]]) -> str | None:
    if value is None:
        return None
    try:
        return enum(value).value
    except ValueError:
        known = ", ".join(item.value for item in enum)  # type: ignore[attr-defined]
        errors.append({"loc": [field], "msg": NOT_ALLOWED_VALUE, "params": {"value": value, "known": known}})
        return None


def _site_exists(session: Session, site_id: int) -> bool:
    try:
        organisation.get_site(session, site_id=site_id)
    except NotFound:
        return False
    return True


def _customer_tier(session: Session, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    from tickets.models.customers import Customer

    tier = session.scalar(select(Customer.tier).where(Customer.id == customer_id))
    if tier is None:
        raise ValidationFailed("No customer with this id.", field="customer_id", params={"customer_id": customer_id})
    return tier


def open_ticket(session: Session, *, category: str, site_id: int | None = None, by: User | None = None,
                source: str = "agent", priority: str | None = None, customer_id: int | None = None,
                caller_index: str | None = None, team_id: int | None = None, assignee_id: int | None = None,
                subject: str | None = None, description: str | None = None,
                language: str | None = None, tags: Iterable[str] = (), callback_due_at: datetime | None = None,
                call_sid: str | None = None) -> Ticket:
    """Open a ticket. An agent's own ticket goes to them and their team; the SLA clock starts and a
    complaint tells the team leaders at once. Personal text is encrypted, never logged."""
    errors: list[dict[str, object]] = []
    category = _choice(category, Category, "category", errors) or ""
    chosen = _choice(priority, Priority, "priority", errors)
    if source not in SOURCES:
        errors.append({"loc": ["source"], "msg": NOT_ALLOWED_VALUE,
                       "params": {"value": source, "known": list(SOURCES)}})
    if by is not None:
        access.require_worker(by)
        site_id = site_id or by.site_id
        if by.role == Role.agent.value:
            if assignee_id not in (None, by.id) or team_id not in (None, by.team_id):
                raise PermissionDenied("Agents open tickets for themselves and their own team; "
                                       "ask your team leader to assign it elsewhere.")
            team_id = team_id or by.team_id
            assignee_id = assignee_id or by.id
    if site_id is None or not _site_exists(session, site_id):
        errors.append({"loc": ["site_id"], "msg": "Name the site the ticket belongs to."})
    if team_id is not None and directory.get_team(session, team_id=team_id) is None:
        errors.append({"loc": ["team_id"], "msg": "Choose a team from the list.", "params": {"id": team_id}})
    if assignee_id is not None and access.staff_member(session, assignee_id) is None:
        errors.append({"loc": ["assignee_id"], "msg": "Choose someone from the list.", "params": {"id": assignee_id}})
    if errors:
        raise ValidationFailed(errors)
    tier = _customer_tier(session, customer_id)
    if chosen is None:
        chosen = Priority.high.value if category == Category.complaint.value else Priority.normal.value
    now = clock.now()
    ticket = Ticket(
        category=category, priority=chosen, status=Status.new.value,
        source=source, site_id=site_id, team_id=team_id, assignee_id=assignee_id,
        created_by_id=by.id if by is not None else None, customer_id=customer_id, caller_index=caller_index,
        tier=tier, language=language, subject=subject or None, description=description or None,
        callback_due_at=callback_due_at, escalation_level=0, created_at=now, updated_at=now,
    )
    # Deadlines are computed on the ticket before it joins the session, so opening is one INSERT
    # (version 1) however many lookups the policy and calendar need.
    sla.start_clock(session, ticket, now=now)
    if category == Category.complaint.value:
        complaints.set_deadlines(session, ticket)
    if opening.in_one_statement(session):
        # Number, row, call link and the "opened" line in one round trip (tickets.opening).
        opening.insert_opened(session, ticket, call_sid=call_sid, actor_id=by.id if by is not None else None,
                              source=source, at=now)
    else:
        ticket.number = allocate_number(session, at=now)  # last: the counter's row lock is held until commit
        session.add(ticket)
        session.flush()
        if call_sid:
            session.add(TicketCall(ticket_id=ticket.id, call_sid=call_sid, direction="inbound", created_at=now))
        timeline.record(session, ticket, kind="opened", actor=by, field="source", to_value=source)
    for tag in clean_tags(tags):
        session.add(TicketTag(ticket_id=ticket.id, tag=tag))
    if category == Category.complaint.value:
        complaints.on_opened(session, ticket, by=by)
    session.flush()
    timeline.announce(session, "ticket.opened", ticket, source=source)
    return ticket


def ticket_for_call(session: Session, *, call_sid: str) -> Ticket | None:
    """The ticket a call (by CallSid) belongs to, if any."""
    return session.scalar(select(Ticket).join(TicketCall, TicketCall.ticket_id == Ticket.id)
                          .where(TicketCall.call_sid == call_sid))


def _open_once(session: Session, call_sid: str, **values: object) -> Ticket:
    """Open a ticket for a call unless the call already has one: a retried webhook, or two racing,
    end with one ticket. On PostgreSQL the insert itself is conditional on linking the CallSid
    (tickets.opening), so neither a lookup first nor a savepoint is needed; elsewhere the
    loser's savepoint rolls back on the unique CallSid."""
    if opening.in_one_statement(session):
        try:
            return open_ticket(session, call_sid=call_sid, **values)  # type: ignore[arg-type]
        except opening.CallAlreadyHasTicket:
            # The conflicting link is committed (ON CONFLICT waited for it), so this finds it.
            existing = ticket_for_call(session, call_sid=call_sid)
            if existing is None:
                raise
            return existing
    existing = ticket_for_call(session, call_sid=call_sid)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            return open_ticket(session, call_sid=call_sid, **values)  # type: ignore[arg-type]
    except IntegrityError:
        existing = ticket_for_call(session, call_sid=call_sid)
        if existing is None:
            raise
        return existing


def open_from_call(session: Session, *, call_sid: str, customer_id: int | None, category: str, site_id: int,
                   caller_index: str | None, priority: str | None = None, language: str | None = None,
                   team_id: int | None = None) -> Ticket:
    """The ticket of an inbound call, opened when the caller chooses in the IVR. Idempotent by
    CallSid: calling it again for the same call returns the same ticket."""
    # Held for the duration: the session keeps loaded objects only while something refers to
    # them, and both the site check and the SLA calendar read the site (one SELECT, not two).
    site = _held_site(session, site_id)
    ticket = _open_once(session, call_sid, category=category, site_id=site_id, customer_id=customer_id,
                        caller_index=caller_index, priority=priority, language=language, team_id=team_id,
                        source="call")
    del site
    return ticket


def _held_site(session: Session, site_id: int) -> object | None:
    try:
        return organisation.get_site(session, site_id=site_id)
    except NotFound:
        return None  # open_ticket says what is wrong


def open_callback_request(session: Session, *, site_id: int, customer_id: int | None = None,
                          caller_index: str | None = None, call_sid: str | None = None, due_at: datetime | None = None,
                          language: str | None = None, priority: str | None = None,
                          source: str = "ivr_callback") -> Ticket:
    """A caller asked to be called back. A call that already has a ticket gets the callback due on
    that ticket; otherwise a callback_request ticket opens. Due by default `callback_minutes`
    business minutes after the site next opens. Idempotent by CallSid."""
    if due_at is None:
        start = calendar.next_open(session, site_id=site_id)
        due_at = calendar.add_business_minutes(session, site_id=site_id, start=start,
                                               minutes=sla.get_setting(session, "callback_minutes"))
    existing = ticket_for_call(session, call_sid=call_sid) if call_sid else None
    if existing is not None:
        if existing.callback_due_at is None:
            with changing(session, existing):
                existing.callback_due_at = due_at
                timeline.record(session, existing, kind="callback_requested", field="callback_due_at",
                                to_value=due_at.isoformat())
                if existing.first_response_at is None and Status(existing.status) not in DONE:
                    # The callback is the first response: a callback request is due then, another
                    # ticket by whichever comes first.
                    if existing.category == Category.callback_request.value or existing.first_response_due_at is None:
                        existing.first_response_due_at = due_at
                    else:
                        existing.first_response_due_at = min(due_at, existing.first_response_due_at)
                    existing.first_response_minutes = max(1, sla.between(session, existing, existing.created_at,
                                                                         existing.first_response_due_at))
                    sla.refresh(session, existing)
            timeline.announce(session, "ticket.callback_requested", existing, callback_due_at=due_at.isoformat())
        return existing
    values = dict(category=Category.callback_request.value, site_id=site_id, customer_id=customer_id,
                  caller_index=caller_index, priority=priority, language=language, callback_due_at=due_at,
                  source=source)
    if call_sid:
        return _open_once(session, call_sid, **values)
    return open_ticket(session, **values)  # type: ignore[arg-type]


def open_from_voicemail(session: Session, *, call_sid: str, recording_ref: str, site_id: int,
                        customer_id: int | None = None, caller_index: str | None = None,
                        language: str | None = None, due_at: datetime | None = None) -> Ticket:
    """A caller left a voicemail (after the wait limit or out of hours): nothing is lost. The call's
    ticket (or a new callback request) gets the voicemail and a callback due. Idempotent."""
    ticket = open_callback_request(session, site_id=site_id, customer_id=customer_id, caller_index=caller_index,
                                   call_sid=call_sid, due_at=due_at, language=language, source="voicemail")
    attach_recording(session, recording_ref=recording_ref, kind="voicemail", ticket_id=ticket.id, call_sid=call_sid)
    return ticket


# Calls and recordings -----------------------------------------------------------------------

def link_call(session: Session, *, ticket_id: int, call_sid: str, direction: str = "outbound") -> TicketCall:
    """Add a call (an outbound callback, a transfer's new leg) to a ticket; idempotent by CallSid."""
    if direction not in ("inbound", "outbound"):
        raise ValidationFailed("A call's direction is inbound or outbound.", field="direction")
    link = session.scalar(select(TicketCall).where(TicketCall.call_sid == call_sid))
    if link is not None:
        if link.ticket_id != ticket_id:
            raise ValidationFailed("This call already belongs to another ticket.", field="call_sid",
                                   params={"call_sid": call_sid})
        return link
    ticket = access.get_visible(session, ticket_id=ticket_id, user=None)
    link = TicketCall(ticket_id=ticket.id, call_sid=call_sid, direction=direction, created_at=clock.now())
    session.add(link)
    timeline.record(session, ticket, kind="call_linked", field="direction", to_value=direction)
    session.flush()
    return link


def assign_to_call_agent(session: Session, *, ticket_id: int, agent_id: int) -> Ticket:
    """The agent who answered the ticket's call works it: it is assigned to them (and to their team
    if it has none) and the answer is its first response. A system action, taken when telephony
    connects the call; a resolved or closed ticket is left as it is."""
    ticket = access.get_visible(session, ticket_id=ticket_id, user=None)
    place = access.staff_place(session, agent_id)  # their team only: one narrow read
    if place is None or Status(ticket.status) in DONE:
        return ticket
    now = clock.now()
    changed = []
    with changing(session, ticket):
        if ticket.assignee_id != agent_id:
            timeline.record(session, ticket, kind="field_changed", field="assignee_id",
                            from_value=ticket.assignee_id, to_value=agent_id)
            ticket.assignee_id = agent_id
            changed.append("assignee_id")
        if ticket.team_id is None and place.team_id is not None:
            timeline.record(session, ticket, kind="field_changed", field="team_id", to_value=place.team_id)
            ticket.team_id = place.team_id
            changed.append("team_id")
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            timeline.record(session, ticket, kind="first_response", actor_id=agent_id)
            sla.refresh(session, ticket, now=now)
    if changed:
        timeline.announce(session, "ticket.updated", ticket, fields=changed, by_id=None)
    return ticket


def attach_recording(session: Session, *, recording_ref: str, kind: str = "call", ticket_id: int | None = None,
                     call_sid: str | None = None) -> TicketRecording:
    """Keep telephony's reference to a recording (its id or RecordingSid) on the ticket, found by
    id or by the call's CallSid. Idempotent by recording_ref (recording callbacks repeat)."""
    if kind not in RECORDING_KINDS:
        raise ValidationFailed("Choose a kind of recording from the list.", field="kind",
                               params={"known": list(RECORDING_KINDS)})
    existing = session.scalar(select(TicketRecording).where(TicketRecording.recording_ref == recording_ref))
    if existing is not None:
        return existing
    if ticket_id is None:
        ticket = ticket_for_call(session, call_sid=call_sid) if call_sid else None
        if ticket is None:
            raise TicketNotFound("No ticket for this call; open one first.", params={"call_sid": call_sid})
    else:
        ticket = access.get_visible(session, ticket_id=ticket_id, user=None)
    recording = TicketRecording(ticket_id=ticket.id, recording_ref=recording_ref, kind=kind, call_sid=call_sid,
                                created_at=clock.now())
    session.add(recording)
    timeline.record(session, ticket, kind="recording_attached", field="kind", to_value=kind)
    session.flush()
    timeline.announce(session, "ticket.recording_attached", ticket, kind=kind, recording_ref=recording_ref)
    return recording


# Reading ------------------------------------------------------------------------------------

def get(session: Session, *, ticket_id: int, user: User | None) -> Ticket:
    """The ticket if `user` may see it (None: the system); TicketNotFound otherwise."""
    return access.get_visible(session, ticket_id=ticket_id, user=user)


def get_by_number(session: Session, *, number: str, user: User | None) -> Ticket:
    ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == number.strip().upper()))
    if ticket_id is None:
        raise TicketNotFound()
    return access.get_visible(session, ticket_id=ticket_id, user=user)


def numbers_of(session: Session, *, ticket_ids: set[int]) -> dict[int, str]:
    """Ticket numbers by id, for lists that show other things (grants, callbacks)."""
    if not ticket_ids:
        return {}
    rows = session.execute(select(Ticket.id, Ticket.number).where(Ticket.id.in_(ticket_ids)))
    return {row.id: row.number for row in rows}


def visible_of(session: Session, *, ticket_ids: set[int], user: User) -> set[int]:
    """Which of `ticket_ids` `user` may see (the one visibility rule), for lists that link them."""
    if not ticket_ids:
        return set()
    query = select(Ticket.id).where(Ticket.id.in_(ticket_ids))
    rule = access.visibility(user)
    if rule is not None:
        query = query.where(rule)
    return set(session.scalars(query))


def tags_of(session: Session, *, ticket_id: int) -> list[str]:
    return list(session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id).order_by(TicketTag.tag)))


def calls_of(session: Session, *, ticket_id: int) -> list[TicketCall]:
    return list(session.scalars(select(TicketCall).where(TicketCall.ticket_id == ticket_id).order_by(TicketCall.id)))


def recordings_of(session: Session, *, ticket_id: int) -> list[TicketRecording]:
    return list(session.scalars(select(TicketRecording).where(TicketRecording.ticket_id == ticket_id)
                                .order_by(TicketRecording.id)))
