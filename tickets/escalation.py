"""The escalation ladder (agent, team leader, supervisor, center head), one level at a time unless
urgent, handing troublesome callers to the team leader, and the notifications people receive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock
from core.db import affected_rows
from core.directory import list_users
from core.errors import NotFound, ValidationFailed
from core.events import publish
from core.models import User
from tickets import access, timeline
from tickets.models.tickets import Notification, Ticket, TicketTag
from tickets.versioning import changing, check_version
from tickets.workflow import DONE, LEVEL_ROLE, InvalidTransition, Level, Status

__all__ = [
    "ABUSIVE_TAG", "EscalationRefused", "escalate", "hand_to_team_leader", "level_users",
    "mark_read", "notifications_for", "notify", "remind", "settle",
]

ABUSIVE_TAG = "abusive_caller"


class EscalationRefused(ValidationFailed):
    """This escalation is not allowed; the message says why and what to do."""

    default_msgid = "This escalation is not allowed."

    code = "escalation_refused"


# Notifications ------------------------------------------------------------------------------

def level_users(session: Session, *, ticket: Ticket, level: Level) -> list[User]:
    """Who stands at a ladder level for this ticket: the team's people first, then the site's,
    then those of that role attached to no site (a center-wide post)."""
    role = LEVEL_ROLE[level]
    if level == Level.team_leader and ticket.team_id is not None:
        users = list_users(session, team_id=ticket.team_id, role=role)
        if users:
            return users
    users = list_users(session, site_id=ticket.site_id, role=role)
    if users:
        return users
    return [u for u in list_users(session, role=role) if u.site_id is None]


def notify(session: Session, *, users: Iterable[User], kind: str, ticket: Ticket | None) -> list[Notification]:
    """One notification per person (each once), published to that person after commit."""
    made = []
    for user in {u.id: u for u in users}.values():
        note = Notification(user_id=user.id, kind=kind, ticket_id=ticket.id if ticket else None, created_at=clock.now())
        session.add(note)
        made.append(note)
        publish(session, "notification.created",
                {"kind": kind, "ticket_id": ticket.id if ticket else None, "number": ticket.number if ticket else None},
                user_id=user.id)
    return made


def remind(session: Session, *, user_ids: Iterable[int], kind: str, key: str,
           params: dict[str, Any] | None = None) -> list[Notification]:
    """A reminder from any package (a certificate due, a handover not accepted, a report due):
    one notification per person, once per `key` and person, so a sweep may run any number of
    times. `params` carries the ids and values the page needs for its text and link."""
    made = []
    for user_id in dict.fromkeys(user_ids):
        full_key = f"{key}:{user_id}"
        if session.scalar(select(Notification.id).where(Notification.key == full_key)) is not None:
            continue
        note = Notification(user_id=user_id, kind=kind, key=full_key, params=dict(params or {}),
                            created_at=clock.now())
        try:
            with session.begin_nested():  # another worker's sweep may have made it a moment ago
                session.add(note)
        except IntegrityError:
            continue
        publish(session, "notification.created", {"kind": kind, "ticket_id": None, "number": None}, user_id=user_id)
        made.append(note)
    return made


def settle(session: Session, *, key_prefix: str) -> int:
    """Mark as read the reminders whose key starts with `key_prefix`: what they asked for is done."""
    result = session.execute(update(Notification).where(Notification.key.startswith(key_prefix, autoescape=True),
                                                        Notification.read_at.is_(None))
                             .values(read_at=clock.now()).execution_options(synchronize_session=False))
    return affected_rows(result)


def notifications_for(session: Session, user_id: int, *, unread_only: bool = False,
                      limit: int = 50) -> list[Notification]:
    """A person's notifications, newest first."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(max(1, min(limit, 500)))))


def mark_read(session: Session, *, notification_id: int, user: User) -> Notification:
    note = session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        raise NotFound("No such notification.")
    if note.read_at is None:
        note.read_at = clock.now()
        session.flush()
    return note


# Escalation ---------------------------------------------------------------------------------

