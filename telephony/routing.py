"""The router: calls join and leave the queue, the best waiting call is offered to the
longest-idle agent who fits, under row locks, and every event that frees an agent routes again.
Rules: docs/routing.md; ordering: telephony.priority; offers: telephony.offers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from core import clock, directory
from core.db import begin_write
from core.errors import NOT_ALLOWED_VALUE, Conflict, ValidationFailed
from telephony import decision, offer_states, offers
from telephony import presence as presence_service
from telephony.models.routing import AgentPresence, Offer, QueueEntry
from telephony.offers import OfferNotFound, OfferNotLive, lock_entry, on_offer, queue_changed
from telephony.presence import AVAILABLE, AWAY, ON_CALL, ROUTER, WRAP_UP, lock_presence, move
from telephony.priority import PREFERRED_AGENT_TIERS, alive_since, base_priority, routing_settings, sort_key
from telephony.queue_status import QueueEntryNotFound, queue_position, queue_snapshot

LIVE_ENTRY_STATES = ("waiting", "offered")
LEAVE_OUTCOMES = ("abandoned", "voicemail", "callback")


# Joining and leaving the queue ---------------------------------------------------------------

def enqueue(session: Session, *, call_id: int, skill_code: str, category: str, tier: str | None,
            preferred_agent_id: int | None = None, waited_since: datetime | None = None, min_level: int = 1,
            route_now: bool = True, heard: bool = False) -> QueueEntry:
    """Queue a call (idempotent per call) and route. `waited_since` keeps an earlier start of
    waiting; the preferred agent counts only for top-tier customers. `heard`: the caller is on
    the line now (a carrier call), so the router offers them only while they have been heard of
    recently (heard_in_queue, silent_in_queue)."""
    if not 1 <= min_level <= 5:
        raise ValidationFailed("A minimum skill level is between 1 and 5.", field="min_level")
    begin_write(session)
    now = clock.now()
    enqueued_at = min(waited_since, now) if waited_since is not None else now
    base = base_priority(category=category, tier=tier)
    values = dict(
        call_id=call_id, skill_code=skill_code, min_level=min_level, category=category, tier=tier or "normal",
        base_priority=base, enqueued_at=enqueued_at, queued_at=now, state="waiting", attempts=0,
        sort_key=sort_key(enqueued_at=enqueued_at, base=base,
                          aging_seconds_per_point=routing_settings(session).aging_seconds_per_point),
        preferred_agent_id=preferred_agent_id if (tier or "normal") in PREFERRED_AGENT_TIERS else None,
        heard_at=now if heard else None,
    )
    # Inserted unless the call has its entry already (a repeated webhook, or two racing): one
    # statement, the new row read back by it.
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    entry = session.scalars(dialect_insert(QueueEntry).values(values)
                            .on_conflict_do_nothing(index_elements=[QueueEntry.call_id])
                            .returning(QueueEntry)).one_or_none()
    if entry is None:
        existing = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call_id))
        assert existing is not None  # entries are deleted only with their calls
        return existing
    queue_changed(session, entry)
    if route_now:
        route(session)
    return entry


def abandon(session: Session, *, call_id: int, reason: str) -> QueueEntry | None:
    """The caller hung up while queued or offered: any offer is withdrawn and its agent is
    available again, in the same place in line."""
    return leave_queue(session, call_id=call_id, outcome="abandoned", reason=reason)


def leave_queue(session: Session, *, call_id: int, outcome: str, reason: str | None = None) -> QueueEntry | None:
    """The call leaves the queue unanswered: `abandoned`, or the caller chose `voicemail` or a
    `callback`. Idempotent; a connected call is returned unchanged, a never-queued one as None."""
    if outcome not in LEAVE_OUTCOMES:
        raise ValidationFailed(NOT_ALLOWED_VALUE, field="outcome",
                               params={"value": outcome, "known": list(LEAVE_OUTCOMES)})
    begin_write(session)
    entry = lock_entry(session, QueueEntry.call_id == call_id)
    if entry is None or entry.state not in LIVE_ENTRY_STATES:
        return entry
    freed = entry.state == "offered" and offers.withdraw_for_entry(
        session, entry, reason=reason or outcome, agent_state=AVAILABLE)
    entry.state, entry.ended_at, entry.end_reason = outcome, clock.now(), reason
    queue_changed(session, entry)
    if freed:
        route(session)
    return entry


def requeue(session: Session, *, call_id: int, skill_code: str | None = None,
            min_level: int | None = None) -> QueueEntry:
    """A cold transfer: the call goes back to the queue (optionally for another skill) with
    its original waiting time, and the agent who had it goes to wrap-up."""
    begin_write(session)
    entry = lock_entry(session, QueueEntry.call_id == call_id)
    if entry is None:
        raise QueueEntryNotFound("This call was never queued, so it cannot be transferred to a queue.",
                                 params={"call_id": call_id})
    if entry.state in LIVE_ENTRY_STATES:
        return entry
    if entry.state != "connected":
        raise Conflict("This call has left the queue; it cannot be transferred.",
                       params={"call_id": call_id, "state": entry.state})
    _end_agent_call(session, call_id)
    entry.skill_code = skill_code or entry.skill_code
    entry.min_level = min_level or entry.min_level
    entry.sort_key = sort_key(enqueued_at=entry.enqueued_at, base=entry.base_priority,
                              aging_seconds_per_point=routing_settings(session).aging_seconds_per_point)
    entry.state, entry.queued_at, entry.ended_at, entry.end_reason = "waiting", clock.now(), None, None
    if entry.heard_at is not None:
        entry.heard_at = entry.queued_at  # the caller was on a live call with the agent until now
    queue_changed(session, entry)
    route(session)
    return entry


def return_to_queue(session: Session, *, call_id: int, user_id: int | None, reason: str) -> QueueEntry | None:
    """The agent who took the call left before the caller joined them: the call waits again at
    its old place (priority and waiting time kept), the accepted offer counts as declined, and
    the agent is available at the back of the idle line, as after a decline. Idempotent."""
    begin_write(session)
    entry = lock_entry(session, QueueEntry.call_id == call_id)
    if entry is None or entry.state != "connected":
        return entry
    now = clock.now()
    offer = session.scalars(select(Offer).where(Offer.entry_id == entry.id, Offer.state == "accepted",
                                                Offer.user_id == user_id).order_by(Offer.id.desc())
                            .execution_options(populate_existing=True)).first()
    if offer is not None:
        offer_states.move(session, offer, offer_states.DECLINED, reason=reason, at=now)
    if user_id is not None:
        agent = lock_presence(session, user_id=user_id)
        if agent.state == ON_CALL and agent.current_call_id == call_id:
            common: dict[str, Any] = {"last_call_ended_at": now, "current_call_id": None}
            move(session, agent, AWAY if agent.away_after_call else AVAILABLE, by=ROUTER, reason=reason, **common)
    # `heard_at` is kept: being sent back is not news of the caller, who may have hung up while
    # the agent was on the line (their callbacks late or lost). One silent too long is asked
    # about at Twilio before the next offer (docs/reconcile.md, "No ghost offers").
    entry.state, entry.queued_at, entry.ended_at, entry.end_reason = "waiting", now, None, None
    queue_changed(session, entry)
    if offer is not None:
        offers.ended(session, offer)
    route(session)
    return entry


# Routing ------------------------------------------------------------------------------------

# The decision's statements, built once: they run on every offer. `populate_existing` makes a
# row read under its lock overwrite what the session held.
_FRESH = {"populate_existing": True}
_DUE = select(
    exists().where(Offer.state == "pending", Offer.expires_at <= bindparam("now")),
    exists().where(AgentPresence.state == WRAP_UP, AgentPresence.wrap_up_until <= bindparam("now")))
_ANYONE_FREE = select(exists().where(AgentPresence.state == AVAILABLE))
_OWN_AGENT_FREE = exists().where(AgentPresence.user_id == QueueEntry.preferred_agent_id,
                                 AgentPresence.state == AVAILABLE)
# A caller silent for longer than HOTLINE_QUEUE_ALIVE_SECONDS is not offered until Twilio has been
# asked whether they are still there (silent_in_queue; the routing sweep asks): their hang-up's
# callbacks may have been lost or held back, and an offer would ring an agent for nobody.
_HEARD = or_(QueueEntry.heard_at.is_(None), QueueEntry.heard_at >= bindparam("alive_since"))
_NEXT_ENTRY = (select(QueueEntry).where(QueueEntry.state == "waiting", _HEARD)
               .order_by(QueueEntry.sort_key, QueueEntry.id).limit(1).with_for_update(skip_locked=True))
# Free agents with the skill, with site and team for the presence event (saves a round trip).
# Who has which skill, and where they work, come from core as selectables folded into this
# one locking statement.
_SKILLED = directory.skilled_users(skill_code=bindparam("skill")).subquery("skilled")
_PLACES = directory.user_places().subquery("places")
_FREE_WITH_SKILL = (select(AgentPresence, _PLACES.c.site_id, _PLACES.c.team_id)
                    .join(_PLACES, _PLACES.c.user_id == AgentPresence.user_id)
                    .join(_SKILLED, _SKILLED.c.user_id == AgentPresence.user_id)
                    .where(AgentPresence.state == AVAILABLE)
                    .with_for_update(of=AgentPresence, skip_locked=True))
_WRAP_UPS_OVER = (select(AgentPresence, _PLACES.c.site_id, _PLACES.c.team_id)
                  .join(_PLACES, _PLACES.c.user_id == AgentPresence.user_id)
                  .where(AgentPresence.state == WRAP_UP, AgentPresence.wrap_up_until <= bindparam("now"))
                  .limit(500).with_for_update(of=AgentPresence, skip_locked=True))
_PICK_OWN = _FREE_WITH_SKILL.where(AgentPresence.user_id == bindparam("user_id"))
_PICK_IDLEST = (_FREE_WITH_SKILL.where(_SKILLED.c.level >= bindparam("level"))
                .order_by(AgentPresence.idle_since, AgentPresence.user_id).limit(1))


def route(session: Session, *, limit: int | None = None) -> list[Offer]:
    """Make as many offers as possible (at most `limit`) in one pass. The waiting call with the
    lowest sort key that some free agent fits goes to its customer's own agent if free, else to
    the longest-idle agent who fits. Rows are taken with `FOR UPDATE SKIP LOCKED` (SQLite: one
    serialised writer), so routers on other processes work past each other. On PostgreSQL each
    decision is one statement (telephony.decision); SQLite takes the steps below one by one."""
    begin_write(session)
    if decision.applies_to(session):
        return _route_in_one_statement(session, limit)
    settings = routing_settings(session)
    # One round trip to learn whether an offer or a wrap-up is due; most passes have neither.
    offers_due, wrap_ups_due = session.execute(_DUE, {"now": clock.now()}).one()
    if offers_due:
        offers.expire_due(session)
    if wrap_ups_due:
        finish_wrap_ups(session, reroute=False)
    made: list[Offer] = []
    # (skill, level) pairs no free agent can take this pass, and entries already tried.
    blocked: list[tuple[str, int]] = []
    tried: list[int] = []
    while limit is None or len(made) < limit:
        entry = _next_entry(session, blocked, tried)
        if entry is None:
            break
        agent = _pick_agent(session, entry, blocked)
        if agent is None:
            tried.append(entry.id)
            if not _is_blocked(blocked, entry):
                blocked.append((entry.skill_code, entry.min_level))
            if not session.scalar(_ANYONE_FREE):
                break  # nobody at all is free: no need to walk the rest of the queue
            continue
        made.append(offers.make(session, entry, agent, timeout=settings.offer_timeout_seconds))
    return made


def _route_in_one_statement(session: Session, limit: int | None) -> list[Offer]:
    made: list[Offer] = []
    blocked: list[tuple[str, int]] = []
    tried: list[int] = []
    check_due = True  # once a pass, as on the step-by-step path
    while limit is None or len(made) < limit:
        pick = decision.decide(session, blocked=blocked, tried=tried, check_due=check_due)
        check_due = False
        if pick.due:
            if pick.due_offers:
                offers.expire_due(session)
            if pick.due_wrap_ups:
                finish_wrap_ups(session, reroute=False)
            continue
        if pick.offer is not None:
            made.append(pick.offer)
            continue
        if pick.entry_id is None:
            break
        tried.append(pick.entry_id)
        assert pick.skill_code is not None and pick.min_level is not None
        if not any(skill == pick.skill_code and level <= pick.min_level for skill, level in blocked):
            blocked.append((pick.skill_code, pick.min_level))
        if not pick.anyone_free:
            break  # nobody at all is free: no need to walk the rest of the queue
    return made


def _is_blocked(blocked: list[tuple[str, int]], entry: QueueEntry) -> bool:
    return any(skill == entry.skill_code and level <= entry.min_level for skill, level in blocked)


def _next_entry(session: Session, blocked: list[tuple[str, int]], tried: list[int]) -> QueueEntry | None:
    query = _NEXT_ENTRY
    for skill, level in blocked:
        # An entry whose own agent is free stays in: that agent may fit when the others do not.
        query = query.where(not_(and_(QueueEntry.skill_code == skill, QueueEntry.min_level >= level,
                                      not_(_OWN_AGENT_FREE))))
    if tried:
        query = query.where(QueueEntry.id.not_in(tried))
    return session.scalars(query, {"alive_since": alive_since()}, execution_options=_FRESH).first()


def _pick_agent(session: Session, entry: QueueEntry, blocked: list[tuple[str, int]]) -> AgentPresence | None:
    if entry.preferred_agent_id is not None:
        # The customer's own agent needs the skill but not its minimum level: knowing the
        # customer outweighs proficiency.
        agent = _first_locked(session, _PICK_OWN, skill=entry.skill_code, user_id=entry.preferred_agent_id)
        if agent is not None:
            return agent
    if _is_blocked(blocked, entry):
        return None
    return _first_locked(session, _PICK_IDLEST, skill=entry.skill_code, level=entry.min_level)


def _first_locked(session: Session, query: Executable, **params: object) -> AgentPresence | None:
    row = session.execute(query, params, execution_options=_FRESH).first()
    if row is None:
        return None
    presence_service.remember_scope(session, row[0].user_id, site_id=row.site_id, team_id=row.team_id)
    return row[0]


def heard_in_queue(session: Session, *, call_id: int) -> None:
    """The caller is still in the queue (their wait URL was requested): one statement."""
    session.execute(update(QueueEntry).where(QueueEntry.call_id == call_id, QueueEntry.heard_at.is_not(None),
                                             QueueEntry.state.in_(LIVE_ENTRY_STATES))
                    .values(heard_at=clock.now()).execution_options(synchronize_session=False))


def silent_in_queue(session: Session, *, limit: int = 20) -> list[int]:
    """Calls waiting whose caller has been silent too long to be offered, first in line first;
    only while some agent is free (nobody would be offered them otherwise). Ask Twilio about
    each (with no transaction open) and record the answer (reconcile.apply_queued_answer)."""
    if not session.scalar(_ANYONE_FREE):
        return []
    return list(session.scalars(
        select(QueueEntry.call_id).where(QueueEntry.state == "waiting", QueueEntry.heard_at < alive_since())
        .order_by(QueueEntry.sort_key, QueueEntry.id).limit(limit)))


def sweep(session: Session) -> list[Offer]:
    """The periodic pass (registered in telephony.tasks): expire offers, end wrap-ups, route."""
    return route(session)


# Offers -------------------------------------------------------------------------------------

def offer_answered(session: Session, *, offer_id: int) -> Offer:
    """The agent accepted: they are on the call. A withdrawn, declined or timed-out offer is
    refused with OfferNotLive; an offer is live only while now < expires_at, swept or not."""
    return offers.answer(session, offer_id=offer_id)


def offer_declined(session: Session, *, offer_id: int) -> Offer:
    """The agent declined: the call goes back to the queue with its waiting time and is offered
    to the next agent; the decliner stays available, at the back of the idle line."""
    offer = offers.decline(session, offer_id=offer_id)
    route(session)
    return offer


def expire_offers(session: Session, *, reroute: bool = True) -> int:
    """Offers past their timeout: the agent is set away and the call re-offered (when
    `reroute`). Safe on many processes at once; returns how many expired."""
    expired = offers.expire_due(session)
    if expired and reroute:
        route(session)
    return expired


def withdraw_agent_offer(session: Session, *, user_id: int, state: str, reason: str) -> AgentPresence:
    """The agent leaves (to `state`) while a call is offered to them: the offer is withdrawn
    and the call offered to the next agent."""
    presence = offers.withdraw_for_agent(session, user_id=user_id, state=state, reason=reason)
    route(session)
    return presence


# Calls ending and agents leaving ------------------------------------------------------------

def call_ended(session: Session, *, call_id: int, user_id: int | None = None) -> AgentPresence | None:
    """The call is over: its agent goes to wrap-up until now + wrap_up_seconds (then the sweep,
    or any routing pass, makes them available). A call still queued or offered was abandoned.
    With `user_id` (an agent's leg ended), only that agent is freed, never another one on the
    call. Idempotent: repeated status callbacks change nothing."""
    begin_write(session)
    entry = lock_entry(session, QueueEntry.call_id == call_id)
    if entry is not None and entry.state in LIVE_ENTRY_STATES:
        leave_queue(session, call_id=call_id, outcome="abandoned", reason="caller hung up")
        return None
    if entry is not None and entry.ended_at is None:
        entry.ended_at = clock.now()
    agent = _end_agent_call(session, call_id, user_id=user_id)
    if agent is not None and agent.state == AVAILABLE:
        route(session)
    return agent


def _end_agent_call(session: Session, call_id: int, *, user_id: int | None = None) -> AgentPresence | None:
    agent = presence_service.lock_presence_on_call(session, call_id=call_id, user_id=user_id)
    if agent is None:
        return None
    now = clock.now()
    session.execute(update(Offer).where(Offer.call_id == call_id, Offer.user_id == agent.user_id,
                                        Offer.state == "accepted", Offer.ended_at.is_(None)).values(ended_at=now))
    wrap_up = routing_settings(session).wrap_up_seconds
    common: dict[str, Any] = {"last_call_ended_at": now, "current_call_id": None}
    if agent.away_after_call:
        move(session, agent, AWAY, by=ROUTER, reason="disconnected during the call", **common)
    elif wrap_up > 0:
        move(session, agent, WRAP_UP, by=ROUTER, reason=f"call {call_id} ended",
             wrap_up_until=now + timedelta(seconds=wrap_up), **common)
    else:
        move(session, agent, AVAILABLE, by=ROUTER, reason=f"call {call_id} ended", **common)
    return agent


def finish_wrap_ups(session: Session, *, reroute: bool = True) -> int:
    """Agents whose wrap-up is over become available (away if their browser left)."""
    begin_write(session)
    # With each agent's site and team (for the presence event), so the moves below read nothing
    # and are written together: one UPDATE batch and one INSERT of the log lines, however many.
    rows = session.execute(_WRAP_UPS_OVER, {"now": clock.now()}, execution_options=_FRESH).all()
    done = [row[0] for row in rows]
    for agent, site_id, team_id in rows:
        presence_service.remember_scope(session, agent.user_id, site_id=site_id, team_id=team_id)
    for agent in done:
        move(session, agent, AWAY if agent.away_after_call else AVAILABLE, by=ROUTER, reason="wrap-up over")
    if done and reroute:
        route(session)
    return len(done)


def agent_disconnected(session: Session, *, user_id: int) -> AgentPresence:
    """The agent's browser is gone: an offered call goes to the next agent and the agent is
    away; during a call they go away (without wrap-up) when it ends."""
    begin_write(session)
    presence = presence_service.get_presence(session, user_id=user_id)
    if presence.state == presence_service.OFFERED:
        return withdraw_agent_offer(session, user_id=user_id, state=AWAY, reason="agent disconnected")
    presence = lock_presence(session, user_id=user_id)
    if presence.state == ON_CALL:
        presence.away_after_call = True
    elif presence.state in (AVAILABLE, WRAP_UP):
        move(session, presence, AWAY, by=ROUTER, reason="agent disconnected")
    return presence


# The router's side of an agent's own presence change. The composition root connects it too
# (hotline.hooks); connecting here as well covers any process that loaded the router.
presence_service.connect_router(withdraw_offer=withdraw_agent_offer, route=route)

__all__ = [
    "LEAVE_OUTCOMES", "OfferNotFound", "OfferNotLive", "QueueEntryNotFound", "abandon", "agent_disconnected",
    "alive_since", "call_ended", "enqueue", "expire_offers", "finish_wrap_ups", "heard_in_queue", "leave_queue",
    "offer_answered", "offer_declined", "on_offer", "queue_position", "queue_snapshot", "requeue", "return_to_queue",
    "route", "silent_in_queue", "sweep", "withdraw_agent_offer",
]
