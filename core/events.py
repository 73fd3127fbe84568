"""The event bus: facts published after commit and fanned out to every web process, in-process in
the embedded mode or over Redis pub/sub when the broker URL is a Redis one."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy.orm import Session

from core import clock
from core.config import ConfigurationError, Settings, get_settings
from core.db import on_commit

log = logging.getLogger("hotline.events")

DEFAULT_CHANNEL = "hotline:events"
# Delivered locally (never published) when the Redis listener comes back after losing its
# connection: events may have been missed, so live views should re-read what they show.
RESYNC_TOPIC = "bus.resync"
REDIS_SCHEMES = ("redis://", "rediss://")
_TOPIC = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

ScopeId = int | str | None


class BusClosed(RuntimeError):
    """The bus was closed while a consumer was waiting on it."""


@dataclass(frozen=True)
class Event:
    """A fact about something that changed: ids and non-personal values only, since it crosses
    process boundaries and reaches browsers. The scope hints let the websocket layer decide who
    may see it."""

    topic: str
    payload: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: str = field(default_factory=lambda: clock.now().isoformat())
    site_id: ScopeId = None
    team_id: ScopeId = None
    user_id: ScopeId = None

    def __post_init__(self) -> None:
        if not isinstance(self.topic, str) or not _TOPIC.match(self.topic):
            raise ValueError(f"event topic {self.topic!r} is not of the form 'thing.happened'")
        # Round-trip through JSON now: an unserialisable payload fails inside the publishing
        # transaction rather than after commit, and in-process subscribers see exactly what a
        # Redis subscriber would (tuples become lists, keys become strings).
        try:
            payload = json.loads(json.dumps(dict(self.payload), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"payload of event {self.topic!r} is not JSON: {exc}") from None
        object.__setattr__(self, "payload", payload)

    def __hash__(self) -> int:  # the payload dict is unhashable; the id is unique anyway
        return hash(self.id)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        data = json.loads(raw)
        # Unknown keys are ignored so a newer process can add fields during a rolling deploy.
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


Subscriber = Callable[[Event], None]


class EventStream:
    """A bounded queue of events for one asyncio consumer, such as a websocket handler. The bus
    never waits on it: when it is full the oldest event is dropped and counted in `dropped`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int, accept: Callable[[Event], bool] | None) -> None:
        if maxsize < 1:
            raise ValueError("an event stream needs room for at least one event")
        self.maxsize = maxsize
        self.dropped = 0
        self._loop = loop
        self._accept = accept
        # Unbounded underneath: the bound is enforced in _put, and the end marker must always fit.
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._ended = False

    def _offer(self, event: Event) -> None:
        """Called on the publishing or listener thread."""
        if self._accept is None or self._accept(event):
            self._hand_over(event)

    def _end(self) -> None:
        self._hand_over(None)

    def _hand_over(self, item: Event | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._put, item)
        except RuntimeError:  # the loop is closed: the consumer is gone and will unsubscribe
            pass

    def _put(self, item: Event | None) -> None:
        """On the loop's thread, so the queue needs no lock. None ends the stream."""
        if self._ended:
            return
        if item is None:
            self._ended = True
        elif self._queue.qsize() >= self.maxsize:
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    async def get(self) -> Event:
        """The next event; raises BusClosed once the bus is closed and the queue is drained."""
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # stay ended for any later call
            raise BusClosed("the event bus is closed")
        return item

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.get()
        except BusClosed:
            raise StopAsyncIteration from None


class Bus(ABC):
    """Fan-out of events to this process's subscribers. Sync callbacks run on the publishing
    thread (in-process) or the listener thread (Redis), so they must be quick; slow consumers
    use `stream()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Copy-on-write: delivery holds no lock, so a callback may unsubscribe itself and
        # publishers on many threads never wait on each other.
        self._subscribers: tuple[tuple[object, Subscriber], ...] = ()
        self._streams: set[EventStream] = set()
        self.closed = False

    @abstractmethod
    def publish(self, event: Event) -> None:
        """Send the event to every subscriber of every process. Never raises for transport
        trouble: events are nudges, the database holds the truth."""

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every event; returns the function that unsubscribes."""
        token = object()
        with self._lock:
            self._subscribers = (*self._subscribers, (token, callback))

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s[0] is not token)

        return unsubscribe

    @asynccontextmanager
    async def stream(self, maxsize: int = 256, *,
                     accept: Callable[[Event], bool] | None = None) -> AsyncIterator[EventStream]:
        """`async with bus.stream() as events: async for event in events: ...`. `accept` runs on
        the delivering thread and filters before the queue, so events a consumer may not see
        never push out ones it may."""
        stream = EventStream(asyncio.get_running_loop(), maxsize, accept)
        unsubscribe = self.subscribe(stream._offer)
        with self._lock:
            self._streams.add(stream)
            if self.closed:
                stream._end()
        try:
            yield stream
        finally:
            unsubscribe()
            with self._lock:
                self._streams.discard(stream)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once events published from now on will reach this process's subscribers."""
        return not self.closed

    def close(self) -> None:
        """Stop delivering; open streams end (their iteration stops) so handlers can return."""
        with self._lock:
            self.closed = True
            streams = list(self._streams)
        for stream in streams:
            stream._end()

    def _deliver(self, event: Event) -> None:
        for _token, callback in self._subscribers:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - one broken subscriber must not starve the others
                log.exception("event subscriber failed on %s", event.topic)


