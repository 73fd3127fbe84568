"""Repeat callers: a call that opened a new ticket is attached instead to the customer's open
ticket of the same category (offered on the agent desktop), so one matter keeps one ticket and
its calls; the emptied ticket is closed as a duplicate. Telephony learns the call's new ticket
through a hook wired by the composition root (hotline.hooks)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.models import User
from tickets import access, timeline
from tickets.editing import transition
from tickets.models.tickets import Ticket, TicketCall, TicketRecording
from tickets.versioning import changing
from tickets.workflow import DONE, Status

REPEAT_CALL_REASON = "A repeat call: its calls were attached to another ticket."

# Called as hook(session, call_sid=..., ticket_id=...) for each call moved to another ticket.
CallMoved = Callable[..., None]
_ON_CALL_MOVED: list[CallMoved] = []


def on_call_moved(hook: CallMoved) -> None:
    """Register a reaction to a call moving to another ticket (safe to call again)."""
    if hook not in _ON_CALL_MOVED:
        _ON_CALL_MOVED.append(hook)


def open_of_same_kind(session: Session, *, ticket: Ticket, viewer: User, limit: int = 5) -> list[Ticket]:
    """The customer's other open tickets of the same category that `viewer` may see, newest first:
    what the desktop offers to attach this ticket's call to."""
    if ticket.customer_id is None or ticket.status != Status.new.value:
        return []
    query = select(Ticket).where(Ticket.customer_id == ticket.customer_id, Ticket.category == ticket.category,
                                 Ticket.id != ticket.id, Ticket.status.not_in([s.value for s in DONE]))
    seen = access.visibility(viewer)
    if seen is not None:
        query = query.where(seen)
    return list(session.scalars(query.order_by(Ticket.id.desc()).limit(limit)))


def attach_calls(session: Session, *, ticket_id: int, to_ticket_id: int, by: User) -> Ticket:
    """Move the calls (and their recordings) of `ticket_id` to the open ticket `to_ticket_id` of
    the same customer and category, then close `ticket_id` as a duplicate. Returns the target."""
    access.require_worker(by)
    source = access.get_visible(session, ticket_id=ticket_id, user=by)
    target = access.get_visible(session, ticket_id=to_ticket_id, user=by)
    if source.id == target.id:
        raise ValidationFailed("Choose another ticket than this one.", field="to_ticket_id")
    if source.customer_id is None or source.customer_id != target.customer_id or source.category != target.category:
        raise ValidationFailed("Attach only to an open ticket of the same customer and category.",
                               field="to_ticket_id")
    if Status(target.status) in DONE:
        raise ValidationFailed("Attach only to a ticket that is still open.", field="to_ticket_id")
    if source.status != Status.new.value:
        raise ValidationFailed("Only a new ticket's calls are attached elsewhere; this one is being worked.",
                               field="ticket_id")
    sids = list(session.scalars(select(TicketCall.call_sid).where(TicketCall.ticket_id == source.id)))
    with changing(session, target):
        session.execute(update(TicketCall).where(TicketCall.ticket_id == source.id).values(ticket_id=target.id))
        session.execute(update(TicketRecording).where(TicketRecording.ticket_id == source.id)
                        .values(ticket_id=target.id))
        timeline.record(session, target, kind="call_linked", actor=by, field="ticket",
                        from_value=source.number, to_value=f"{len(sids)} call(s)")
    # The new ticket names where its calls went (a value the timeline shows) and is closed with
    # the hub's own reason (a msgid the timeline shows in the reader's language).
    timeline.record(session, source, kind="calls_moved", actor=by, field="ticket", to_value=target.number)
    transition(session, ticket_id=source.id, by=by, to=Status.closed.value, reason=REPEAT_CALL_REASON)
    for sid in sids:
        for hook in _ON_CALL_MOVED:
            hook(session, call_sid=sid, ticket_id=target.id)
    timeline.announce(session, "ticket.calls_attached", target, from_ticket_id=source.id)
    session.flush()
    return target
