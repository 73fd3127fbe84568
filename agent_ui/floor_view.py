"""What the team leaders' and supervisors' floor shows: the live wallboard (one per site and
language, shared by every open floor), escalations, the ticket backlog, callback authorisations
and today's figures, read through the domain services with the viewer's rights."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core import clock, directory, organisation
from core.models import Role, User
from telephony import figures as figure_service
from telephony.queue_status import QueueLine, QueueSnapshot, queue_snapshot
from tickets import complaints, grant_requests, sla, visibility
from tickets import grants as grant_service
from tickets import search as ticket_search
from tickets import service as ticket_service
from tickets.callbacks import grant_state
from tickets.workflow import Category, Status

PANELS = ("wallboard", "escalations", "backlog", "grants", "figures")
BOARD_STATES = ("available", "offered", "on_call", "wrap_up", "break", "away")
# Names each state lists on the wallboard, longest in that state first: the ones a leader acts on.
# A large floor's board would otherwise carry every agent's name (2,000 on a big site), too many to
# read on a wall and, sent on every change to every open floor, the live pages' largest cost.
BOARD_NAMES = 30
ACTIVE = [s.value for s in (Status.new, Status.open, Status.waiting_on_customer, Status.escalated)]
DURATIONS = (30, 60, 120, 240, 480, 1440)  # minutes offered in the grant and extend forms
WHOLE_CENTER = frozenset({Role.center_head.value, Role.admin.value})


@dataclass(frozen=True)
class BoardAgent:
    user_id: int
    name: str
    since: datetime


@dataclass(frozen=True)
class StateGroup:
    state: str
    agents: list[BoardAgent]  # the longest in this state first, at most BOARD_NAMES
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.agents)


@dataclass(frozen=True)
class Wallboard:
    at: datetime
    queues: list[tuple[QueueLine, datetime]]  # with the moment the longest waiter joined
    states: list[StateGroup]
    expiring: list[tuple[str, datetime]]  # agent's name, when the offer times out
    figures: figure_service.TodayFigures
    waiting: int
    oldest: datetime | None


def board_scope(user: User) -> int | None:
    """The site whose floor a leader watches; None is the whole center."""
    return board_scope_of(user.role, user.site_id)


def board_scope_of(role: str, site_id: int | None) -> int | None:
    return None if role in WHOLE_CENTER else site_id


def zone_of(session: Session, site_id: int | None) -> str:
    return organisation.site_timezone(session, site_id)


def wallboard(session: Session, *, site_id: int | None, zone: str, snapshot: QueueSnapshot | None = None,
              people: dict[int, directory.StaffName] | None = None) -> Wallboard:
    """The wallboard of one site (or the center). `snapshot` and `people` (names already read,
    filled in as more are needed) let one read serve the boards of every site at once. Names are
    read only for the agents the board shows."""
    snapshot = snapshot or queue_snapshot(session)
    people = people if people is not None else {}
    at = snapshot.at
    site_of = {a.user_id: a.site_id for lines in snapshot.agents_by_state.values() for a in lines}

    def here(user_id: int) -> bool:
        return site_id is None or site_of.get(user_id) == site_id

    present = {state: [a for a in snapshot.agents_by_state.get(state, []) if here(a.user_id)]
               for state in BOARD_STATES}
    offers = [o for o in snapshot.expiring_offers if here(o.user_id)]
    wanted = {a.user_id for lines in present.values() for a in lines[:BOARD_NAMES]} | {o.user_id for o in offers}
    if wanted - people.keys():
        people.update(directory.staff_names(session, wanted - people.keys()))

    def name(user_id: int) -> str:
        return people[user_id].display_name if user_id in people else "?"

    states = [StateGroup(state, [BoardAgent(a.user_id, name(a.user_id), at - timedelta(seconds=a.seconds_in_state))
                                 for a in lines[:BOARD_NAMES]], len(lines))
              for state, lines in present.items()]
    queues = [(q, at - timedelta(seconds=q.longest_wait_seconds)) for q in snapshot.queues]
    expiring = [(name(o.user_id), at + timedelta(seconds=o.seconds_left)) for o in offers]
    waiting = sum(q.waiting + q.offered for q, _ in queues)
    oldest = min((since for q, since in queues if q.waiting + q.offered), default=None)
    return Wallboard(at=at, queues=queues, states=states, expiring=expiring, waiting=waiting, oldest=oldest,
                     figures=figure_service.today_figures(session, zone=zone, site_id=site_id, now=at))


def wallboard_panel(session: Session, user: User, **_: Any) -> dict[str, Any]:
    site_id = board_scope(user)
    return {"board": wallboard(session, site_id=site_id, zone=zone_of(session, site_id)), "board_event": ""}


def escalations_panel(session: Session, user: User, **_: Any) -> dict[str, Any]:
    page = ticket_search.search(session, viewer=user, status=Status.escalated.value, limit=15)
    now = clock.now()
    return {"escalations": [(t, sla.live_state(t, now=now)) for t in page.items], "escalations_count": page.count}


def backlog_panel(session: Session, user: User, **_: Any) -> dict[str, Any]:
    now = clock.now()
    counts = {"open": ticket_search.search(session, viewer=user, status=ACTIVE, limit=1).count or 0}
    for state in ("at_risk", "breached"):
        counts[state] = ticket_search.search(session, viewer=user, status=ACTIVE, sla_state=state, limit=1).count or 0
    due = ticket_search.search(session, viewer=user, status=ACTIVE, sort="due", limit=10, with_count=False).items
    return {"backlog_counts": counts, "backlog": [(t, sla.live_state(t, now=now)) for t in due],
            "complaints_due": complaints.complaints_due(session, viewer=user, limit=10)}


def grantable_agents(session: Session, user: User) -> list[User]:
    """The people `user` may authorise (`tickets.grants.grantable_people`)."""
    return grant_service.grantable_people(session, by=user)


def grants_panel(session: Session, user: User, **_: Any) -> dict[str, Any]:
    now = clock.now()
    grants, _count = grant_service.list_grants(session, viewer=user, limit=20)
    people = directory.staff_names(session, {g.agent_id for g in grants})
    customers = visibility.masked_cards(session, customer_ids={g.customer_id for g in grants})
    numbers = ticket_service.numbers_of(session, ticket_ids={g.ticket_id for g in grants if g.ticket_id})
    requests = ticket_search.search(session, viewer=user, category=Category.callback_request.value, status=ACTIVE,
                                    limit=20, with_count=False).items
    longest = grant_service.max_window().total_seconds() / 60
    return {
        "grants": [(g, grant_state(g, now), people.get(g.agent_id, ("?", None))[0], customers.get(g.customer_id),
                    numbers.get(g.ticket_id) if g.ticket_id is not None else None) for g in grants],
        "grant_agents": grantable_agents(session, user),
        "durations": [d for d in DURATIONS if d <= longest],
        "default_duration": int(grant_service.default_window().total_seconds() // 60),
        "callback_requests": requests,
        "waiting_requests": grant_requests.count_waiting(session, user=user),
    }


def figures_panel(session: Session, user: User, **_: Any) -> dict[str, Any]:
    site_id = board_scope(user)
    return {"figures": figure_service.today_figures(session, zone=zone_of(session, site_id), site_id=site_id)}


BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "wallboard": wallboard_panel, "escalations": escalations_panel, "backlog": backlog_panel,
    "grants": grants_panel, "figures": figures_panel,
}


def context(session: Session, user: User, panels: Iterable[str] = PANELS) -> dict[str, Any]:
    values: dict[str, Any] = {"now": clock.now()}
    for name in panels:
        values.update(BUILDERS[name](session, user))
    return values


def figures_json(session: Session, user: User) -> dict[str, Any]:
    """Today's figures for the charts: labels in the viewer's time zone, counts and seconds."""
    site_id = board_scope(user)
    figures = figure_service.today_figures(session, zone=zone_of(session, site_id), site_id=site_id)
    # The charts start at the day's first call (the night's empty hours say nothing).
    first = next((h.start for h in figures.hours if h.offered), figures.hours[-1].start)
    hours = [h for h in figures.hours if h.start >= first]
    intervals = [i for i in figures.intervals if i.start >= first]
    return {
        "day": figures.day.isoformat(),
        "zone": figures.zone,
        "target_seconds": figures.target_seconds,
        "hours": [h.start.strftime("%H:%M") for h in hours],
        "answered": [h.answered for h in hours],
        "abandoned": [h.abandoned for h in hours],
        "handle_seconds": [h.average_handle_seconds for h in hours],
        "intervals": [i.start.strftime("%H:%M") for i in intervals],
        "service_level": [None if i.service_level is None else round(i.service_level * 100, 1)
                          for i in intervals],
        "totals": {"offered": figures.offered, "answered": figures.answered, "abandoned": figures.abandoned,
                   "service_level": None if figures.service_level is None else round(figures.service_level * 100, 1),
                   "average_handle_seconds": figures.average_handle_seconds},
    }
