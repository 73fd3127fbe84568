"""Agent presence: the states and who may move between them (as data), the change log that
scheduling reads for adherence, and the `presence.changed` events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import clock, directory
from core import users as users_service
from core.db import begin_write
from core.errors import NOT_ALLOWED_VALUE, Conflict, Term
from core.events import publish
from telephony.models.routing import AgentPresence, PresenceLog

OFFLINE, AVAILABLE, OFFERED, ON_CALL, WRAP_UP, BREAK, AWAY = (
    "offline", "available", "offered", "on_call", "wrap_up", "break", "away")
STATES = (OFFLINE, AVAILABLE, OFFERED, ON_CALL, WRAP_UP, BREAK, AWAY)
AGENT, ROUTER = "agent", "router"
_A, _R, _AR = frozenset({AGENT}), frozenset({ROUTER}), frozenset({AGENT, ROUTER})

# (from, to) -> who may make that change. The agent sets available / break / away / offline;
# offered, on_call and wrap_up belong to the router. Leaving `offered` by the agent withdraws
# the offer (the call goes to the next agent); a call must end, and wrap-up begin, first.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (OFFLINE, AVAILABLE): _A, (OFFLINE, BREAK): _A, (OFFLINE, AWAY): _A,
    (AVAILABLE, OFFERED): _R, (AVAILABLE, BREAK): _A, (AVAILABLE, AWAY): _AR, (AVAILABLE, OFFLINE): _A,
    (OFFERED, ON_CALL): _R, (OFFERED, AVAILABLE): _R, (OFFERED, AWAY): _AR, (OFFERED, BREAK): _A,
    (OFFERED, OFFLINE): _A,
    (ON_CALL, WRAP_UP): _R, (ON_CALL, AWAY): _R, (ON_CALL, AVAILABLE): _R,
    (WRAP_UP, AVAILABLE): _AR, (WRAP_UP, BREAK): _A, (WRAP_UP, AWAY): _AR, (WRAP_UP, OFFLINE): _A,
    (BREAK, AVAILABLE): _A, (BREAK, AWAY): _A, (BREAK, OFFLINE): _A,
    (AWAY, AVAILABLE): _A, (AWAY, BREAK): _A, (AWAY, OFFLINE): _A,
}
AGENT_STATES = frozenset({AVAILABLE, BREAK, AWAY, OFFLINE})

# Checks run before an agent makes themselves available; each returns None or a reason to
# refuse, such as unread notices (scheduling registers into this list).
# A check's reason is a message template (a msgid), or one with its values.
BeforeAvailableReason = str | tuple[str, dict[str, object]]
BeforeAvailableCheck = Callable[[Session, int], "BeforeAvailableReason | None"]
before_available: list[BeforeAvailableCheck] = []

# The router's side of an agent's own change (telephony.routing sits above this module):
# leaving `offered` withdraws the offer and offers the call to the next agent; going available
# routes at once. Connected by the composition root (hotline.hooks) in every process.
_router: dict[str, Callable[..., Any]] = {}


def connect_router(*, withdraw_offer: Callable[..., AgentPresence], route: Callable[[Session], object]) -> None:
    """Called once per process by hotline.hooks.wire()."""
    _router.update(withdraw_offer=withdraw_offer, route=route)


def _routing(name: str) -> Callable[..., Any]:
    if name not in _router:
        raise RuntimeError("telephony.presence is not connected to the router: call hotline.hooks.wire() at start")
    return _router[name]

_SCOPE_KEY = "telephony.user_scope"
# Each state in words (msgids), as a message's value: "You cannot go from on a break to ...".
_LABELS = {OFFLINE: Term("offline"), AVAILABLE: Term("available"), OFFERED: Term("being offered a call"),
           ON_CALL: Term("on a call"), WRAP_UP: Term("in wrap-up"), BREAK: Term("on a break"), AWAY: Term("away")}


class PresenceRefused(Conflict):
    """That presence change is not allowed now."""

    code = "presence_refused"


class InvalidPresenceTransition(PresenceRefused):
    """The agent cannot go from their current state to the one asked for."""

    default_msgid = "You cannot change to that presence now."

    code = "invalid_presence_transition"

    def __init__(self, current: str, target: str, *, by: str = AGENT) -> None:
        self.current, self.target = current, target
        self.allowed = allowed_targets(current, by=by)
        params: dict[str, object] = {"from": current, "to": target, "allowed": self.allowed}
        if target not in STATES:
            message = NOT_ALLOWED_VALUE
            params["known"] = sorted(AGENT_STATES)
        elif by == AGENT and target not in AGENT_STATES:
            message = "That state is set by the router when calls arrive, not by hand."
        elif current == ON_CALL:
            message = "You are on a call: change your presence once it ends."
        else:
            message = "You cannot go from %(current)s to %(target)s now."
            params.update(current=_LABELS[current], target=_LABELS[target])
        super().__init__(message, field="state", params=params)


class NotReadyForCalls(PresenceRefused):
    """Something must be done before taking calls."""

    code = "not_ready_for_calls"

    def __init__(self, reasons: list[BeforeAvailableReason]) -> None:
        self.reasons = reasons
        first, params = (reasons[0], {}) if isinstance(reasons[0], str) else reasons[0]
        super().__init__(first, field="state", params=params)


def allowed_targets(current: str, *, by: str = AGENT) -> list[str]:
    return [to for (frm, to), who in TRANSITIONS.items() if frm == current and by in who]


# Reading -------------------------------------------------------------------------------------

def get_presence(session: Session, *, user_id: int) -> AgentPresence:
    """The agent's presence row, created offline on first use."""
    presence = session.get(AgentPresence, user_id)
    if presence is not None:
        return presence
    users_service.get(session, user_id=user_id)  # a clear NotFound rather than a foreign-key error
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # An upsert, so two first uses racing on two processes both succeed.
    session.execute(insert(AgentPresence).values(user_id=user_id, state=OFFLINE, since=clock.now())
                    .on_conflict_do_nothing(index_elements=[AgentPresence.user_id]))
    return session.get_one(AgentPresence, user_id)


