"""The REST calls that ring an agent, move a caller in and hang up a leg (issue 15: no network
call inside a write transaction): Twilio is asked with no transaction open, each effect happens
once however often its task is delivered and whatever the repair sweep does beside it, a claim
left by a worker that died lapses and the sweep repairs it, and a leg rung for an offer withdrawn
while Twilio was being asked is hung up at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from core.db import session_scope, writer_gate
from telephony import carrier_effects, presence, priority
from telephony.models import Call, Offer, QueueEntry
from telephony.models.routing import AgentPresence
from telephony.reconcile import GRACE
from telephony.simulator import rest
from telephony.tasks import repair_sweep, ring_agent_task
from tests.factories import fresh
from tests.telephony.faults import LostTasks, lost_tasks  # noqa: F401 (fixture)
from tests.telephony.hub import Hub, available, queued_call


def transaction_open(engine: Engine) -> bool:
    """Whether the hub holds a transaction open on its database right now: on SQLite, a writer
    holds the write lock (every other writer of the process waits for it); on PostgreSQL, some
    other connection to the test's database is inside a transaction (its locks and snapshot are
    held; the test's own session must hold none then: `fresh` it first, and read nothing)."""
    gate = writer_gate(engine)
    if gate is not None:
        return gate.busy
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")).scalar_one())


@dataclass
class Request:
    method: str
    path: str
    transaction_open: bool


@dataclass
class Hold:
    """Requests matching (method, path fragment) wait until the test lets them go; `during`
    runs while the first one waits (in the requesting thread)."""

    method: str
    fragment: str
    asking: threading.Event = field(default_factory=threading.Event)
    answer: threading.Event = field(default_factory=threading.Event)
    during: object = None


