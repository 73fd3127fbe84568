"""The event bus: publishing after commit, in-process and Redis fan-out, bounded async streams."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core import events
from core.clock import FrozenClock
from core.config import ConfigurationError, Settings
from core.events import RESYNC_TOPIC, Bus, BusClosed, Event, InProcessBus, RedisBus, publish, publish_now
from tests.conftest import BROKER_URL, broker_only

DEADLINE = 10.0  # seconds a test waits on another thread (the Redis listener) before failing


class Collector:
    """A sync subscriber whose test can wait, with a deadline, for the events to arrive."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = DEADLINE) -> list[Event]:
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.events) >= count, timeout)
            assert arrived, f"expected {count} events within {timeout} s, got {self.events}"
            return list(self.events)

    def topics(self) -> list[str]:
        return [e.topic for e in self.events]


def unique_channel() -> str:
    return f"hotline:test:{uuid.uuid4().hex}"


def redis_bus() -> RedisBus:
    assert BROKER_URL
    return RedisBus(BROKER_URL, channel=unique_channel(), backoff_initial=0.05)


@pytest.fixture
def bus(settings: Settings) -> Iterator[Bus]:
    """The process's bus as the settings choose it (Redis when the suite has a broker), on a
    channel of this test's own."""
    bus = events.configure_bus(settings, channel=unique_channel())
    assert bus.wait_ready(DEADLINE)
    yield bus
    events.close_bus()


@pytest.fixture
def redis_pair() -> Iterator[tuple[RedisBus, RedisBus]]:
    """Two buses on one channel: two web processes, as far as Redis can tell."""
    first = redis_bus()
    second = RedisBus(BROKER_URL, channel=first.channel)  # type: ignore[arg-type]
    try:
        assert first.wait_ready(DEADLINE) and second.wait_ready(DEADLINE)
        yield first, second
    finally:
        first.close()
        second.close()


# The event ---------------------------------------------------------------------------------


def test_event_carries_topic_payload_scope_and_time(clock: FrozenClock) -> None:
    event = Event(topic="call.queued", payload={"call_id": 4, "skills": ("fr", "billing")}, site_id=2)

    assert len(event.id) == 32
    assert event.at == clock.now().isoformat()
    assert event.payload == {"call_id": 4, "skills": ["fr", "billing"]}  # as any subscriber sees it
    assert (event.site_id, event.team_id, event.user_id) == (2, None, None)
    assert Event.from_json(event.to_json()) == event
    assert {event, Event.from_json(event.to_json())} == {event}  # hashable despite its dict


def test_event_from_json_ignores_unknown_fields() -> None:
    event = Event(topic="ticket.updated", payload={"ticket_id": 1})
    raw = event.to_json()[:-1] + ',"added_later":true}'

    assert Event.from_json(raw) == event


@pytest.mark.parametrize("topic", ["", "updated", "Ticket.updated", "ticket.", "ticket updated"])
def test_event_refuses_bad_topic(topic: str) -> None:
    with pytest.raises(ValueError):
        Event(topic=topic)


def test_event_refuses_payload_that_is_not_json() -> None:
    with pytest.raises(TypeError):
        Event(topic="ticket.updated", payload={"ticket": object()})


# Publishing after commit ---------------------------------------------------------------------