def lock_presence(session: Session, *, user_id: int) -> AgentPresence:
    """The presence row under a row lock (a no-op inside SQLite's serialised writer), made on
    first use (get_presence): read once when it exists, as it nearly always does, with the
    agent's site and team (core.directory), which the change it is locked for publishes to."""
    presence = _lock_with_place(session, _LOCK_BY_USER, {"user_id": user_id})
    if presence is None:
        get_presence(session, user_id=user_id)
        presence = _lock_with_place(session, _LOCK_BY_USER, {"user_id": user_id})
        assert presence is not None
    return presence


def lock_presence_on_call(session: Session, *, call_id: int, user_id: int | None = None) -> AgentPresence | None:
    """The presence of the agent on this call (of `user_id` only, when given), under its row
    lock, read as lock_presence reads it; None if no agent is on it."""
    if user_id is None:
        return _lock_with_place(session, _LOCK_ON_CALL, {"call_id": call_id})
    return _lock_with_place(session, _LOCK_USER_ON_CALL, {"call_id": call_id, "user_id": user_id})


def _with_place(*conditions: Any) -> Any:
    """A presence row meeting `conditions`, under its row lock, read with its agent's site and
    team (core.directory), which `move` publishes the change to: one statement, built once per
    shape (a statement built once is compiled and keyed once)."""
    places = directory.user_places().subquery("place")
    return (select(AgentPresence, places.c.site_id, places.c.team_id)
            .join(places, places.c.user_id == AgentPresence.user_id)
            .where(*conditions).limit(1)
            .with_for_update(of=AgentPresence)
            .execution_options(populate_existing=True))


_LOCK_BY_USER = _with_place(AgentPresence.user_id == bindparam("user_id"))
_LOCK_ON_CALL = _with_place(AgentPresence.current_call_id == bindparam("call_id"), AgentPresence.state == ON_CALL)
_LOCK_USER_ON_CALL = _with_place(AgentPresence.current_call_id == bindparam("call_id"), AgentPresence.state == ON_CALL,
                                 AgentPresence.user_id == bindparam("user_id"))


def _lock_with_place(session: Session, statement: Any, values: dict[str, Any]) -> AgentPresence | None:
    found = session.execute(statement, values).first()
    if found is None:
        return None
    presence: AgentPresence = found[0]
    remember_scope(session, presence.user_id, site_id=found.site_id, team_id=found.team_id)
    return presence


def presence_log(session: Session, *, user_id: int, start: datetime, end: datetime) -> list[PresenceLog]:
    """Changes with start <= at < end, oldest first, preceded by the last change before `start`
    (if any) so the state in force at `start` is known."""
    order = (PresenceLog.at, PresenceLog.id)
    prior = session.scalars(select(PresenceLog).where(PresenceLog.user_id == user_id, PresenceLog.at < start)
                            .order_by(*(c.desc() for c in order)).limit(1)).first()
    rows = list(session.scalars(select(PresenceLog).where(
        PresenceLog.user_id == user_id, PresenceLog.at >= start, PresenceLog.at < end).order_by(*order)))
    return ([prior] if prior is not None else []) + rows


