"""The router's decision on PostgreSQL as one statement: the due check, the pick of the best
waiting call and of its agent (both `FOR UPDATE SKIP LOCKED`), and the offer's writes (the offer,
the agent's presence and its log line, the queue entry) travel in a single round trip.
SQLite keeps the step-by-step path in telephony.routing (one serialised writer: no row locks
to take, and no data-modifying WITH). Rules: docs/routing.md, "The decision"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Row,
    String,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    insert,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ColumnClause

from core import clock, directory, tunables
from core.db import UTCDateTime, add_as_loaded, table_of
from telephony import offers
from telephony import presence as presence_service
from telephony.models.routing import AgentPresence, Offer, PresenceLog, QueueEntry
from telephony.presence import AVAILABLE, OFFERED, WRAP_UP
from telephony.priority import OFFER_TIMEOUT, alive_since

__all__ = ["Pick", "applies_to", "decide"]

_PRESENCE = table_of(AgentPresence)
_ENTRIES = table_of(QueueEntry)
_OFFERS = table_of(Offer)
_LOG = table_of(PresenceLog)


def applies_to(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True)
class Pick:
    """What one decision statement found. `due` means nothing was picked: offers or wrap-ups
    are due and must be handled first. `entry_id` without `offer` is a call nobody could take."""

    due_offers: bool
    due_wrap_ups: bool
    anyone_free: bool
    entry_id: int | None
    skill_code: str | None
    min_level: int | None
    offer: Offer | None

    @property
    def due(self) -> bool:
        return self.due_offers or self.due_wrap_ups


def decide(session: Session, *, blocked: list[tuple[str, int]], tried: list[int], check_due: bool) -> Pick:
    """One decision in one statement. `blocked` (skill, level) pairs need no idlest-agent search
    (nobody free fits them this pass); `tried` entries are skipped. With `check_due`, nothing is
    picked while an offer or a wrap-up is due, so the caller can end those first."""
    session.flush()  # the statement reads the tables directly: pending ORM changes go first
    now = clock.now()
    params: dict[str, Any] = {"now": now, "default_timeout": OFFER_TIMEOUT.default,
                              "alive_since": alive_since(now)}
    for n, (skill, level) in enumerate(blocked):
        params[f"skill_{n}"], params[f"level_{n}"] = skill, level
    if tried:
        params["tried"] = tried
    # Core execution on the session's connection: the statement names no ORM entity to load.
    row = session.connection().execute(_statement(len(blocked), bool(tried), check_due), params).one()
    offer = _offered(session, row, now) if row.offer_id is not None else None
    return Pick(due_offers=bool(row.offers_due), due_wrap_ups=bool(row.wrap_ups_due), anyone_free=bool(row.anyone_free),
                entry_id=row.entry_id, skill_code=row.skill_code, min_level=row.min_level, offer=offer)


def _offered(session: Session, row: Row[Any], now: datetime) -> Offer:
    """The ORM side of an offer the statement made: the Offer as inserted (no SELECT back), stale
    copies of the entry and the presence row expired, and the events, ring task and hooks."""
    offer = add_as_loaded(session, Offer, {
        "id": row.offer_id, "entry_id": row.entry_id, "call_id": row.call_id, "user_id": row.user_id,
        "skill_code": row.skill_code, "state": "pending", "offered_at": now, "expires_at": row.expires_at,
        "resolved_at": None, "ended_at": None, "reason": None})
    for key in (identity_key(AgentPresence, row.user_id), identity_key(QueueEntry, row.entry_id)):
        stale = session.identity_map.get(key)
        if stale is not None:
            session.expire(stale)
    presence_service.announce_move(session, row.user_id, previous=AVAILABLE, state=OFFERED, at=now,
                                   reason=_reason(row.call_id), site_id=row.site_id, team_id=row.team_id)
    offers.announce(session, offer)
    return offer


def _reason(call_id: int) -> str:
    return f"call {call_id}"  # the same words as the step-by-step path's presence log


def _const(value: str) -> Any:
    # Constants are written into the SQL, not sent as parameters: psycopg prepares the statement
    # after a few runs, and PostgreSQL's generic plan for it is then as good as a custom one
    # (it knows the states being looked for), so the statement is not planned again each time.
    return literal_column(f"'{value}'", String)  # only this module's own constant words


_PENDING = _const("pending")
_AVAILABLE = _const(AVAILABLE)
_ONE: ColumnClause[int] = literal_column("1")


@lru_cache(maxsize=64)
def _statement(blocked: int, tried: bool, check_due: bool) -> Any:
    """Built once per shape (how many blocked pairs, any tried entries, due check or not)."""
    now = bindparam("now", type_=UTCDateTime())
    offers_due = exists().where(Offer.state == _PENDING, Offer.expires_at <= now)
    wrap_ups_due = exists().where(AgentPresence.state == _const(WRAP_UP), AgentPresence.wrap_up_until <= now)
    own_free = exists().where(AgentPresence.user_id == QueueEntry.preferred_agent_id, AgentPresence.state == _AVAILABLE)

    def is_blocked(skill: Any, level: Any) -> list[Any]:
        return [and_(skill == bindparam(f"skill_{n}"), level >= bindparam(f"level_{n}")) for n in range(blocked)]

    # 1. The waiting call with the lowest sort key (an entry whose own agent is free stays in
    #    even when its skill is blocked: that agent may fit when the others do not).
    #    A caller silent too long waits for Twilio to be asked (telephony.routing._HEARD).
    heard = bindparam("alive_since", type_=UTCDateTime())
    conditions: list[Any] = [QueueEntry.state == _const("waiting"),
                             or_(QueueEntry.heard_at.is_(None), QueueEntry.heard_at >= heard)]
    if check_due:
        conditions += [not_(offers_due), not_(wrap_ups_due)]  # one-time filters: nothing due
    conditions += [not_(and_(match, not_(own_free)))
                   for match in is_blocked(QueueEntry.skill_code, QueueEntry.min_level)]
    if tried:
        conditions.append(QueueEntry.id.not_in(bindparam("tried", expanding=True)))
    entry = (select(QueueEntry.id, QueueEntry.call_id, QueueEntry.skill_code, QueueEntry.min_level,
                    QueueEntry.preferred_agent_id)
             .where(*conditions).order_by(QueueEntry.sort_key, QueueEntry.id).limit(_ONE)
             .with_for_update(skip_locked=True).cte("entry"))

    # 2. Its agent: the customer's own agent if free with the skill (any level), else the
    #    longest-idle free agent with the skill at the entry's level. UNION ALL runs its branches
    #    in order and LIMIT 1 stops at the first row, so the second branch locks nobody when the
    #    first found the agent (row-locking plans are never parallel).
    skill = select(entry.c.skill_code).scalar_subquery()
    skilled = directory.skilled_users(skill_code=skill).subquery("skilled")
    places = directory.user_places().subquery("places")
    free = (select(AgentPresence.user_id, places.c.site_id, places.c.team_id)
            .join(places, places.c.user_id == AgentPresence.user_id)
            .join(skilled, skilled.c.user_id == AgentPresence.user_id)
            .where(AgentPresence.state == _AVAILABLE))
    own = (free.where(AgentPresence.user_id == select(entry.c.preferred_agent_id).scalar_subquery())
           .with_for_update(of=AgentPresence, skip_locked=True).subquery("own"))
    level = select(entry.c.min_level).scalar_subquery()
    idlest = (free.where(skilled.c.level >= level, *[not_(match) for match in is_blocked(skill, level)])
              .order_by(AgentPresence.idle_since, AgentPresence.user_id).limit(_ONE)
              .with_for_update(of=AgentPresence, skip_locked=True).subquery("idlest"))
    agent = union_all(select(own), select(idlest)).limit(_ONE).cte("agent")

    # 3. The offer and its writes; each runs once, whether or not the final SELECT reads it.
    timeout = func.coalesce(tunables.override_subquery(OFFER_TIMEOUT), bindparam("default_timeout"))
    expires = now + timeout * literal_column("interval '1 second'")
    offer = (insert(_OFFERS)
             .from_select(["entry_id", "call_id", "user_id", "skill_code", "state", "offered_at", "expires_at"],
                          select(entry.c.id, entry.c.call_id, agent.c.user_id, entry.c.skill_code, _PENDING,
                                 now, expires).select_from(entry.join(agent, true())))
             .returning(_OFFERS.c.id, _OFFERS.c.entry_id, _OFFERS.c.call_id, _OFFERS.c.user_id, _OFFERS.c.expires_at)
             .cte("offer"))
    moved = (update(_PRESENCE).where(_PRESENCE.c.user_id == offer.c.user_id)
             .values(state=_const(OFFERED), since=now, wrap_up_until=null(), current_offer_id=offer.c.id)
             .cte("moved"))
    logged = (insert(_LOG).from_select(["user_id", "from_state", "to_state", "at", "reason"],
                                       select(offer.c.user_id, _AVAILABLE, _const(OFFERED), now,
                                              _const("call ").concat(cast(offer.c.call_id, String))))
              .cte("logged"))
    entry_offered = (update(_ENTRIES).where(_ENTRIES.c.id == offer.c.entry_id)
                     .values(state=_const("offered"), attempts=_ENTRIES.c.attempts + _ONE)
                     .cte("entry_offered"))

    anyone_free = exists().where(AgentPresence.state == _AVAILABLE)
    one = select(literal_column("1").label("one")).subquery("one")
    return (select((offers_due if check_due else false()).label("offers_due"),
                   (wrap_ups_due if check_due else false()).label("wrap_ups_due"),
                   anyone_free.label("anyone_free"), entry.c.id.label("entry_id"), entry.c.call_id,
                   entry.c.skill_code, entry.c.min_level, offer.c.id.label("offer_id"), offer.c.user_id,
                   offer.c.expires_at, agent.c.site_id, agent.c.team_id)
            .select_from(one.outerjoin(entry, true()).outerjoin(offer, true()).outerjoin(agent, true()))
            .add_cte(moved, logged, entry_offered))
