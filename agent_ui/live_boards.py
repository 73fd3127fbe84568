"""Fragments every viewer of a scope sees alike (the floor's wallboard per site and language, the
desktop's calls-waiting table per language), rendered once per change into one channel of the
fan-out (agent_ui.live_frames) that every subscribed websocket reads: at 50 events a second and
hundreds of open floors, each connection re-reading the queue itself would not keep up. Changes
are coalesced: at most one refresh per `min_interval`, and a refresh always reflects every event
received before it started."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from agent_ui import desktop_view, floor_view
from agent_ui.live_frames import Channel, get_fanout
from agent_ui.templating import render_partial
from core.db import session_scope
from core.events import RESYNC_TOPIC, BusClosed, Event, get_bus
from telephony.queue_status import queue_snapshot

log = logging.getLogger("hotline.live")

TOPICS = frozenset({"presence.changed", "queue.changed", "call.offered", "call.offer_ended", "call.answered",
                    "call.ended", RESYNC_TOPIC})
TEMPLATES = {"wallboard": "floor/_wallboard.html", "queue": "desktop/_queue.html"}
# What changes on every render without the board changing: the marker of the last event it
# reflects (for tests and the benchmark), its clock, and the text of ticking clocks (the page's
# script keeps those up to date from their data-since / data-countdown-to).
_VOLATILE = re.compile(r' data-(?:event|server-now)="[^"]*"|(?<=>)[^<]*(?=</time>)')
_PART = re.compile(r"<!--part:([a-z0-9_-]+)-->(.*?)<!--/part-->", re.S)


def _stable(html: str) -> str:
    return _VOLATILE.sub("", html)


def changed_parts(kind: str, old: str | None, new: str) -> list[tuple[str, str]]:
    """What to send after a refresh: the whole board the first time, then only its marked parts
    that changed (with the "as of" part, which carries the event marker); nothing if none did.
    Less to send and to compress makes the fan-out to hundreds of browsers cheap."""
    if old is None:
        return [(kind, new)]
    new_parts = dict(_PART.findall(new))
    if not new_parts:
        return [(kind, new)] if _stable(old) != _stable(new) else []
    old_parts = dict(_PART.findall(old))
    if old_parts.keys() != new_parts.keys():
        return [(kind, new)]  # a part the page does not have yet could not be swapped in by its id
    changed = [(f"{kind}:{name}", html) for name, html in new_parts.items()
               if name != "asof" and _stable(old_parts.get(name, "")) != _stable(html)]
    if changed and "asof" in new_parts:
        changed.insert(0, (f"{kind}:asof", new_parts["asof"]))
    return changed


@dataclass(frozen=True)
class BoardKey:
    kind: str  # wallboard | queue
    site_id: int | None
    locale: str


class BoardHub:
    """One per event loop (web process). `subscribe` gives the channel of a board, which each
    refresh updates (and tells the fan-out `on_change`) until its last subscriber leaves."""

    def __init__(self, *, min_interval: float = 0.2, on_change: Callable[[], None] = lambda: None) -> None:
        self.loop = asyncio.get_running_loop()
        self.min_interval = min_interval
        self.on_change = on_change
        self.channels: dict[BoardKey, Channel] = {}
        self.subscribers: dict[BoardKey, int] = {}
        self.last_event = ""
        self.stopped = False
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self.refreshes = 0

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._listen(), name="live-boards-listen"))
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="live-boards-refresh"))
        await self._ready.wait()

    def subscribe(self, key: BoardKey) -> tuple[Channel, Callable[[], None]]:
        """The board's channel (a socket that has sent nothing of it yet starts at change 0, which
        gets it the whole board), and how to leave it."""
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = Channel()
            self._dirty.set()  # a board nobody watched yet: render it on the next pass
        self.subscribers[key] = self.subscribers.get(key, 0) + 1
        left = False

        def unsubscribe() -> None:
            nonlocal left
            if left:
                return
            left = True
            self.subscribers[key] -= 1
            if not self.subscribers[key]:
                del self.subscribers[key]
                del self.channels[key]

        return channel, unsubscribe

    async def _listen(self) -> None:
        try:
            async with get_bus().stream(maxsize=1024, accept=lambda e: e.topic in TOPICS) as events:
                self._ready.set()
                async for event in events:
                    self._mark(event)
        except BusClosed:
            pass
        finally:
            self._ready.set()
            self.stop()

    def _mark(self, event: Event) -> None:
        self.last_event = event.id
        self._dirty.set()

    async def _refresh_loop(self) -> None:
        last = 0.0
        while not self.stopped:
            await self._dirty.wait()
            wait = last + self.min_interval - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # coalesce: the events of this interval make one refresh
            self._dirty.clear()
            last = self.loop.time()
            keys = list(self.subscribers)
            if not keys:
                continue
            event_id = self.last_event
            try:
                rendered = await run_in_threadpool(render_boards, keys, event_id)
            except Exception:  # noqa: BLE001 - a failed read must not end the live pages; retry later
                log.exception("live boards refresh failed")
                self._dirty.set()
                await asyncio.sleep(1.0)
                continue
            self.refreshes += 1
            changed = False
            for key, html in rendered.items():
                channel = self.channels.get(key)
                if channel is None:
                    continue
                # Nothing is sent for an event that changed nothing here (another site's agent).
                updates = changed_parts(key.kind, channel.whole, html)
                if updates[:1] == [(key.kind, html)]:
                    channel.replace(html)
                else:
                    channel.update(html, updates)
                changed = changed or bool(updates)
            if changed:
                self.on_change()

    def stop(self) -> None:
        self.stopped = True
        self._dirty.set()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()


def render_boards(keys: list[BoardKey], event_id: str) -> dict[BoardKey, str]:
    """Every board asked for, from one read of the queue (in a worker thread)."""
    out: dict[BoardKey, str] = {}
    with session_scope(reader=True) as session:
        snapshot = queue_snapshot(session)
        people: dict[int, Any] = {}  # names read for one board serve the others
        boards: dict[int | None, Any] = {}
        for key in keys:
            zone = floor_view.zone_of(session, key.site_id)
            if key.kind == "wallboard":
                if key.site_id not in boards:
                    boards[key.site_id] = floor_view.wallboard(session, site_id=key.site_id, zone=zone,
                                                               snapshot=snapshot, people=people)
                context = {"board": boards[key.site_id], "board_event": event_id, "now": snapshot.at}
            else:
                context = {**desktop_view.queue_lines(snapshot), "now": snapshot.at}
            out[key] = render_partial(TEMPLATES[key.kind], context, locale=key.locale, zone=zone)
    return out


async def get_hub(state: Any) -> BoardHub:
    """The hub of this app on the running loop, started on first use (and again after the bus it
    listened to was replaced or closed)."""
    hub: BoardHub | None = getattr(state, "live_boards", None)
    if hub is None or hub.stopped or hub.loop is not asyncio.get_running_loop():
        hub = BoardHub(min_interval=getattr(state, "live_min_interval", 0.2),
                       on_change=lambda: get_fanout(state).changed())
        state.live_boards = hub
        await hub.start()
    return hub


__all__ = ["BoardHub", "BoardKey", "TOPICS", "get_hub", "render_boards"]