def test_publish_delivers_only_after_commit(session, bus: Bus, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    received = Collector()
    bus.subscribe(received)
    session.execute(select(1))

    sent = publish(session, "ticket.updated", {"ticket_id": 7}, site_id=1, team_id=3)
    assert received.events == []

    session.commit()
    [event] = received.wait_for(1)
    assert event == sent
    assert (event.topic, event.payload, event.site_id, event.team_id) == ("ticket.updated", {"ticket_id": 7}, 1, 3)
    assert event.at == clock.now().isoformat()


def test_publish_sends_nothing_for_a_rolled_back_transaction(session, bus: Bus) -> None:  # type: ignore[no-untyped-def]
    received = Collector()
    bus.subscribe(received)
    session.execute(select(1))
    publish(session, "ticket.updated", {"ticket_id": 1})
    session.rollback()

    # The next transaction commits only its own event.
    session.execute(select(1))
    publish(session, "ticket.updated", {"ticket_id": 2})
    session.commit()
    # Events reach a subscriber in publishing order, so once this marker is in, so would be
    # anything published before it.
    publish_now(Event(topic="test.marker"))

    received.wait_for(2)
    assert [(e.topic, e.payload) for e in received.events] == [
        ("ticket.updated", {"ticket_id": 2}),
        ("test.marker", {}),
    ]


def test_publish_keeps_order_within_a_transaction(session, bus: Bus) -> None:  # type: ignore[no-untyped-def]
    received = Collector()
    bus.subscribe(received)
    session.execute(select(1))
    for n in range(3):
        publish(session, "call.queued", {"call_id": n})
    session.commit()

    assert [e.payload["call_id"] for e in received.wait_for(3)] == [0, 1, 2]


# In-process bus ----------------------------------------------------------------------------------


def test_in_process_bus_delivers_to_sync_subscribers() -> None:
    bus = InProcessBus()
    first, second = Collector(), Collector()
    bus.subscribe(lambda event: 1 / 0)  # a broken subscriber does not starve the others
    bus.subscribe(first)
    unsubscribe = bus.subscribe(second)

    bus.publish(Event(topic="presence.changed", payload={"user_id": 5}))
    unsubscribe()
    unsubscribe()  # harmless twice
    bus.publish(Event(topic="presence.changed", payload={"user_id": 6}))

    assert [e.payload["user_id"] for e in first.events] == [5, 6]
    assert [e.payload["user_id"] for e in second.events] == [5]


def test_in_process_bus_delivers_to_async_stream_from_other_threads() -> None:
    bus = InProcessBus()

    async def consume() -> list[Event]:
        async with bus.stream(maxsize=10, accept=lambda e: e.site_id == 1) as stream:
            publishers = [
                threading.Thread(target=bus.publish, args=(Event(topic="call.queued", payload={"n": n}, site_id=n % 2),))
                for n in range(4)
            ]
            for thread in publishers:
                thread.start()
            got = [await asyncio.wait_for(stream.get(), DEADLINE) for _ in range(2)]
            for thread in publishers:
                thread.join()
            return got

    got = asyncio.run(consume())
    assert sorted(e.payload["n"] for e in got) == [1, 3]
    assert bus._subscribers == ()  # leaving the block unsubscribed the stream


def test_stream_drops_oldest_when_consumer_is_slow() -> None:
    bus = InProcessBus()

    async def consume() -> tuple[list[int], int]:
        async with bus.stream(maxsize=2) as stream:
            for n in range(5):
                bus.publish(Event(topic="call.queued", payload={"n": n}))
            # The deliveries are queued on the loop; they all run before this get resumes.
            kept = [(await stream.get()).payload["n"], (await stream.get()).payload["n"]]
            return kept, stream.dropped

    assert asyncio.run(consume()) == ([3, 4], 3)


def test_stream_ends_when_bus_closes() -> None:
    bus = InProcessBus()

    async def consume() -> list[int]:
        async with bus.stream() as stream:
            bus.publish(Event(topic="call.queued", payload={"n": 1}))
            bus.close()
            bus.publish(Event(topic="call.queued", payload={"n": 2}))  # dropped: closed
            seen = [event.payload["n"] async for event in stream]
            with pytest.raises(BusClosed):
                await stream.get()
            return seen

    assert asyncio.run(asyncio.wait_for(consume(), DEADLINE)) == [1]


# Choosing the bus --------------------------------------------------------------------------------


def test_make_bus_is_in_process_without_a_redis_broker(settings: Settings) -> None:
    assert isinstance(events.make_bus(settings.model_copy(update={"broker_url": None})), InProcessBus)


def test_make_bus_refuses_in_process_bus_in_production(settings: Settings) -> None:
    production = settings.model_copy(update={"mode": "production", "broker_url": "amqp://guest@localhost//"})
    with pytest.raises(ConfigurationError, match="HOTLINE_BROKER_URL"):
        events.make_bus(production)


def test_get_bus_reuses_the_configured_bus(settings: Settings) -> None:
    try:
        configured = events.configure_bus(settings.model_copy(update={"broker_url": None}))
        assert events.get_bus() is configured
        replacement = events.configure_bus(settings.model_copy(update={"broker_url": None}))
        assert configured.closed and events.get_bus() is replacement
    finally:
        events.close_bus()


# Redis -------------------------------------------------------------------------------------------


@broker_only()
def test_make_bus_uses_redis_for_a_redis_broker(settings: Settings) -> None:
    bus = events.make_bus(settings)
    try:
        assert isinstance(bus, RedisBus)
    finally:
        bus.close()


@broker_only()
def test_redis_bus_reaches_every_process(redis_pair: tuple[RedisBus, RedisBus]) -> None:
    first, second = redis_pair
    on_first, on_second = Collector(), Collector()
    first.subscribe(on_first)
    second.subscribe(on_second)

    sent = Event(topic="presence.changed", payload={"user_id": 9}, user_id=9)
    first.publish(sent)

    assert on_first.wait_for(1) == [sent]  # the publisher's own process too, exactly once
    assert on_second.wait_for(1) == [sent]
    first.publish(Event(topic="test.marker"))
    assert on_second.wait_for(2)[1].topic == "test.marker"


@broker_only()
def test_redis_bus_feeds_async_stream(redis_pair: tuple[RedisBus, RedisBus]) -> None:
    first, second = redis_pair

    async def consume() -> Event:
        async with second.stream(maxsize=4) as stream:
            first.publish(Event(topic="call.queued", payload={"call_id": 3}))
            return await asyncio.wait_for(stream.get(), DEADLINE)

    assert asyncio.run(consume()).payload == {"call_id": 3}


@broker_only()
def test_redis_stream_drops_oldest_when_consumer_is_slow(redis_pair: tuple[RedisBus, RedisBus]) -> None:
    first, second = redis_pair

    async def consume() -> tuple[list[int], int]:
        async with second.stream(maxsize=2) as stream:
            # Subscribed after the stream, so when it has seen all five, the stream's five
            # hand-overs are already queued on this loop, ahead of the wake-up below.
            seen = Collector()
            second.subscribe(seen)
            for n in range(5):
                first.publish(Event(topic="call.queued", payload={"n": n}))
            await asyncio.to_thread(seen.wait_for, 5)
            kept = [(await stream.get()).payload["n"], (await stream.get()).payload["n"]]
            return kept, stream.dropped

    assert asyncio.run(consume()) == ([3, 4], 3)


@broker_only()
def test_redis_bus_reconnects_and_asks_for_resync(redis_pair: tuple[RedisBus, RedisBus]) -> None:
    import redis

    first, second = redis_pair
    received = Collector()
    second.subscribe(received)
    admin = redis.Redis.from_url(BROKER_URL)  # type: ignore[arg-type]
    try:
        [client] = [c for c in admin.client_list(_type="pubsub") if c["name"] == second.name]
        admin.client_kill_filter(_id=client["id"])
    finally:
        admin.close()

    assert received.wait_for(1)[0].topic == RESYNC_TOPIC
    assert second.wait_ready(DEADLINE) and second.reconnects == 1
    first.publish(Event(topic="call.queued", payload={"call_id": 1}))
    assert received.wait_for(2)[1].payload == {"call_id": 1}


@broker_only()
def test_redis_bus_close_stops_listener_promptly() -> None:
    bus = redis_bus()
    assert bus.wait_ready(DEADLINE)
    bus.close()
    assert not bus._thread.is_alive()
    bus.publish(Event(topic="call.queued"))  # after close: dropped, no error
