"""The lock order every writer of a call keeps on PostgreSQL: the agent's leg, the caller, the
queue entry (then the presence row). Two writers taking two of these in opposite orders deadlock
when they meet, and PostgreSQL aborts one of them: an agent's answer lost (the caller sent to
voicemail), or a caller's key press at the queue lost. Both were seen in the loopback deployment
test and the fault runs. Each test holds what one writer takes first, lets the other run until
it waits, and checks that the first can still take the next lock in the order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from xml.etree import ElementTree

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core import db
from telephony import call_states, calls, carrier_effects
from telephony.models import Call, Offer, QueueEntry
from tests.conftest import pg_only
from tests.factories import fresh
from tests.telephony.faults import LostTasks, lost_tasks  # noqa: F401 (fixture)
from tests.telephony.hub import Hub, available, new_call_sid, queued_call

pytestmark = pg_only()


class Writer(threading.Thread):
    """Another writer, in a thread of its own with its own session; `error` is what it raised."""

    def __init__(self, work: Callable[[Session], object]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.error: BaseException | None = None
        self.result: object = None

    def run(self) -> None:
        try:
            with db.new_session() as own:
                self.result = self.work(own)
                own.commit()
        except BaseException as exc:  # noqa: BLE001 (reported to the test)
            self.error = exc


def wait_until_blocked(engine: Engine, writer: Writer) -> None:
    """Until some other connection to the test's database waits for a row lock (or the writer
    has finished: then it never waited, and the test's own checks say whether that is right)."""
    with engine.connect() as conn:
        for _ in range(2000):
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'")).scalar_one()
            if waiting or not writer.is_alive():
                return
            writer.join(0.01)
    raise AssertionError("the other writer neither waited for a lock nor finished")


@pytest.fixture
def holder(engine: Engine) -> Iterator[Session]:
    """The first writer's session, ended whatever the test does."""
    own = db.new_session()
    try:
        yield own
    finally:
        own.rollback()
        own.close()


def _lock_entry_nowait(session: Session, entry_id: int) -> None:
    session.execute(select(QueueEntry.id).where(QueueEntry.id == entry_id).with_for_update(nowait=True)).one()


def test_the_ring_task_writes_the_leg_before_it_locks_the_queue_entry(
        client, sim, hub: Hub, session, engine: Engine, holder: Session, lost_tasks: LostTasks) -> None:
    """The agent answers while the ring task records the leg Twilio made: the answer has written
    the leg's row (not committed) and locked the caller, and locks the entry next. The ring task
    must wait for the leg's row without holding the entry. Before, it locked the entry first:
    PostgreSQL found the deadlock and aborted one of the two."""
    with lost_tasks.dropping("telephony.ring_agent"):
        available(session, hub.agent)
        queued_call(sim)
    fresh(session)
    offer = session.scalar(select(Offer).where(Offer.state == "pending"))
    assert offer is not None
    with db.new_session() as own:
        order = carrier_effects.claim_ring(own, offer_id=offer.id)
    assert order is not None
    sid = new_call_sid()  # the leg Twilio made for the ring

    # The answer's first steps: its leg's row (the ring task's not being there yet), the caller.
    caller = holder.get(Call, order.caller_id)
    assert caller is not None
    holder.add(Call(call_sid=sid, leg="agent", direction="outbound-api", offer_id=offer.id,
                    parent_call_id=caller.id, agent_id=offer.user_id, status="ringing"))
    holder.flush()
    call_states.lock(holder, caller)

    ring = Writer(lambda own: carrier_effects._rung(own, order, sid))
    ring.start()
    wait_until_blocked(engine, ring)
    try:
        _lock_entry_nowait(holder, offer.entry_id)  # the answer's next lock: free
    except OperationalError as exc:  # pragma: no cover - the failure this test exists for
        pytest.fail(f"the ring task holds the queue entry while it waits for the leg: {exc.orig}")
    finally:
        holder.commit()
        ring.join(30)
    assert ring.error is None, ring.error
    leg, orphan = ring.result  # type: ignore[misc]
    assert not orphan and leg is not None
    fresh(session)
    assert [c.call_sid for c in session.scalars(select(Call).where(Call.leg == "agent"))] == [sid]


def test_a_key_pressed_in_the_queue_locks_the_caller_before_the_queue_entry(
        client, sim, hub: Hub, session, engine: Engine, holder: Session) -> None:
    """The caller presses 1 (voicemail) at the queue's offer while an agent's answer holds the
    caller's row and is about to lock the entry. The wait URL must wait for the caller's row
    before it touches the entry. Before, it noted the caller alive (an UPDATE of the entry)
    first and wrote the caller after: a deadlock with the answer."""
    from telephony import inbound

    sid = queued_call(sim)
    fresh(session)
    caller = calls.get_by_sid(holder, call_sid=sid)
    assert caller is not None
    entry = holder.scalar(select(QueueEntry).where(QueueEntry.call_id == caller.id))
    assert entry is not None
    call_states.lock(holder, caller)  # the answer holds the caller

    params = {"CallSid": sid, "Digits": "1", "QueueTime": "600"}
    press = Writer(lambda own: inbound.wait(own, params=params, offer=True))
    press.start()
    wait_until_blocked(engine, press)
    try:
        _lock_entry_nowait(holder, entry.id)  # the answer's next lock: free
    except OperationalError as exc:  # pragma: no cover - the failure this test exists for
        pytest.fail(f"the key press holds the queue entry while it waits for the caller: {exc.orig}")
    finally:
        holder.commit()
        press.join(30)
    assert press.error is None, press.error
    assert ElementTree.fromstring(str(press.result)).find("Leave") is not None  # out of Twilio's queue
    fresh(session)
    left = session.scalar(select(QueueEntry).where(QueueEntry.call_id == caller.id))
    assert left is not None and left.state != "waiting"
    assert session.get(Call, caller.id).after_queue == "voicemail"  # type: ignore[union-attr]