class InProcessBus(Bus):
    """The embedded mode's bus: one process, so publishing is delivering."""

    def publish(self, event: Event) -> None:
        if self.closed:
            log.debug("event %s dropped: bus closed", event.topic)
            return
        self._deliver(event)


class RedisBus(Bus):
    """PUBLISH to a Redis channel; one listener thread per bus SUBSCRIBEs and fans out locally,
    so every process (its own publications included) sees every event exactly once."""

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ) -> None:
        import redis
        from redis.backoff import ExponentialBackoff, NoBackoff
        from redis.retry import Retry

        super().__init__()
        self.channel = channel
        # Shows up in CLIENT LIST, so an operator can tell which process a subscriber is.
        self.name = f"hotline-events:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.reconnects = 0
        self.publish_errors = 0
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._channel_b = channel.encode()
        # A channel only this bus listens on: close() publishes to it to wake the listener at once.
        self._control = f"{channel}:control:{uuid.uuid4().hex}"
        self._backoff = (backoff_initial, backoff_max)
        self._publisher = redis.Redis.from_url(
            url,
            socket_timeout=5,
            socket_connect_timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        # No retries inside redis-py for the listener: the reconnect policy is ours (below), so a
        # lost connection is always noticed and followed by a resync.
        self._listener = redis.Redis.from_url(
            url,
            client_name=self.name,
            socket_connect_timeout=5,
            socket_keepalive=True,
            health_check_interval=15,
            retry=Retry(NoBackoff(), 0),
        )
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._lost = False
        self._thread = threading.Thread(target=self._listen, name="hotline-events", daemon=True)
        self._thread.start()

    def publish(self, event: Event) -> None:
        if self.closed:
            log.debug("event %s dropped: bus closed", event.topic)
            return
        try:
            self._publisher.publish(self.channel, event.to_json())
        except self._redis_errors as exc:
            self.publish_errors += 1
            log.warning("event %s not published: Redis unavailable (%s)", event.topic, type(exc).__name__)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def _listen(self) -> None:
        delay = self._backoff[0]
        while not self._stopping.is_set():
            pubsub = self._listener.pubsub()
            try:
                pubsub.subscribe(self.channel, self._control)
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None or message["channel"] != self._channel_b:
                        continue
                    if message["type"] == "subscribe":
                        delay = self._backoff[0]
                        self._on_subscribed()
                    elif message["type"] == "message":
                        self._receive(message["data"])
            except self._redis_errors as exc:
                self._ready.clear()
                if self._stopping.is_set():
                    break
                self._lost = True
                log.warning(
                    "event bus lost Redis (%s); reconnecting in %.1f s", type(exc).__name__, delay
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, self._backoff[1])
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001 - the connection is already broken
                    pass
        self._ready.clear()

    def _on_subscribed(self) -> None:
        self._ready.set()
        if self._lost:
            self._lost = False
            self.reconnects += 1
            log.info("event bus reconnected to Redis")
            self._deliver(Event(topic=RESYNC_TOPIC))

    def _receive(self, raw: bytes) -> None:
        try:
            event = Event.from_json(raw)
        except (ValueError, TypeError):
            log.warning("ignored a malformed message on %s", self.channel)
            return
        self._deliver(event)

    def close(self, timeout: float = 5.0) -> None:
        if self.closed:
            return
        super().close()
        self._stopping.set()
        try:
            self._publisher.publish(self._control, b"stop")
        except self._redis_errors:
            pass  # the listener notices _stopping within a second anyway
        self._thread.join(timeout)
        self._publisher.close()
        self._listener.close()


# The process's bus ------------------------------------------------------------------------

_bus: Bus | None = None
_bus_lock = threading.Lock()


def make_bus(settings: Settings, *, channel: str = DEFAULT_CHANNEL) -> Bus:
    url = settings.broker_url or ""
    if url.startswith(REDIS_SCHEMES):
        return RedisBus(url, channel=channel)
    if settings.is_production:
        # Several web processes with an in-process bus would each see only their own events.
        raise ConfigurationError("HOTLINE_BROKER_URL must be a redis:// URL in production mode")
    return InProcessBus()


def configure_bus(settings: Settings, *, channel: str = DEFAULT_CHANNEL) -> Bus:
    """Install the bus for these settings (closing any previous one) and return it."""
    global _bus
    new = make_bus(settings, channel=channel)
    with _bus_lock:
        old, _bus = _bus, new
    if old is not None:
        old.close()
    return new


def get_bus() -> Bus:
    global _bus
    with _bus_lock:
        if _bus is None:
            _bus = make_bus(get_settings())
        return _bus


def close_bus() -> None:
    global _bus
    with _bus_lock:
        old, _bus = _bus, None
    if old is not None:
        old.close()


def publish(
    session: Session,
    topic: str,
    payload: Mapping[str, Any] | None = None,
    *,
    site_id: ScopeId = None,
    team_id: ScopeId = None,
    user_id: ScopeId = None,
) -> Event:
    """Publish once the session's transaction commits; nothing is published if it rolls back.
    The event is built (and checked) now, so a bad payload fails inside the transaction."""
    event = Event(topic=topic, payload=dict(payload or {}), site_id=site_id, team_id=team_id, user_id=user_id)
    on_commit(session, lambda: get_bus().publish(event))
    return event


def publish_now(event: Event) -> None:
    """Publish outside any transaction (a websocket handler, a sweep reporting progress)."""
    get_bus().publish(event)
