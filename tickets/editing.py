"""Changing a ticket: field updates carrying the version they read (a stale write is a Conflict),
status transitions by the workflow, first response, and notes. Every change goes on the timeline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from core import clock, directory, permissions
from core.errors import NOT_ALLOWED_VALUE, Conflict, PermissionDenied, ValidationFailed
from core.models import Role, User
from tickets import access, complaints, grants, sla, timeline
from tickets.escalation import escalate
from tickets.models.tickets import Ticket, TicketEvent, TicketNote, TicketTag
from tickets.tagging import clean_code, clean_tags, tag_key
from tickets.versioning import changing, check_version
from tickets.workflow import DONE, Category, Priority, Status, check_transition

__all__ = ["UPDATABLE", "add_note", "mark_first_response", "notes", "timeline_for", "transition", "update"]

# `resolution` is writable as a draft (the agent desktop saves it as the agent types); resolving
# through `transition` still needs one.
UPDATABLE = ("subject", "description", "resolution", "priority", "category", "assignee_id", "team_id",
             "customer_id", "language", "tags", "complaint_cause", "callback_due_at")
NOTE_MAX = 10_000


def _editable(session: Session, ticket_id: int, by: User) -> Ticket:
    access.require_worker(by)
    ticket = access.get_visible(session, ticket_id=ticket_id, user=by)
    if ticket.status == Status.closed.value:
        raise Conflict("This ticket is closed; it can no longer be changed.", field="status",
                       params={"number": ticket.number})
    return ticket


def _assignee(session: Session, ticket: Ticket, by: User, value: int | None, errors: list[dict[str, Any]]) -> None:
    if value is not None:
        user = access.staff_member(session, value)
        # Only someone who works tickets can hold one: a QA inspector reads them, nothing more.
        if user is None or not user.is_active or not permissions.allowed(user.role, permissions.AGENTS):
            errors.append({"loc": ["assignee_id"], "msg": "Choose someone from the list.", "params": {"id": value}})
            return
        if by.role == Role.team_leader.value and user.id != by.id and user.team_id != by.team_id:
            raise PermissionDenied("A team leader assigns tickets within their own team; move the ticket to the "
                                   "other team instead, or ask a supervisor.", field="assignee_id")
    if not access.is_leader(by) and value not in (by.id, None):
        raise PermissionDenied("Agents assign tickets to themselves only; ask your team leader to reassign.")
    if not access.is_leader(by) and value is None and ticket.assignee_id not in (by.id, None):
        raise PermissionDenied("Only the assignee or a team leader can unassign this ticket.")


def update(session: Session, *, ticket_id: int, by: User, version: int, changes: Mapping[str, Any]) -> Ticket:
    """Change fields of a ticket the caller read at `version`. Status moves through `transition`."""
    ticket = _editable(session, ticket_id, by)
    check_version(ticket, version)
    errors: list[dict[str, Any]] = []
    for name in changes:
        if name not in UPDATABLE:
            errors.append({"loc": [name], "msg": "The status changes through a transition, not here."
                           if name == "status" else "This field cannot be changed here."})
    values = dict(changes)
    for field, enum in (("priority", Priority), ("category", Category)):
        if field in values:
            try:
                values[field] = enum(values[field]).value
            except ValueError:
                known = ", ".join(item.value for item in enum)
                errors.append({"loc": [field], "msg": NOT_ALLOWED_VALUE,
                               "params": {"value": values[field], "known": known}})
    if "assignee_id" in values and values["assignee_id"] != ticket.assignee_id:
        _assignee(session, ticket, by, values["assignee_id"], errors)
    if "team_id" in values and values["team_id"] != ticket.team_id:
        if not access.is_leader(by):
            raise PermissionDenied("Only a team leader or above moves a ticket to another team.")
        if values["team_id"] is not None and directory.get_team(session, team_id=values["team_id"]) is None:
            errors.append({"loc": ["team_id"], "msg": "Choose a team from the list.",
                           "params": {"id": values["team_id"]}})
    if "callback_due_at" in values and isinstance(values["callback_due_at"], datetime) \
            and values["callback_due_at"].tzinfo is None:
        errors.append({"loc": ["callback_due_at"], "msg": "Give the time with its UTC offset."})
    if "complaint_cause" in values and values["complaint_cause"] is not None:
        try:
            values["complaint_cause"] = clean_code(values["complaint_cause"])
        except ValidationFailed:
            errors.append({"loc": ["complaint_cause"], "msg": "A cause is a short code such as 'delivery_late'."})
    if "tags" in values:
        try:
            values["tags"] = clean_tags(values["tags"] or [])
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if "customer_id" in values and values["customer_id"] is not None:
        from tickets.models.customers import Customer

        tier = session.scalar(select(Customer.tier).where(Customer.id == values["customer_id"]))
        if tier is None:
            errors.append({"loc": ["customer_id"], "msg": "No customer with this id.",
                           "params": {"id": values["customer_id"]}})
        values["_tier"] = tier
    if errors:
        raise ValidationFailed(errors)

    changed: list[str] = []
    with changing(session, ticket, version):
        for name in UPDATABLE:
            if name not in values or name == "tags":
                continue
            old, new = getattr(ticket, name), values[name]
            if old == new:
                continue
            setattr(ticket, name, new)
            changed.append(name)
            timeline.record(session, ticket, kind="field_changed", actor=by, field=name, from_value=old, to_value=new)
        if "tags" in values:
            current = set(session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket.id)))
            spelled = {tag_key(tag): tag for tag in current}  # a tag kept in another case stays as it was
            values["tags"] = [spelled.get(tag_key(tag), tag) for tag in values["tags"]]
            for tag in values["tags"]:
                if tag not in current:
                    session.add(TicketTag(ticket_id=ticket.id, tag=tag))
                    timeline.record(session, ticket, kind="tag_added", actor=by, field="tags", to_value=tag)
            for tag in current - set(values["tags"]):
                session.delete(session.get(TicketTag, (ticket.id, tag)))
                timeline.record(session, ticket, kind="tag_removed", actor=by, field="tags", from_value=tag)
            if set(values["tags"]) != current:
                changed.append("tags")
                ticket.updated_at = clock.now()  # a tag change bumps the version too: readers see it,
                flag_modified(ticket, "updated_at")  # even within the same clock tick
        if "customer_id" in changed:
            ticket.tier = values.get("_tier")
        if {"priority", "category", "customer_id"} & set(changed):
            sla.reapply_policy(session, ticket)
        if "category" in changed and ticket.category == Category.complaint.value and ticket.reply_due_at is None:
            complaints.on_opened(session, ticket, by=by)
        if "assignee_id" in changed:
            _authorise_ivr_callback(session, ticket)
    if changed:
        timeline.announce(session, "ticket.updated", ticket, fields=changed, by_id=by.id)
    return ticket


def _authorise_ivr_callback(session: Session, ticket: Ticket) -> None:
    """A callback the caller asked for in the IVR: whoever takes it may call the customer back."""
    if ticket.customer_id is None or ticket.assignee_id is None or Status(ticket.status) in DONE:
        return
    asked = ticket.source in ("ivr_callback", "voicemail") or session.scalar(
        select(TicketEvent.id).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "callback_requested",
                                     TicketEvent.actor_id.is_(None)).limit(1)) is not None
    if asked:
        try:
            grants.grant_for_ivr_callback(session, customer_id=ticket.customer_id, agent_id=ticket.assignee_id,
                                          ticket_id=ticket.id)
        except (ValidationFailed, Conflict):
            pass  # not a grantee (or a grant is scheduled already): a manager grants by hand, as before


def _first_response(session: Session, ticket: Ticket, by: User | None, at: datetime) -> None:
    if ticket.first_response_at is None:
        ticket.first_response_at = at
        timeline.record(session, ticket, kind="first_response", actor=by)


def mark_first_response(session: Session, *, ticket_id: int, by: User | None = None,
                        at: datetime | None = None) -> Ticket:
    """The customer has been answered (an agent took the call, a callback connected). Idempotent."""
    ticket = access.get_visible(session, ticket_id=ticket_id, user=by)
    if ticket.first_response_at is None:
        with changing(session, ticket):
            _first_response(session, ticket, by, at or clock.now())
            sla.refresh(session, ticket)
    return ticket


def transition(session: Session, *, ticket_id: int, by: User, to: str, version: int | None = None,
               resolution: str | None = None, reason: str | None = None, cause: str | None = None) -> Ticket:
    """Move the ticket to status `to` if the workflow allows it (InvalidTransition names the allowed
    ones). Resolving needs the resolution; closing a new ticket (a duplicate, a prank) needs a reason;
    `escalated` goes one level up the ladder."""
    ticket = _editable(session, ticket_id, by)
    check_version(ticket, version)
    if to == Status.escalated.value:
        return escalate(session, ticket_id=ticket_id, by=by, reason=reason or "", version=version)
    current = Status(ticket.status)
    target = check_transition(current, to)
    resolution = (resolution or "").strip() or None
    reason = (reason or "").strip() or None
    now = clock.now()
    if target == Status.resolved and not resolution:
        raise ValidationFailed("Write how the matter was resolved.", field="resolution")
    if target == Status.closed and current == Status.new and not (reason or resolution):
        raise ValidationFailed("Say why the ticket is closed without being worked (duplicate, prank...).",
                               field="reason")
    with changing(session, ticket, version):
        if current == Status.new:
            _first_response(session, ticket, by, now)
        ticket.status = target.value
        timeline.record(session, ticket, kind="status_changed", actor=by, field="status", from_value=current.value,
                        to_value=target.value, reason=reason)
        if resolution:
            ticket.resolution = resolution
            timeline.record(session, ticket, kind="field_changed", actor=by, field="resolution")
        if cause is not None:
            ticket.complaint_cause = clean_code(cause)
        if current == Status.waiting_on_customer:
            sla.resume(session, ticket, now=now)
        if target == Status.waiting_on_customer:
            sla.pause(session, ticket, now=now)
        elif target == Status.resolved:
            ticket.resolved_at = now
            sla.refresh(session, ticket, now=now)
            if ticket.category == Category.complaint.value:
                complaints.on_resolved(session, ticket, by=by)
        elif target == Status.closed:
            ticket.closed_at = now
            sla.refresh(session, ticket, now=now)
        elif current == Status.resolved and target == Status.open:  # reopened: a fresh resolution target
            ticket.resolved_at = None
            ticket.sla_state = "ok"
            ticket.resolution_due_at = sla.shift(session, ticket, now, ticket.resolution_minutes or 0)
            sla.refresh(session, ticket, now=now)
        else:
            sla.refresh(session, ticket, now=now)
    timeline.announce(session, "ticket.status_changed", ticket, from_status=current.value, to_status=target.value,
                      by_id=by.id)
    return ticket


def add_note(session: Session, *, ticket_id: int, by: User, body: str) -> TicketNote:
    """A note on the ticket (encrypted: it may quote the customer). Notes do not bump the version."""
    ticket = _editable(session, ticket_id, by)
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("A note needs some text.", field="body")
    if len(body) > NOTE_MAX:
        raise ValidationFailed("Write the note (up to %(limit)s characters).", field="body", params={"limit": NOTE_MAX})
    note = TicketNote(ticket_id=ticket.id, author_id=by.id, body=body, created_at=clock.now())
    session.add(note)
    session.flush()
    timeline.record(session, ticket, kind="note_added", actor=by, field="note", to_value=note.id)
    session.flush()
    timeline.announce(session, "ticket.note_added", ticket, note_id=note.id, by_id=by.id)
    return note


def notes(session: Session, *, ticket_id: int, user: User) -> list[TicketNote]:
    access.get_visible(session, ticket_id=ticket_id, user=user)
    return list(session.scalars(select(TicketNote).where(TicketNote.ticket_id == ticket_id).order_by(TicketNote.id)))


def timeline_for(session: Session, *, ticket_id: int, user: User | None) -> list[TicketEvent]:
    """Every change of the ticket, oldest first."""
    access.get_visible(session, ticket_id=ticket_id, user=user)
    return timeline.events(session, ticket_id=ticket_id)
