"""What the queue looks like: a caller's position and estimated wait, and the wallboard's
snapshot of queues, agents and offers about to time out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core import clock, directory
from core.errors import NotFound
from telephony.models.routing import AgentPresence, Offer, QueueEntry
from telephony.priority import routing_settings

STAFFED_STATES = ("available", "offered", "on_call", "wrap_up")


class QueueEntryNotFound(NotFound):
    """That call is not in the queue."""


@dataclass(frozen=True)
class QueueLine:
    skill_code: str
    waiting: int
    offered: int
    longest_wait_seconds: int


@dataclass(frozen=True)
class AgentLine:
    user_id: int
    state: str
    seconds_in_state: int
    site_id: int | None = None


@dataclass(frozen=True)
class ExpiringOffer:
    offer_id: int
    call_id: int
    user_id: int
    seconds_left: int


@dataclass(frozen=True)
class QueueSnapshot:
    at: datetime
    queues: list[QueueLine]
    agents_by_state: dict[str, list[AgentLine]]
    expiring_offers: list[ExpiringOffer]
    agent_counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def queue_position(session: Session, *, call_id: int) -> tuple[int, int]:
    """(position, estimated wait in seconds) of a waiting call within its skill's queue; (0, 0)
    once it is offered, connected or gone. The wait assumes the agents staffing the skill
    each free up after the recent average handle time plus wrap-up."""
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call_id))
    if entry is None:
        raise QueueEntryNotFound(params={"call_id": call_id})
    if entry.state != "waiting":
        return 0, 0
    ahead = session.scalar(select(func.count()).select_from(QueueEntry).where(
        QueueEntry.state == "waiting", QueueEntry.skill_code == entry.skill_code,
        (QueueEntry.sort_key < entry.sort_key) | ((QueueEntry.sort_key == entry.sort_key) & (QueueEntry.id < entry.id)),
    )) or 0
    position = ahead + 1
    staffed, free = _staffing(session, entry.skill_code)
    if position <= free:
        return position, 0
    settings = routing_settings(session)
    cycle = _average_handle_seconds(session, entry.skill_code) + settings.wrap_up_seconds
    return position, math.ceil((position - free) * cycle / max(staffed, 1))


def queue_snapshot(session: Session) -> QueueSnapshot:
    """Calls waiting and offered per skill with the longest wait (an offered caller still
    waits), agents by state with time in state, and pending offers within
    `expiring_within_seconds` of their timeout."""
    now = clock.now()
    settings = routing_settings(session)
    waiting = QueueEntry.state == "waiting"
    rows = session.execute(
        select(QueueEntry.skill_code,
               func.sum(case((waiting, 1), else_=0)),
               func.sum(case((QueueEntry.state == "offered", 1), else_=0)),
               func.min(QueueEntry.enqueued_at))
        .where(QueueEntry.state.in_(("waiting", "offered")))
        .group_by(QueueEntry.skill_code).order_by(QueueEntry.skill_code)
    ).all()
    queues = [QueueLine(skill, int(w or 0), int(o or 0), _seconds(now, oldest) if oldest else 0)
              for skill, w, o, oldest in rows]
    agents: dict[str, list[AgentLine]] = {}
    # Plain rows, not ORM objects: on a 2,000-agent floor this read runs on every wallboard refresh.
    places = directory.user_places().subquery("places")
    for user_id, state, since, site_id in session.execute(
            select(AgentPresence.user_id, AgentPresence.state, AgentPresence.since, places.c.site_id)
            .join(places, places.c.user_id == AgentPresence.user_id)
            .where(AgentPresence.state != "offline").order_by(AgentPresence.state, AgentPresence.since)):
        agents.setdefault(state, []).append(AgentLine(user_id, state, _seconds(now, since), site_id))
    horizon = now + timedelta(seconds=settings.expiring_within_seconds)
    expiring = [ExpiringOffer(o.id, o.call_id, o.user_id, max(0, math.ceil((o.expires_at - now).total_seconds())))
                for o in session.scalars(select(Offer).where(Offer.state == "pending", Offer.expires_at <= horizon)
                                         .order_by(Offer.expires_at))]
    return QueueSnapshot(at=now, queues=queues, agents_by_state=agents, expiring_offers=expiring,
                         agent_counts={state: len(lines) for state, lines in agents.items()})


def _staffing(session: Session, skill_code: str) -> tuple[int, int]:
    """Agents with the skill (any level) who are working, and how many of them are free."""
    skilled = directory.skilled_users(skill_code=skill_code).subquery("skilled")
    row = session.execute(
        select(func.count(), func.sum(case((AgentPresence.state == "available", 1), else_=0)))
        .select_from(AgentPresence)
        .join(skilled, skilled.c.user_id == AgentPresence.user_id)
        .where(AgentPresence.state.in_(STAFFED_STATES))
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _average_handle_seconds(session: Session, skill_code: str) -> float:
    settings = routing_settings(session)
    rows = session.execute(
        select(Offer.resolved_at, Offer.ended_at)
        .where(Offer.skill_code == skill_code, Offer.ended_at.is_not(None))
        .order_by(Offer.ended_at.desc()).limit(settings.handle_time_sample)
    ).all()
    durations = [(ended - answered).total_seconds() for answered, ended in rows
                 if answered is not None and ended is not None]
    return sum(durations) / len(durations) if durations else float(settings.default_handle_seconds)


def _seconds(now: datetime, since: datetime) -> int:
    return max(0, int((now - since).total_seconds()))


__all__ = ["AgentLine", "ExpiringOffer", "QueueEntryNotFound", "QueueLine", "QueueSnapshot", "queue_position",
           "queue_snapshot"]