# Changing ------------------------------------------------------------------------------------

def set_presence(session: Session, *, user_id: int, state: str, reason: str | None = None) -> AgentPresence:
    """The agent changes their own presence. Going available runs the `before_available`
    checks and then routes, so a waiting call is offered at once."""
    begin_write(session)
    presence = get_presence(session, user_id=user_id)
    if state not in AGENT_STATES:
        raise InvalidPresenceTransition(presence.state, state)
    if presence.state == OFFERED:
        # Locks the offer's queue entry before the presence row, the order every writer uses.
        return _routing("withdraw_offer")(session, user_id=user_id, state=state, reason=reason or "agent left")
    presence = lock_presence(session, user_id=user_id)
    if presence.state == OFFERED:
        raise PresenceRefused("A call was just offered to you: answer or decline it, then change your presence.")
    if presence.state == state:
        return presence
    if AGENT not in TRANSITIONS.get((presence.state, state), frozenset()):
        raise InvalidPresenceTransition(presence.state, state)
    if state == AVAILABLE:
        reasons = [r for check in before_available if (r := check(session, user_id))]
        if reasons:
            raise NotReadyForCalls(reasons)
    move(session, presence, state, by=AGENT, reason=reason)
    if state == AVAILABLE:
        _routing("route")(session)
    return presence


def move(session: Session, presence: AgentPresence, state: str, *, by: str, reason: str | None = None,
         back_of_line: bool = False, **fields: Any) -> None:
    """Change a locked presence row, log it and publish it. `back_of_line` makes an agent who
    returns to available from an offer the least idle (a decline); otherwise a withdrawn offer
    gives the agent their place back."""
    previous = presence.state
    if by not in TRANSITIONS.get((previous, state), frozenset()):
        raise InvalidPresenceTransition(previous, state, by=by)
    now = clock.now()
    for name, value in fields.items():
        setattr(presence, name, value)
    if state == AVAILABLE:
        if previous in (WRAP_UP, ON_CALL):
            # Wrap-up counts as idle time, so agents are ranked by when their last call ended.
            presence.idle_since = presence.last_call_ended_at or now
        elif previous != OFFERED or back_of_line or presence.idle_since is None:
            presence.idle_since = now
    elif state != OFFERED:
        presence.idle_since = None
    if state != WRAP_UP:
        presence.wrap_up_until = None
    if state != OFFERED:
        presence.current_offer_id = None
    if previous == ON_CALL:
        presence.away_after_call = False
    presence.state = state
    presence.since = now
    session.add(PresenceLog(user_id=presence.user_id, from_state=previous, to_state=state, at=now, reason=reason))
    site_id, team_id = _scope(session, presence.user_id)
    announce_move(session, presence.user_id, previous=previous, state=state, at=now, reason=reason,
                  site_id=site_id, team_id=team_id)


def announce_move(session: Session, user_id: int, *, previous: str, state: str, at: datetime, reason: str | None,
                  site_id: int | None, team_id: int | None) -> None:
    """Publish a change already written (by `move`, or by the router's one-statement decision
    in telephony.decision, which writes the row and its log line itself)."""
    publish(session, "presence.changed",
            {"user_id": user_id, "from": previous, "to": state, "since": at.isoformat(), "reason": reason},
            user_id=user_id, site_id=site_id, team_id=team_id)


def remember_scope(session: Session, user_id: int, *, site_id: int | None, team_id: int | None) -> None:
    """Prime `_scope` with values a caller already read (the router's agent pick)."""
    session.info.setdefault(_SCOPE_KEY, {})[user_id] = (site_id, team_id)


def _scope(session: Session, user_id: int) -> tuple[int | None, int | None]:
    # Site and team let the websocket layer show the change to the right supervisors; cached
    # per session because the router publishes for many agents in one pass.
    cache: dict[int, tuple[int | None, int | None]] = session.info.setdefault(_SCOPE_KEY, {})
    if user_id not in cache:
        place = directory.place_of(session, user_id=user_id)
        cache[user_id] = (place.site_id, place.team_id)
    return cache[user_id]


__all__ = [
    "AGENT", "AGENT_STATES", "ROUTER", "STATES", "TRANSITIONS", "InvalidPresenceTransition", "NotReadyForCalls",
    "PresenceRefused", "allowed_targets", "announce_move", "before_available", "connect_router",
    "get_presence", "lock_presence", "lock_presence_on_call",
    "move", "presence_log", "remember_scope", "set_presence",
]