class CarrierWatch:
    """Every REST request the hub makes, seen where the simulator serves it (in the thread that
    made it, before it is answered), with whether a transaction was open at that moment."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.requests: list[Request] = []
        self.holds: list[Hold] = []

    def __call__(self, _sim: object, method: str, path: str) -> float:
        self.requests.append(Request(method.upper(), path, transaction_open(self.engine)))
        for hold in self.holds:
            if hold.method == method.upper() and hold.fragment in path and not hold.asking.is_set():
                hold.asking.set()
                if callable(hold.during):
                    hold.during()
                hold.answer.wait(30)
        return 0.0

    def hold(self, method: str, fragment: str, during: object = None) -> Hold:
        held = Hold(method, fragment, during=during)
        self.holds.append(held)
        return held

    def made(self, method: str, fragment: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and fragment in r.path]


@pytest.fixture
def carrier(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CarrierWatch]:
    watch = CarrierWatch(engine)
    monkeypatch.setattr(rest, "injected_delay", watch)
    yield watch
    for hold in watch.holds:
        hold.answer.set()


def _agent_legs(session) -> list[Call]:  # noqa: ANN001
    fresh(session)
    return list(session.scalars(select(Call).where(Call.leg == "agent")))


def _pending_offer(session) -> Offer:  # noqa: ANN001
    fresh(session)
    offer = session.scalar(select(Offer).where(Offer.state == "pending"))
    assert offer is not None
    return offer


# No transaction open while Twilio is asked ------------------------------------------------------

def test_the_agent_is_rung_with_no_transaction_open(client, sim, hub: Hub, session, carrier) -> None:
    available(session, hub.agent)
    fresh(session)
    queued_call(sim)
    rings = carrier.made("POST", "/Calls.json")
    assert len(rings) == 1
    assert not rings[0].transaction_open, "Twilio was asked to ring the agent inside a transaction"
    assert sim.phone(f"agent_{hub.agent.id}").ringing()
    [leg] = _agent_legs(session)
    assert leg.offer_id is not None and leg.status in ("queued", "initiated", "ringing")


def test_the_caller_is_moved_in_with_no_transaction_open(client, sim, hub: Hub, session, carrier) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    phone = sim.phone(f"agent_{hub.agent.id}")
    fresh(session)  # the test's own session holds no transaction while the hub works
    phone.answer()
    sim.pump()
    moves = carrier.made("POST", f"/Calls/{sid}.json")
    assert moves, "the caller was never moved in"
    assert not any(r.transaction_open for r in moves), "Twilio was asked to move the caller inside a transaction"
    sim.advance(3)
    assert sim.call(sid).waiting == "conference"
    fresh(session)
    assert session.scalar(select(Call).where(Call.call_sid == sid)).bridged_at is not None


def test_a_leg_is_hung_up_with_no_transaction_open(client, sim, hub: Hub, session, carrier) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    phone = sim.phone(f"agent_{hub.agent.id}")
    [leg_sid] = phone.ringing()
    fresh(session)
    sim.hangup(sid)  # the caller gives up while the agent's phone rings
    sim.pump()
    hang_ups = carrier.made("POST", f"/Calls/{leg_sid}.json")
    assert hang_ups, "the ringing leg was never hung up"
    assert not any(r.transaction_open for r in hang_ups), "Twilio was asked to hang up inside a transaction"
    assert phone.ringing() == []
    [leg] = _agent_legs(session)
    assert leg.status == "canceled"


# Once, however often delivered ------------------------------------------------------------------

def test_a_ring_delivered_twice_at_once_and_the_sweep_beside_it_ring_the_agent_once(
        client, sim, hub: Hub, session, carrier, lost_tasks: LostTasks) -> None:
    """The ring task delivered twice (Redis redelivers an unacknowledged task; a worker retries)
    while its first delivery waits for Twilio, and the repair sweep running meanwhile: the second
    delivery and the sweep find the ring claimed, return at once (they do not wait for the first
    one's transaction), and the agent's phone rings once."""
    with lost_tasks.dropping("telephony.ring_agent"):
        available(session, hub.agent)
        queued_call(sim)
    offer_id = _pending_offer(session).id
    fresh(session)
    held = carrier.hold("POST", "/Calls.json")
    first = threading.Thread(target=ring_agent_task, args=(offer_id,), name="ring-first")
    first.start()
    try:
        assert held.asking.wait(10), "the first delivery never asked Twilio"
        second = threading.Thread(target=ring_agent_task, args=(offer_id,), name="ring-second")
        second.start()
        second.join(10)
        assert not second.is_alive(), "the second delivery waited for the first one's transaction"
        sim.advance(GRACE.total_seconds() + 1)  # late enough for the sweep to stand in for the task
        assert repair_sweep() == 0
    finally:
        held.answer.set()
        first.join(30)
    assert not first.is_alive()
    assert len(carrier.made("POST", "/Calls.json")) == 1
    sim.pump()
    assert len(sim.phone(f"agent_{hub.agent.id}").ringing()) == 1
    [leg] = _agent_legs(session)
    assert leg.offer_id == offer_id
    ring_agent_task(offer_id)  # delivered again once it is all done: nothing more
    assert repair_sweep() == 0
    assert len(carrier.made("POST", "/Calls.json")) == 1 and len(_agent_legs(session)) == 1


# A claim whose worker died lapses, and the sweep repairs it ---------------------------------------

def test_a_ring_claimed_by_a_worker_that_died_is_repaired_once_the_claim_lapses(
        client, sim, hub: Hub, session, carrier, lost_tasks: LostTasks) -> None:
    priority.set_routing_setting(session, name="offer_timeout_seconds", value=90)
    session.commit()
    with lost_tasks.dropping("telephony.ring_agent"):
        available(session, hub.agent)
        queued_call(sim)
    offer_id = _pending_offer(session).id
    fresh(session)
    with session_scope() as own:  # a worker claims the ring, then dies before asking Twilio
        assert carrier_effects.claim_ring(own, offer_id=offer_id) is not None
    phone = sim.phone(f"agent_{hub.agent.id}")
    sim.advance(GRACE.total_seconds() + 1)
    assert repair_sweep() == 0  # the claim still holds: its worker may be waiting for Twilio
    assert phone.ringing() == [] and carrier.made("POST", "/Calls.json") == []
    sim.advance(carrier_effects.RING_LEASE.total_seconds())
    assert repair_sweep() == 1
    sim.pump()
    assert len(phone.ringing()) == 1
    assert len(_agent_legs(session)) == 1
    assert repair_sweep() == 0


def test_a_move_in_claimed_by_a_worker_that_died_is_repaired_once_the_claim_lapses(
        client, sim, hub: Hub, session, carrier, lost_tasks: LostTasks) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    fresh(session)
    with lost_tasks.dropping("telephony.connect_caller"):
        sim.phone(f"agent_{hub.agent.id}").answer()
        sim.pump()
    caller_id = session.scalar(select(Call.id).where(Call.call_sid == sid))
    fresh(session)
    with session_scope() as own:  # a worker claims the move, then dies before asking Twilio
        assert carrier_effects.claim_connect(own, call_id=caller_id) is not None
    sim.advance(GRACE.total_seconds() + 2)
    assert repair_sweep() == 0
    assert sim.call(sid).waiting == "queue"
    sim.advance(carrier_effects.CONNECT_LEASE.total_seconds())
    assert repair_sweep() == 1
    sim.advance(3)
    assert sim.call(sid).waiting == "conference"
    assert len(carrier.made("POST", f"/Calls/{sid}.json")) == 1


# Withdrawn while Twilio was asked ------------------------------------------------------------------

def test_an_offer_withdrawn_while_twilio_rings_the_agent_leaves_no_ringing_leg(
        client, sim, hub: Hub, session, carrier) -> None:
    """The agent goes on a break just as the hub asks Twilio to ring them: the break is not held
    up by the ring, the offer is withdrawn, and the leg Twilio then makes is hung up at once
    (the agent's phone does not ring for a call that is no longer theirs)."""
    withdrawn: list[bool] = []

    def agent_takes_a_break() -> None:
        def go() -> None:
            with session_scope() as own:
                presence.set_presence(own, user_id=hub.agent.id, state="break")

        worker = threading.Thread(target=go, name="agent-break")
        worker.start()
        worker.join(10)
        withdrawn.append(not worker.is_alive())

    carrier.hold("POST", "/Calls.json", during=agent_takes_a_break).answer.set()
    available(session, hub.agent)
    fresh(session)
    sid = queued_call(sim)
    assert withdrawn == [True], "the break waited for the ring's transaction"
    sim.pump()
    phone = sim.phone(f"agent_{hub.agent.id}")
    assert phone.ringing() == []
    [leg] = _agent_legs(session)
    assert leg.status == "canceled"
    assert session.scalar(select(Offer)).state == "withdrawn"
    assert session.get(AgentPresence, hub.agent.id).state == "break"
    caller = session.scalar(select(Call).where(Call.call_sid == sid))
    assert session.scalar(select(QueueEntry).where(QueueEntry.call_id == caller.id)).state == "waiting"


# Twilio refuses --------------------------------------------------------------------------------------

def test_a_hang_up_twilio_refuses_gives_its_claim_back_and_the_sweep_ends_the_leg(
        client, sim, hub: Hub, session, carrier) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    phone = sim.phone(f"agent_{hub.agent.id}")
    [leg_sid] = phone.ringing()
    sim.fail_next(method="POST", path_contains=f"/Calls/{leg_sid}.json", status=503, code=20503,
                  message="Service unavailable", times=100)
    sim.hangup(sid)  # the caller gives up while the agent's phone rings; Twilio refuses to stop it
    sim.pump()
    sim.failures.clear()
    assert phone.ringing() == [leg_sid]
    [leg] = _agent_legs(session)
    assert leg.hangup_claimed_at is None  # given back at once, not held until a lease lapses
    fresh(session)
    sim.advance(GRACE.total_seconds() + 1)
    assert repair_sweep() >= 1
    sim.pump()
    assert phone.ringing() == []
    [leg] = _agent_legs(session)
    assert leg.status == "canceled"


def test_an_answer_that_races_the_ring_tasks_row_is_taken_not_refused(client, sim, hub: Hub, session, carrier,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The ring task asks Twilio outside a transaction and writes the leg's row after, so the
    agent's answer can look the leg up before that row is committed and then find it written by
    the time it inserts its own. Before, the insert's unique violation answered 409 and the
    carrier hung the agent's leg up: caller and agent never met (seen in the loopback deployment
    test). The answer now takes the ring task's row."""
    from telephony import calls

    available(session, hub.agent)
    sid = queued_call(sim)
    fresh(session)
    assert len(_agent_legs(session)) == 1  # the ring task's row, committed
    real = calls.find_and_log  # the answer finds its leg, locks it and logs itself in one statement
    missed: list[str] = []

    def not_yet(session_, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["kind"] == "agent-answer" and not missed:
            missed.append(kwargs["call_sid"])
            return None  # the lookup ran before the ring task's commit: nothing found, nothing logged
        return real(session_, **kwargs)

    monkeypatch.setattr(calls, "find_and_log", not_yet)
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.pump()
    monkeypatch.undo()
    sim.advance(3)
    assert missed, "the answer did not look its leg up"
    assert sim.call(sid).waiting == "conference"
    fresh(session)
    [leg] = _agent_legs(session)
    assert leg.answered_at is not None


# A caller's end ends the agent's leg in their conference -------------------------------------------

def _in_the_conference(sim, hub: Hub, session) -> tuple[str, str]:  # noqa: ANN001
    available(session, hub.agent)
    sid = queued_call(sim)
    leg_sid = sim.phone(f"agent_{hub.agent.id}").answer()
    sim.pump()
    sim.advance(5)
    assert sim.call(sid).waiting == "conference"
    fresh(session)
    return sid, leg_sid


def test_a_caller_who_hangs_up_in_the_conference_ends_the_agents_leg_without_a_hang_up(
        client, sim, hub: Hub, session, carrier) -> None:
    """The caller joined with endConferenceOnExit: their leaving ends the conference, and with it
    the agent's leg (nothing follows its `<Dial>`), as Twilio does. The hub asks Twilio nothing
    about that leg (before, a hang-up task asked to end it, was told it had ended, fetched it and
    applied its end: two REST requests and fourteen statements a call); its status callback ends
    it here, and the agent goes to wrap-up."""
    sid, leg_sid = _in_the_conference(sim, hub, session)
    carrier.requests.clear()  # the caller's join asked about the agent's leg: what follows the hang-up counts
    sim.hangup(sid)
    sim.pump()
    assert carrier.made("POST", f"/Calls/{leg_sid}.json") == []
    assert carrier.made("GET", f"/Calls/{leg_sid}.json") == []
    assert not sim.call(leg_sid).alive
    [leg] = _agent_legs(session)
    assert leg.status == "completed" and leg.hangup_claimed_at is None
    assert session.get(AgentPresence, hub.agent.id).state == "wrap_up"


def test_a_caller_who_hangs_up_before_reaching_the_conference_has_the_agents_leg_hung_up(
        client, sim, hub: Hub, session, carrier) -> None:
    """The caller hangs up during the "connecting" sentence, before joining: the agent waits alone
    in a conference nobody will end, so their leg is hung up at once."""
    available(session, hub.agent)
    sid = queued_call(sim)
    leg_sid = sim.phone(f"agent_{hub.agent.id}").answer()
    sim.pump()  # the caller is being moved in: they hear the sentence before the conference
    fresh(session)
    assert session.scalar(select(Call).where(Call.call_sid == sid)).bridged_at is not None
    assert sim.call(sid).waiting != "conference" and sim.call(leg_sid).waiting == "conference"
    sim.hangup(sid)
    sim.pump()
    assert carrier.made("POST", f"/Calls/{leg_sid}.json")
    assert not sim.call(leg_sid).alive
    [leg] = _agent_legs(session)
    assert leg.status == "completed"


def test_an_agents_leg_whose_end_is_lost_after_the_caller_left_is_ended_by_the_sweep(
        client, sim, hub: Hub, session, carrier) -> None:
    """The conference's end ended the agent's leg at Twilio, but its status callback was lost:
    once the caller has been over for GRACE (not before: the callback is normally on its way),
    the repair sweep asks Twilio about the leg and ends it here."""
    sid, leg_sid = _in_the_conference(sim, hub, session)
    sim.calls[leg_sid].status_callback = None  # the agent's `completed` is lost
    sim.hangup(sid)
    sim.pump()
    assert not sim.call(leg_sid).alive
    [leg] = _agent_legs(session)
    assert leg.status == "in-progress"
    sim.advance(GRACE.total_seconds() - 1)
    assert carrier_effects.lost_leg_ends(fresh(session)) == []
    fresh(session)
    sim.advance(2)
    assert repair_sweep() >= 1
    [leg] = _agent_legs(session)
    assert leg.status == "completed"
    assert session.get(AgentPresence, hub.agent.id).state in ("wrap_up", "available")
