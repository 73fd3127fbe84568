"""The router: priority with aging, skills and levels, own agent first, longest idle, offer
timeouts, hang-ups, declines, wrap-up, transfers, position and the wallboard snapshot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from telephony import offers, priority, routing
from telephony.models.routing import AgentPresence, Offer, QueueEntry
from telephony.presence import get_presence, set_presence
from tests.telephony import routing_factories as make


def offered_call(session: Session, user_id: int) -> int | None:
    row = get_presence(session, user_id=user_id)
    return session.get_one(Offer, row.current_offer_id).call_id if row.current_offer_id else None


def pending(session: Session) -> list[Offer]:
    return list(session.scalars(select(Offer).where(Offer.state == "pending").order_by(Offer.id)))


def test_priority_complaint_and_tier_give_a_head_start() -> None:
    assert priority.base_priority(category="inquiry", tier="normal") == 0
    assert priority.base_priority(category="complaint", tier="normal") == 30
    assert priority.base_priority(category="inquiry", tier="diamond") > priority.base_priority(
        category="inquiry", tier="gold") > priority.base_priority(category="inquiry", tier="silver") > 0


def test_route_complaint_before_newer_and_older_inquiry(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    old_inquiry = make.call(session)
    clock.advance(seconds=60)
    complaint = make.call(session, category="complaint")
    set_presence(session, user_id=ann.id, state="available")
    assert offered_call(session, ann.id) == complaint.call_id
    assert old_inquiry.state == "waiting"


def test_route_aging_lets_an_old_normal_call_beat_a_new_complaint(session: Session, clock: FrozenClock) -> None:
    # 30 complaint points at 6 s a point: a normal call waiting over 3 minutes ranks first.
    ann = make.agent(session, "ann")
    old_inquiry = make.call(session)
    clock.advance(seconds=181)
    make.call(session, category="complaint")
    set_presence(session, user_id=ann.id, state="available")
    assert offered_call(session, ann.id) == old_inquiry.call_id


def test_route_higher_tier_first(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    make.call(session, tier="normal")
    clock.advance(seconds=10)
    diamond = make.call(session, tier="diamond")
    set_presence(session, user_id=ann.id, state="available")
    assert offered_call(session, ann.id) == diamond.call_id


def test_route_skill_and_minimum_level(session: Session, clock: FrozenClock) -> None:
    novice = make.agent(session, "novice", {"complaint": 2, "inquiry": 1})
    set_presence(session, user_id=novice.id, state="available")
    clock.advance(seconds=5)
    expert = make.agent(session, "expert", {"complaint": 4})
    set_presence(session, user_id=expert.id, state="available")
    mandarin = make.call(session, skill_code="mandarin")  # nobody speaks it: it waits
    hard = make.call(session, skill_code="complaint", category="complaint", min_level=3)
    easy = make.call(session, skill_code="inquiry")
    session.commit()

    assert offered_call(session, expert.id) == hard.call_id  # the novice is idler but below level 3
    assert offered_call(session, novice.id) == easy.call_id
    assert mandarin.state == "waiting"


def test_route_top_tier_customers_own_agent_first(session: Session, clock: FrozenClock) -> None:
    idle_longest = make.agent(session, "ann")
    own = make.agent(session, "own", {"inquiry": 1})
    set_presence(session, user_id=idle_longest.id, state="available")
    clock.advance(seconds=30)
    set_presence(session, user_id=own.id, state="available")

    diamond = make.call(session, tier="diamond", preferred_agent_id=own.id, min_level=3)
    assert offered_call(session, own.id) == diamond.call_id  # own agent, despite level 1 < 3
    gold = make.call(session, tier="gold", preferred_agent_id=own.id)
    assert gold.preferred_agent_id is None  # only platinum and diamond have an own agent
    assert offered_call(session, idle_longest.id) == gold.call_id


def test_route_own_agent_busy_goes_to_longest_idle(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    own = make.agent(session, "own")
    set_presence(session, user_id=ann.id, state="available")
    set_presence(session, user_id=own.id, state="break")
    platinum = make.call(session, tier="platinum", preferred_agent_id=own.id)
    assert offered_call(session, ann.id) == platinum.call_id


def test_route_longest_idle_agent_chosen(session: Session, clock: FrozenClock) -> None:
    agents = [make.agent(session, name) for name in ("ann", "bob", "cat")]
    for user, wait in zip(agents, (20, 0, 10), strict=True):
        set_presence(session, user_id=user.id, state="available")
        clock.advance(seconds=wait)
    ann, bob, cat = agents
    first = make.call(session)
    assert offered_call(session, ann.id) == first.call_id
    second = make.call(session)
    assert offered_call(session, bob.id) == second.call_id  # available 20 s before cat
    assert get_presence(session, user_id=cat.id).state == "available"


def test_route_idle_since_last_call_ended_after_wrap_up(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    bob = make.agent(session, "bob")
    set_presence(session, user_id=ann.id, state="available")
    entry = make.call(session)
    routing.offer_answered(session, offer_id=get_presence(session, user_id=ann.id).current_offer_id)
    clock.advance(seconds=60)
    routing.call_ended(session, call_id=entry.call_id)
    ended = clock.now()
    clock.advance(seconds=10)
    set_presence(session, user_id=bob.id, state="available")  # bob's idle time starts now
    clock.advance(seconds=25)
    routing.finish_wrap_ups(session)
    row = get_presence(session, user_id=ann.id)
    assert (row.state, row.idle_since) == ("available", ended)
    nxt = make.call(session)
    assert offered_call(session, ann.id) == nxt.call_id


def test_route_offer_timeout_sets_agent_away_and_reoffers(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    bob = make.agent(session, "bob")
    set_presence(session, user_id=ann.id, state="available")
    clock.advance(seconds=1)
    set_presence(session, user_id=bob.id, state="available")
    entry = make.call(session)
    session.commit()
    missed = get_presence(session, user_id=ann.id).current_offer_id

    clock.advance(seconds=15)  # the default offer timeout
    # Nothing swept yet, and still the offer is dead.
    with pytest.raises(routing.OfferNotLive, match="not answered in time"):
        routing.offer_answered(session, offer_id=missed)
    session.rollback()
    offers = routing.route(session)
    session.commit()

    assert session.get_one(Offer, missed).state == "expired"
    assert get_presence(session, user_id=ann.id).state == "away"
    assert [(o.user_id, o.call_id) for o in offers] == [(bob.id, entry.call_id)]
    assert entry.attempts == 2


def test_expire_offers_sweep_reroutes(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    make.call(session)
    clock.advance(seconds=14)
    assert routing.expire_offers(session) == 0
    clock.advance(seconds=1)
    assert routing.expire_offers(session) == 1
    assert pending(session) == []  # the only agent is away now


def test_abandon_while_queued(session: Session) -> None:
    entry = make.call(session)
    routing.abandon(session, call_id=entry.call_id, reason="caller hung up")
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    session.commit()
    assert (entry.state, entry.end_reason) == ("abandoned", "caller hung up")
    assert pending(session) == []
    assert routing.abandon(session, call_id=entry.call_id, reason="again").state == "abandoned"
    assert routing.abandon(session, call_id=99999, reason="never queued") is None


def test_abandon_while_offered_frees_the_agent_in_place(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    idle_since = get_presence(session, user_id=ann.id).idle_since
    clock.advance(seconds=3)
    entry = make.call(session)
    offer_id = get_presence(session, user_id=ann.id).current_offer_id
    routing.call_ended(session, call_id=entry.call_id)  # Twilio's status callback: the caller hung up
    session.commit()

    assert entry.state == "abandoned"
    assert session.get_one(Offer, offer_id).state == "withdrawn"
    row = get_presence(session, user_id=ann.id)
    assert (row.state, row.idle_since, row.current_offer_id) == ("available", idle_since, None)
    with pytest.raises(routing.OfferNotLive, match="withdrawn"):
        routing.offer_answered(session, offer_id=offer_id)


def test_leave_queue_for_voicemail(session: Session) -> None:
    entry = make.call(session)
    routing.leave_queue(session, call_id=entry.call_id, outcome="voicemail", reason="wait limit")
    assert entry.state == "voicemail"


def test_offer_declined_goes_to_next_agent(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    bob = make.agent(session, "bob")
    set_presence(session, user_id=ann.id, state="available")
    clock.advance(seconds=1)
    set_presence(session, user_id=bob.id, state="available")
    entry = make.call(session)
    offer_id = get_presence(session, user_id=ann.id).current_offer_id
    clock.advance(seconds=2)

    declined = routing.offer_declined(session, offer_id=offer_id)
    session.commit()

    assert declined.state == "declined"
    assert offered_call(session, bob.id) == entry.call_id
    row = get_presence(session, user_id=ann.id)
    assert (row.state, row.idle_since) == ("available", clock.now())  # back of the idle line
    with pytest.raises(routing.OfferNotLive, match="declined"):
        routing.offer_answered(session, offer_id=offer_id)


def test_offer_answered_then_wrap_up_then_available(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    entry = make.call(session)
    offer = routing.offer_answered(session, offer_id=get_presence(session, user_id=ann.id).current_offer_id)
    assert routing.offer_answered(session, offer_id=offer.id) is offer  # a double click
    row = get_presence(session, user_id=ann.id)
    assert (row.state, row.current_call_id, entry.state) == ("on_call", entry.call_id, "connected")

    clock.advance(minutes=3)
    routing.call_ended(session, call_id=entry.call_id)
    routing.call_ended(session, call_id=entry.call_id)  # a repeated status callback
    assert (row.state, row.wrap_up_until) == ("wrap_up", clock.now() + timedelta(seconds=30))
    waiting = make.call(session)
    clock.advance(seconds=29)
    routing.route(session)
    assert row.state == "wrap_up" and waiting.state == "waiting"
    clock.advance(seconds=1)
    routing.route(session)  # any pass ends a due wrap-up, then offers
    assert offered_call(session, ann.id) == waiting.call_id


def test_requeue_keeps_original_waiting_time(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann", {"inquiry": 3})
    bob = make.agent(session, "bob", {"membership": 3})
    set_presence(session, user_id=ann.id, state="available")
    entry = make.call(session)
    first_waited = entry.enqueued_at
    routing.offer_answered(session, offer_id=get_presence(session, user_id=ann.id).current_offer_id)
    clock.advance(minutes=2)
    set_presence(session, user_id=bob.id, state="available")

    routing.requeue(session, call_id=entry.call_id, skill_code="membership")
    session.commit()

    assert entry.enqueued_at == first_waited
    assert get_presence(session, user_id=ann.id).state == "wrap_up"
    assert offered_call(session, bob.id) == entry.call_id


def test_agent_disconnected_mid_call_goes_away_after_call(session: Session) -> None:
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    entry = make.call(session)
    routing.offer_answered(session, offer_id=get_presence(session, user_id=ann.id).current_offer_id)
    routing.agent_disconnected(session, user_id=ann.id)
    assert get_presence(session, user_id=ann.id).state == "on_call"
    routing.call_ended(session, call_id=entry.call_id)
    row = get_presence(session, user_id=ann.id)
    assert (row.state, row.away_after_call) == ("away", False)


def test_agent_disconnected_while_offered_reoffers(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    bob = make.agent(session, "bob")
    set_presence(session, user_id=ann.id, state="available")
    clock.advance(seconds=1)
    set_presence(session, user_id=bob.id, state="available")
    entry = make.call(session)
    routing.agent_disconnected(session, user_id=ann.id)
    assert get_presence(session, user_id=ann.id).state == "away"
    assert offered_call(session, bob.id) == entry.call_id


def test_queue_position_and_estimated_wait(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    first = make.call(session)
    second, third = make.call(session), make.call(session, category="complaint")
    assert routing.queue_position(session, call_id=first.call_id) == (0, 0)  # offered
    # Default handle time 180 s + 30 s wrap-up, one agent staffed.
    assert routing.queue_position(session, call_id=third.call_id) == (1, 210)
    assert routing.queue_position(session, call_id=second.call_id) == (2, 420)
    routing.offer_answered(session, offer_id=get_presence(session, user_id=ann.id).current_offer_id)
    clock.advance(seconds=90)
    routing.call_ended(session, call_id=first.call_id)
    assert routing.queue_position(session, call_id=second.call_id) == (2, 240)  # 90 s handle + 30 s


def test_queue_snapshot(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    bob = make.agent(session, "bob", {"complaint": 3})
    set_presence(session, user_id=ann.id, state="available")
    set_presence(session, user_id=bob.id, state="break")
    make.call(session)
    clock.advance(seconds=10)
    make.call(session)
    make.call(session, skill_code="complaint", category="complaint")
    clock.advance(seconds=1)
    session.commit()

    snap = routing.queue_snapshot(session)
    assert [(q.skill_code, q.waiting, q.offered, q.longest_wait_seconds) for q in snap.queues] == [
        ("complaint", 1, 0, 1), ("inquiry", 1, 1, 11)]
    assert snap.agent_counts == {"break": 1, "offered": 1}
    assert snap.agents_by_state["offered"][0].seconds_in_state == 11
    assert [(o.user_id, o.seconds_left) for o in snap.expiring_offers] == [(ann.id, 4)]
    assert snap.as_dict()["queues"][0]["skill_code"] == "complaint"


def test_route_publishes_offer_and_calls_hooks_once_committed(session: Session,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import core.events

    events: list[core.events.Event] = []
    monkeypatch.setattr(core.events, "get_bus", lambda: type("Bus", (), {"publish": lambda self, e: events.append(e)})())
    hooked: list[int] = []
    monkeypatch.setattr(offers, "on_offer", [lambda s, offer: hooked.append(offer.id)])
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    make.call(session)
    assert events == [] and len(hooked) == 1
    session.commit()
    offered = [e for e in events if e.topic == "call.offered"]
    assert [(e.payload["offer_id"], e.user_id) for e in offered] == [(hooked[0], ann.id)]


def test_set_routing_setting_resorts_and_times_out(session: Session, clock: FrozenClock) -> None:
    entry = make.call(session, category="complaint")
    priority.set_routing_setting(session, name="aging_seconds_per_point", value=60)
    assert entry.sort_key == entry.enqueued_at - timedelta(seconds=30 * 60)
    priority.set_routing_setting(session, name="offer_timeout_seconds", value=40)
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    assert pending(session)[0].expires_at == clock.now() + timedelta(seconds=40)


def test_route_limit_and_no_double_offers(session: Session) -> None:
    agents = [make.agent(session, f"agent{i}") for i in range(3)]
    entries = [make.call(session, route_now=False) for _ in range(5)]
    for user in agents:
        get_presence(session, user_id=user.id).state = "available"
        get_presence(session, user_id=user.id).idle_since = get_presence(session, user_id=user.id).since
    session.flush()
    assert len(routing.route(session, limit=2)) == 2
    assert len(routing.route(session)) == 1
    assert routing.route(session) == []
    offers = pending(session)
    assert len({o.user_id for o in offers}) == len({o.call_id for o in offers}) == 3
    assert [e.state for e in entries] == ["offered"] * 3 + ["waiting"] * 2
    assert session.scalar(select(AgentPresence.state).where(AgentPresence.state == "available")) is None
    assert session.get(QueueEntry, entries[0].id) is entries[0]


def test_call_ended_without_wrap_up_routes_at_once(session: Session, clock: FrozenClock) -> None:
    priority.set_routing_setting(session, name="wrap_up_seconds", value=0)
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    first = make.call(session)
    routing.offer_answered(session, offer_id=get_presence(session, user_id=ann.id).current_offer_id)
    second = make.call(session)
    clock.advance(minutes=2)
    routing.call_ended(session, call_id=first.call_id)
    row = get_presence(session, user_id=ann.id)
    assert (row.state, row.idle_since, row.last_call_ended_at) == ("offered", clock.now(), clock.now())
    assert offered_call(session, ann.id) == second.call_id


def test_route_skips_blocked_skills_but_not_a_free_own_agent(session: Session, clock: FrozenClock) -> None:
    own = make.agent(session, "own", {"mandarin": 1})
    busy_own = make.agent(session, "busy", {"mandarin": 5})
    set_presence(session, user_id=own.id, state="available")
    blocked = [make.call(session, skill_code="mandarin", min_level=3, route_now=False) for _ in range(3)]
    stuck = make.call(session, skill_code="mandarin", min_level=3, tier="diamond", preferred_agent_id=busy_own.id,
                      route_now=False)
    mine = make.call(session, skill_code="mandarin", min_level=3, tier="diamond", preferred_agent_id=own.id,
                     route_now=False)
    statements: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        made = routing.route(session)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert [o.call_id for o in made] == [mine.call_id]
    assert [e.state for e in (*blocked, stuck)] == ["waiting"] * 4
    picks = [s for s in statements if "FROM queue_entries" in s and "ORDER BY" in s]
    # The diamond call whose own agent is busy (blocks mandarin 3+), the call whose own agent is
    # free, then nothing: the other four are skipped inside one query.
    assert len(picks) == 3


def test_wrap_ups_ending_together_are_written_in_a_few_statements(session: Session, clock: FrozenClock,
                                                                 db_dialect: str, engine: Engine) -> None:
    """The routing sweep ends every due wrap-up in one pass: the agents (with their site and
    team, for the presence event) in one locking read, their rows written in one batch and, on
    PostgreSQL, their log lines in one INSERT (SQLite inserts them one by one). Before, each agent
    cost three statements (a read of their place made the session flush each agent's row and log
    line apart): 124 in a sweep of the load run."""
    from core.db import new_session
    from telephony.models.routing import PresenceLog

    agents = [make.agent(session, f"agent{n}") for n in range(6)]
    for user in agents:
        set_presence(session, user_id=user.id, state="available")
        entry = make.call(session)
        routing.offer_answered(session, offer_id=get_presence(session, user_id=user.id).current_offer_id)
        routing.call_ended(session, call_id=entry.call_id)
    session.commit()
    clock.advance(seconds=31)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    sweep = new_session()  # as the sweep's: it knows nothing of these agents yet
    try:
        assert routing.finish_wrap_ups(sweep, reroute=False) == 6
        sweep.commit()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
        sweep.close()
    statements = [s for s in statements if s.split()[0].upper() not in ("BEGIN", "COMMIT")]
    session.expire_all()
    assert not [s for s in statements if s.startswith("SELECT users.")], "each agent's place was read apart"
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE")]) == 1, statements
    if db_dialect == "postgresql":
        assert len(statements) == 3, statements
    assert {get_presence(session, user_id=user.id).state for user in agents} == {"available"}
    ended = session.scalars(select(PresenceLog.user_id).where(PresenceLog.from_state == "wrap_up"))
    assert sorted(ended) == sorted(user.id for user in agents)
