"""What the agent desktop's panels show, read through the domain services: one function per
panel so the page and the websocket render the same thing from the same reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from agent_ui import i18n
from agent_ui.pages import reminders
from core import clock, organisation
from core.db import write_locked
from core.errors import NotFound
from core.models import User
from scheduling import notices as notice_service
from telephony import callback_progress, monitoring, presence
from telephony import desk as desk_service
from telephony.queue_status import QueueSnapshot, queue_snapshot
from tickets import callbacks as callback_service
from tickets import repeat_calls, sla, visibility
from tickets import search as ticket_search
from tickets import service as ticket_service
from tickets.workflow import Category, Status

# The panels, in page order; the websocket refreshes them by these names.
PANELS = ("presence", "reminders", "notices", "offer", "call", "ticket", "callbacks", "tickets", "queue")
PRESENCE_CHOICES = ("available", "break", "away", "offline")
OPEN_STATUSES = [s.value for s in (Status.new, Status.open, Status.waiting_on_customer, Status.escalated)]
CATEGORIES = [c.value for c in Category]


def _desk(session: Session, user: User, cache: dict[str, Any]) -> desk_service.AgentDesk:
    if "desk" not in cache:
        cache["desk"] = desk_service.agent_desk(session, user_id=user.id)
    return cache["desk"]


def _card(session: Session, user: User, customer_id: int | None, source_ip: str | None) -> dict[str, Any]:
    """The caller's card as the rules allow (full while the call is theirs, else masked; every full
    view is audited), with the caller's open tickets and last contacts the agent may see."""
    if customer_id is None:
        return {"card": None, "open_tickets": [], "last_contacts": []}
    try:
        card = visibility.view_customer(session, customer_id=customer_id, viewer=user, source_ip=source_ip)
    except NotFound:
        return {"card": None, "open_tickets": [], "last_contacts": []}
    open_tickets = ticket_search.search(session, viewer=user, customer_id=customer_id, status=OPEN_STATUSES,
                                        limit=5, with_count=False).items
    recent = ticket_search.search(session, viewer=user, customer_id=customer_id, limit=5, with_count=False).items
    return {"card": card, "open_tickets": open_tickets, "last_contacts": recent}


def presence_panel(session: Session, user: User, cache: dict[str, Any], **_: Any) -> dict[str, Any]:
    desk = _desk(session, user, cache)
    # Only the changes the agent may make from here are offered (none during a call: it ends first).
    return {"desk": desk, "presence_choices": PRESENCE_CHOICES,
            "presence_allowed": frozenset(presence.allowed_targets(desk.state))}


def notices_panel(session: Session, user: User, cache: dict[str, Any], **_: Any) -> dict[str, Any]:
    return {"notices": notice_service.unacknowledged(session, user=user)}


def reminders_panel(session: Session, user: User, cache: dict[str, Any], locale: str = i18n.DEFAULT_LOCALE,
                    **_: Any) -> dict[str, Any]:
    """The agent's reminders (an answered authorisation request, a certificate due), as on their
    other pages; the websocket resends them when one is made for the agent."""
    return {"reminders": reminders.for_viewer(session, user, locale=locale)}


def offer_panel(session: Session, user: User, cache: dict[str, Any], source_ip: str | None = None,
                **_: Any) -> dict[str, Any]:
    offer = _desk(session, user, cache).offer
    return {"offer": offer, **(_card(session, user, offer.customer_id, source_ip) if offer else {})}


def call_panel(session: Session, user: User, cache: dict[str, Any], source_ip: str | None = None,
               **_: Any) -> dict[str, Any]:
    desk = _desk(session, user, cache)
    call = desk.call
    live = None
    if call is not None and desk.state == "on_call":
        # Hold (and the call's hold time), a paused recording, a transfer under way, and a
        # leader monitoring where the site's policy tells its agents.
        live = monitoring.desk_controls(session, call_id=call.call_id)
    return {"desk": desk, "call": call, "controls": live, "transfer_queues": _queues(session) if live else [],
            **(_card(session, user, call.customer_id, source_ip) if call else {})}


def _queues(session: Session) -> list[str]:
    """The queues a call can be transferred to (the skills' codes; their names are translated)."""
    return [skill.code for skill in organisation.list_skills(session)]


def ticket_panel(session: Session, user: User, cache: dict[str, Any], **_: Any) -> dict[str, Any]:
    call = _desk(session, user, cache).call
    ticket = None
    if call is not None and call.ticket_id is not None:
        try:
            ticket = ticket_service.get(session, ticket_id=call.ticket_id, user=user)
        except NotFound:
            ticket = None  # not (yet) theirs: the call was answered by someone else
    attach_to = repeat_calls.open_of_same_kind(session, ticket=ticket, viewer=user) if ticket is not None else []
    return {"ticket": ticket, "categories": CATEGORIES, "ticket_call": call, "attach_to": attach_to}


def callbacks_panel(session: Session, user: User, cache: dict[str, Any], **_: Any) -> dict[str, Any]:
    return {"callbacks": callback_service.callbacks_of(session, agent=user),
            "callback_progress": callback_progress.progress_of(session, agent_id=user.id)}


def tickets_panel(session: Session, user: User, cache: dict[str, Any], **_: Any) -> dict[str, Any]:
    page = ticket_search.search(session, viewer=user, assignee_id=user.id, status=OPEN_STATUSES, limit=20)
    now = clock.now()
    return {"my_tickets": [(t, sla.live_state(t, now=now)) for t in page.items], "my_tickets_count": page.count}


def queue_panel(session: Session, user: User | None = None, cache: dict[str, Any] | None = None,
                **_: Any) -> dict[str, Any]:
    """Calls waiting per queue: the same for every agent, so the live layer renders it once."""
    return queue_lines(queue_snapshot(session))


def queue_lines(snapshot: QueueSnapshot) -> dict[str, Any]:
    lines = [(q, snapshot.at - timedelta(seconds=q.longest_wait_seconds)) for q in snapshot.queues]
    return {"queue_lines": lines, "queue_at": snapshot.at}


BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "presence": presence_panel, "reminders": reminders_panel, "notices": notices_panel, "offer": offer_panel,
    "call": call_panel,
    "ticket": ticket_panel, "callbacks": callbacks_panel, "tickets": tickets_panel, "queue": queue_panel,
}


AUDITED = frozenset({"offer", "call"})  # panels that may show a full card: each view is audited


def prepare_for_audit(session: Session, panels: Iterable[str]) -> None:
    """Viewing a caller's full card writes the audit trail. On SQLite a read transaction that
    then writes fails at once if another writer committed meanwhile, so such reads start as the
    serialised writer (what was read before, the sign-in, is committed first)."""
    if AUDITED & set(panels):
        if session.in_transaction():
            session.commit()
        write_locked(session)


def context(session: Session, user: User, panels: Iterable[str] = PANELS, *,
            source_ip: str | None = None, locale: str = i18n.DEFAULT_LOCALE) -> dict[str, Any]:
    """The template context for these panels (one read of the desk shared between them)."""
    cache: dict[str, Any] = {}
    values: dict[str, Any] = {"now": clock.now()}
    for name in panels:
        values.update(BUILDERS[name](session, user, cache, source_ip=source_ip, locale=locale))
    return values
