"""Several routers at once: OS processes on PostgreSQL (row locks, SKIP LOCKED) and threads on
either database (SQLite's serialised writer). Nobody is offered two calls, no call two agents."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import config, db
from core.clock import FrozenClock
from telephony import priority, routing
from telephony.models.routing import AgentPresence, Offer, PresenceLog, QueueEntry
from telephony.presence import AGENT, ROUTER, TRANSITIONS
from tests.conftest import pg_only
from tests.telephony import routing_factories as make

MAX_ROUNDS = 2000


def _work() -> Counter[str]:
    """One router's loop: route, answer whatever is pending (racing the others for the same
    offers), end calls (which frees agents and routes again), until every call is connected."""
    counts: Counter[str] = Counter()
    for _ in range(MAX_ROUNDS):
        with db.new_session() as s:
            counts["offers"] += len(routing.route(s, limit=3))
            s.commit()
        with db.new_session() as s:
            pending = s.scalars(select(Offer.id).where(Offer.state == "pending").order_by(Offer.id).limit(4)).all()
        for offer_id in pending:
            with db.new_session() as s:
                try:
                    routing.offer_answered(s, offer_id=offer_id)
                    s.commit()
                    counts["answered"] += 1
                except routing.OfferNotLive:
                    s.rollback()
        with db.new_session() as s:
            calls = s.scalars(select(AgentPresence.current_call_id).where(AgentPresence.state == "on_call")
                              .order_by(AgentPresence.user_id).limit(4)).all()
        for call_id in calls:
            with db.new_session() as s:
                routing.call_ended(s, call_id=call_id)
                s.commit()
        with db.new_session() as s:
            open_entries = s.scalar(select(func.count()).select_from(QueueEntry)
                                    .where(QueueEntry.state.in_(("waiting", "offered"))))
            on_call = s.scalar(select(func.count()).select_from(AgentPresence).where(AgentPresence.state == "on_call"))
        if not open_entries and not on_call:
            return counts
    raise AssertionError("the routers did not connect every call")


def _router_process(settings: config.Settings, start: datetime) -> dict[str, int]:
    """A spawned process: its own frozen clock, settings and engine on the test's database."""
    from core import clock as clock_module
    from hotline.models import load_all

    load_all()
    clock_module.install(FrozenClock(start))
    config.configure(settings.model_copy(update={"broker_url": None}))  # an in-process event bus
    db.configure_engine(db.make_engine(settings.effective_database_url, pool_size=2, max_overflow=0))
    try:
        return dict(_work())
    finally:
        db.get_engine().dispose()


def _seed(session: Session, *, calls: int, agents: int, now: datetime) -> None:
    # Agents straight from their wrap-up, so the next call follows at once; three skills, levels
    # 1-5, so the routers take different entries and agents.
    priority.set_routing_setting(session, name="wrap_up_seconds", value=0)
    skills = ("inquiry", "complaint", "membership")
    for i in range(agents):
        user = make.agent(session, f"agent{i:03}", {code: 1 + (i + n) % 5 for n, code in enumerate(skills)})
        session.add(AgentPresence(user_id=user.id, state="available", since=now, idle_since=now))
    for i in range(calls):
        make.call(session, skill_code=skills[i % 3], category="complaint" if i % 7 == 0 else "inquiry",
                  tier=("normal", "gold", "diamond")[i % 3], min_level=1 + i % 2, route_now=False)
    session.commit()


def _check(session: Session, *, calls: int) -> None:
    entries = session.scalars(select(QueueEntry)).all()
    assert len(entries) == calls and {e.state for e in entries} == {"connected"}
    offers = session.scalars(select(Offer)).all()
    # No call was ever offered twice: exactly one offer per call, and it was accepted.
    assert Counter(o.call_id for o in offers) == Counter({e.call_id: 1 for e in entries})
    assert {o.state for o in offers} == {"accepted"}
    # No agent was offered two calls at once: each agent's log is one unbroken, allowed chain.
    logs: dict[int, list[PresenceLog]] = {}
    for row in session.scalars(select(PresenceLog).order_by(PresenceLog.id)):
        logs.setdefault(row.user_id, []).append(row)
    for chain in logs.values():
        state = "available"
        for row in chain:
            assert row.from_state == state, f"agent {row.user_id}: {row.from_state} after {state}"
            assert TRANSITIONS[(row.from_state, row.to_state)] & {AGENT, ROUTER}
            state = row.to_state
    offered = sum(1 for chain in logs.values() for row in chain if row.to_state == "offered")
    assert offered == calls


@pg_only()
def test_route_in_several_processes_at_once(session: Session, settings: config.Settings, clock: FrozenClock) -> None:
    _seed(session, calls=200, agents=50, now=clock.now())
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.starmap(_router_process, [(settings, clock.now())] * 4)
    assert sum(r.get("offers", 0) for r in results) > 0
    assert sum(1 for r in results if r.get("answered")) >= 2  # the work really was shared
    _check(session, calls=200)


def test_route_in_several_threads_at_once(session: Session, clock: FrozenClock) -> None:
    _seed(session, calls=60, agents=15, now=clock.now())
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert not errors, errors
    _check(session, calls=60)