def _level(value: int | str | Level) -> Level:
    try:
        return Level[value] if isinstance(value, str) else Level(value)
    except (KeyError, ValueError):
        names = ", ".join(f"{lv.value} ({lv.name})" for lv in Level)
        raise EscalationRefused("Choose a level of the ladder from the list.", field="to_level",
                                params={"value": str(value), "known": names}) from None


def escalate(session: Session, *, ticket_id: int, by: User | None, reason: str,
             to_level: int | str | Level | None = None, urgent: bool = False, version: int | None = None,
             notify_kind: str = "escalated") -> Ticket:
    """Raise the ticket one level up the ladder (`by` None: the system, e.g. a breached SLA).
    Only an urgent escalation, with a reason, may skip levels; the skipped levels are notified."""
    if by is not None:
        access.require_worker(by)
    ticket = access.get_visible(session, ticket_id=ticket_id, user=by)
    check_version(ticket, version)  # a refusal below would judge a ticket the caller has not seen
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the ticket is escalated.", field="reason")
    if Status(ticket.status) in DONE:
        raise InvalidTransition(ticket.status, Status.escalated.value)
    current = Level(ticket.escalation_level)
    if to_level is None and current == Level.center_head:
        raise EscalationRefused("The ticket is already with the center head, the top of the ladder.", field="to_level")
    target = Level(current + 1) if to_level is None else _level(to_level)
    if target <= current:
        raise EscalationRefused("The ticket is already at that level or above; escalation only goes up.",
                                field="to_level", params={"level": current.name})
    if target > current + 1 and not urgent:
        raise EscalationRefused(
            "Escalation goes one level at a time; only an urgent matter may skip levels. Tick “urgent” and give "
            "the reason.", field="to_level", params={"level": current.name, "next_level": Level(current + 1).name})
    skipped = [Level(value) for value in range(current + 1, target)]

    with changing(session, ticket, version):
        if ticket.status != Status.escalated.value:
            timeline.record(session, ticket, kind="status_changed", actor=by, field="status",
                            from_value=ticket.status, to_value=Status.escalated.value)
            ticket.status = Status.escalated.value
        ticket.escalation_level = int(target)
        timeline.record(session, ticket, kind="escalated", actor=by, field="escalation_level",
                        from_value=current.name, to_value=target.name, reason=reason)
        notify(session, users=level_users(session, ticket=ticket, level=target), kind=notify_kind, ticket=ticket)
        for level in skipped:
            notify(session, users=level_users(session, ticket=ticket, level=level), kind="escalation_skipped",
                   ticket=ticket)
        if skipped:
            timeline.record(session, ticket, kind="skipped_levels_notified", actor=by,
                            to_value=",".join(level.name for level in skipped))
    timeline.announce(session, "ticket.escalated", ticket, from_level=current.name, to_level=target.name,
                      urgent=bool(urgent), skipped=[level.name for level in skipped], by_id=by.id if by else None)
    return ticket


def hand_to_team_leader(session: Session, *, ticket_id: int, by: User, reason: str,
                        version: int | None = None) -> Ticket:
    """A caller deliberately causing trouble: tag the ticket, put it with the team leader (one level
    up from an agent) and tell the team leaders at once."""
    access.require_worker(by)
    ticket = access.get_visible(session, ticket_id=ticket_id, user=by)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say what the caller did.", field="reason")
    with changing(session, ticket, version):
        if session.get(TicketTag, (ticket.id, ABUSIVE_TAG)) is None:
            session.add(TicketTag(ticket_id=ticket.id, tag=ABUSIVE_TAG))
            timeline.record(session, ticket, kind="tag_added", actor=by, field="tags", to_value=ABUSIVE_TAG)
        timeline.record(session, ticket, kind="handed_to_team_leader", actor=by, reason=reason)
        if ticket.escalation_level >= Level.team_leader or Status(ticket.status) in DONE:
            notify(session, users=level_users(session, ticket=ticket, level=Level.team_leader),
                   kind="abusive_caller", ticket=ticket)
    if ticket.escalation_level < Level.team_leader and Status(ticket.status) not in DONE:
        escalate(session, ticket_id=ticket.id, by=by, reason=reason, to_level=Level.team_leader,
                 notify_kind="abusive_caller")
    timeline.announce(session, "ticket.handed_to_team_leader", ticket, by_id=by.id)
    return ticket
