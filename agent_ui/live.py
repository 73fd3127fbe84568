"""The one websocket a live page opens (`/ws?page=desktop|floor`): the browser's own events from
the core bus, filtered by the person's rights, become htmx out-of-band fragments re-read through
the same view functions as the page; boards every viewer shares come from agent_ui.live_boards.
Both go out through the fan-out of agent_ui.live_frames, at most one message per socket per tick.
On (re)connect the panels the page missed are sent again (all of them when that cannot be known)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from agent_ui import desktop_view, floor_view, i18n, live_catchup
from agent_ui.live_boards import TOPICS as BOARD_TOPICS
from agent_ui.live_boards import BoardKey, get_hub
from agent_ui.live_frames import Peer, get_fanout, raw_sink
from agent_ui.templating import render_partial
from core import credentials, directory, permissions
from core.auth import SESSION_COOKIE, Viewer, client_ip, read_session_cookie, resolve_user
from core.config import get_settings
from core.db import session_scope
from core.events import RESYNC_TOPIC, BusClosed, Event, get_bus
from core.models import Role

log = logging.getLogger("hotline.live")
router = APIRouter()

# Close codes: htmx's ws extension reconnects only after 1006/1011/1012/1013, so a refusal stays closed.
POLICY, SIGNED_OUT, SERVICE_RESTART = 1008, 4401, 1012
RECHECK_SECONDS = 60.0
PERSONAL_TOPICS = frozenset({"presence.changed", "call.offered", "call.offer_ended", "call.answered",
                             "call.control", "call.monitored", "grant.changed", "grant.expired", "callback.changed",
                             "notification.created"})
DESKTOP = {"presence.changed": {"presence", "offer", "call", "ticket"}, "call.offered": {"offer", "presence"},
           "call.offer_ended": {"offer", "presence"}, "call.answered": {"call", "ticket", "offer"},
           "call.control": {"call"}, "call.monitored": {"call"},
           "grant.changed": {"callbacks"}, "grant.expired": {"callbacks"}, "callback.changed": {"callbacks"},
           "notice.published": {"notices"}, "notification.created": {"reminders"}}
FLOOR = {"grant.changed": {"grants"}, "grant.expired": {"grants"}, "notification.created": {"escalations"}}
# Text fields of a ticket: an agent typing changes neither the backlog nor the escalations.
TEXT_ONLY = frozenset({"description", "resolution", "subject", "tags"})
PAGES = {
    "desktop": (permissions.AGENTS, ("presence", "reminders", "notices", "offer", "call", "ticket", "callbacks",
                                     "tickets"),
                "queue", 0.0),
    "floor": (permissions.TEAM_LEADERS, ("escalations", "backlog", "grants"), "wallboard", 0.5),
}
_TICKET_KEY = re.compile(r'data-ticket-key="([^"]*)"')


@dataclass
class Watcher:
    """Who is watching, copied out of the handshake's database session."""

    user_id: int
    role: str
    site_id: int | None
    team_id: int | None
    locale: str
    zone: str
    csrf_token: str
    ip: str | None
    session_token: str | None
    viewer: Viewer = field(repr=False)


def origin_allowed(websocket: WebSocket) -> bool:
    """A browser always sends Origin with a websocket: it must be this hub's public address or the
    address it was reached at (cross-site websocket hijacking otherwise). No Origin: not a browser."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    public = urlsplit(get_settings().public_url)
    allowed = {f"{public.scheme}://{public.netloc}".lower()}
    host = websocket.headers.get("host")
    if host:
        allowed |= {f"http://{host}".lower(), f"https://{host}".lower()}
    return origin.rstrip("/").lower() in allowed


def _authenticate(websocket: WebSocket) -> Watcher | None:
    with session_scope(reader=True) as session:
        user = resolve_user(websocket, session)
        if user is None or websocket.state.signin is None or not user.is_active:
            return None  # live pages ride on a browser's sign-in, not on API tokens
        viewer: Viewer = websocket.state.viewer
        return Watcher(user_id=user.id, role=user.role, site_id=user.site_id, team_id=user.team_id,
                       locale=i18n.locale_for(websocket, viewer), zone=i18n.zone_for(viewer),
                       csrf_token=websocket.state.csrf_token, ip=client_ip(websocket),  # type: ignore[arg-type]
                       session_token=read_session_cookie(websocket.cookies.get(SESSION_COOKIE)), viewer=viewer)


def accepts(watcher: Watcher, page: str, event: Event) -> bool:
    """Whether this watcher may hear of `event` on `page` (runs on the bus's thread: no I/O).
    The fragment it triggers is re-read with the watcher's rights in any case."""
    topic = event.topic
    if topic == RESYNC_TOPIC:
        return True
    if page == "desktop":
        if topic in PERSONAL_TOPICS:
            return event.user_id == watcher.user_id
        if topic.startswith("ticket."):
            return event.payload.get("assignee_id") == watcher.user_id
        if topic == "notice.published":
            return event.site_id in (None, watcher.site_id) and event.team_id in (None, watcher.team_id)
        return False
    if topic == "notification.created":
        return event.user_id == watcher.user_id
    if topic in ("grant.changed", "grant.expired"):
        return True  # the panel lists only what the viewer may manage; an unchanged panel is not sent
    if topic.startswith("ticket."):
        if topic == "ticket.updated" and set(event.payload.get("fields") or ()) <= TEXT_ONLY:
            return False
        if watcher.role in (Role.center_head.value, Role.admin.value):
            return True
        if watcher.site_id is not None and event.site_id == watcher.site_id:
            return True
        return watcher.role == Role.team_leader.value and watcher.team_id is not None \
            and event.team_id == watcher.team_id
    return False


def any_page_may_hear(event: Event) -> bool:
    """The topics `accepts` can let through for some watcher (runs on the bus's thread)."""
    topic = event.topic
    return topic == RESYNC_TOPIC or topic in PERSONAL_TOPICS or topic.startswith("ticket.") \
        or topic in ("notice.published", "notification.created")


def panels_for(page: str, event: Event) -> set[str]:
    panels = PAGES[page][1]
    if event.topic == RESYNC_TOPIC:
        return set(panels)
    table = DESKTOP if page == "desktop" else FLOOR
    if event.topic.startswith("ticket."):
        return {"tickets", "callbacks"} if page == "desktop" else {"escalations", "backlog"}
    return set(table.get(event.topic, ()))


def render_panels(watcher: Watcher, page: str, panels: set[str]) -> dict[str, str] | None:
    """The panels' fragments, read as the page reads them; None once the person may no longer watch."""
    ordered = [p for p in PAGES[page][1] if p in panels]
    with session_scope(reader=True) as session:
        if page == "desktop":
            desktop_view.prepare_for_audit(session, ordered)
        user = directory.find_user(session, watcher.user_id)
        if user is None or not user.is_active or not permissions.allowed(user.role, PAGES[page][0]):
            return None
        if page == "desktop":
            context = desktop_view.context(session, user, ordered, source_ip=watcher.ip, locale=watcher.locale)
        else:
            context = floor_view.context(session, user, ordered)
        return {panel: render_partial(f"{page}/_{panel}.html", context, locale=watcher.locale, zone=watcher.zone,
                                      csrf_token=watcher.csrf_token, viewer=watcher.viewer) for panel in ordered}


def _still_signed_in(token: str | None) -> bool:
    if token is None:
        return False
    with session_scope(reader=True) as session:
        return credentials.resolve_session(session, token=token) is not None


def catch_up(watcher: Watcher, page: str, missed: list[Event] | None) -> tuple[set[str], bool]:
    """On (re)connect: the panels to render, and whether the shared board must be sent. A page
    that says when it was rendered gets what the events since then touched; one that does not,
    or whose events this process cannot know, gets everything."""
    if missed is None:
        return set(PAGES[page][1]), True
    panels: set[str] = set()
    for event in missed:
        if accepts(watcher, page, event):
            panels |= panels_for(page, event)
    return panels, any(event.topic in BOARD_TOPICS for event in missed)


class SharedRenders:
    """One person's screens share their renders of a page's panels (the floor opened on a wall
    display and two desks, or a thousand browsers of one supervisor): a render that started
    after the latest event a screen must reflect serves that screen too, with the screen's own
    CSRF token put in. Per person, never across people: what a panel shows depends on its
    viewer's rights. Desktops are not shared: their reads of customer data are audited per view."""

    def __init__(self) -> None:
        self.entries: dict[tuple[object, ...], tuple[float, str, asyncio.Future[dict[str, str] | None]]] = {}

    async def render(self, watcher: Watcher, page: str, panels: set[str], since: float) -> dict[str, str] | None:
        loop = asyncio.get_running_loop()
        key = (watcher.user_id, page, frozenset(panels), watcher.locale, watcher.zone)
        entry = self.entries.get(key)
        if entry is None or entry[0] < since:
            now = loop.time()
            for stale in [k for k, (at, _t, f) in self.entries.items() if f.done() and at < now - 5.0]:
                del self.entries[stale]
            future: asyncio.Future[dict[str, str] | None] = asyncio.ensure_future(
                run_in_threadpool(render_panels, watcher, page, panels))
            entry = self.entries[key] = (now, watcher.csrf_token, future)
        _started, token, future = entry
        rendered = await asyncio.shield(future)
        if rendered is None or token == watcher.csrf_token or not token:
            return rendered
        return {panel: html.replace(token, watcher.csrf_token) for panel, html in rendered.items()}


def _shared_renders(state: object) -> SharedRenders:
    shared: SharedRenders | None = getattr(state, "live_shared_renders", None)
    if shared is None:
        shared = SharedRenders()
        state.live_shared_renders = shared  # type: ignore[attr-defined]
    return shared


WatchKey = tuple[str, int, str, int | None, int | None]


def watch_key(watcher: Watcher, page: str) -> WatchKey:
    """What `accepts` looks at: watchers alike in these hear the same events."""
    return (page, watcher.user_id, watcher.role, watcher.site_id, watcher.team_id)


class Dispatcher:
    """One bus stream per web process for every open live page. Each event is judged once per
    distinct watcher (the pages one person has open share the verdict) and handed to their
    connections on the event loop. Before, every page held its own stream, and the bus's thread
    offered each event to each of them: with a thousand floors open that was a fifth of the web
    process's time. A backlog that overflows costs every page a full refresh, never a lost change."""

    BACKLOG = 10_000

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.watchers: dict[WatchKey, dict[int, Connection]] = {}
        self.stopped = False
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="live-dispatch")
        await self._ready.wait()

    def add(self, connection: Connection) -> Callable[[], None]:
        key = watch_key(connection.watcher, connection.page)
        token = id(connection)
        self.watchers.setdefault(key, {})[token] = connection
        if self.stopped:
            connection.bus_closed()

        def remove() -> None:
            alike = self.watchers.get(key, {})
            alike.pop(token, None)
            if not alike:
                self.watchers.pop(key, None)

        return remove

    def dispatch(self, event: Event) -> None:
        for alike in list(self.watchers.values()):
            first = next(iter(alike.values()), None)
            if first is None or not accepts(first.watcher, first.page, event):
                continue
            for connection in list(alike.values()):
                connection.on_event(event)

    async def _listen(self) -> None:
        try:
            async with get_bus().stream(maxsize=self.BACKLOG, accept=any_page_may_hear) as events:
                self._ready.set()
                dropped = 0
                async for event in events:
                    if events.dropped != dropped:
                        dropped = events.dropped
                        log.warning("live pages fell behind the bus; every page refreshes")
                        for alike in list(self.watchers.values()):
                            for connection in list(alike.values()):
                                connection.refresh_all()
                    self.dispatch(event)
        except BusClosed:
            pass
        finally:
            self.stopped = True
            self._ready.set()
            for alike in list(self.watchers.values()):
                for connection in list(alike.values()):
                    connection.bus_closed()


async def get_dispatcher(state: Any) -> Dispatcher:
    """The dispatcher of this app on the running loop, started on first use (and again after the
    bus it listened to was replaced or closed)."""
    dispatcher: Dispatcher | None = getattr(state, "live_dispatcher", None)
    if dispatcher is None or dispatcher.stopped or dispatcher.loop is not asyncio.get_running_loop():
        dispatcher = Dispatcher()
        state.live_dispatcher = dispatcher
        await dispatcher.start()
    return dispatcher


class Connection:
    def __init__(self, websocket: WebSocket, watcher: Watcher, page: str,
                 missed: list[Event] | None = None) -> None:
        self.websocket, self.watcher, self.page = websocket, watcher, page
        self.peer = Peer(None, 0, None)  # its place in the fan-out, once it has joined
        self.dirty, self.board_stale = catch_up(watcher, page, missed)
        # The loop's time of the latest event this page must reflect (its opening, to begin with).
        self.marked_at = asyncio.get_running_loop().time()
        self.wake = asyncio.Event()
        self.sent: dict[str, str] = {}
        self.close_code: int | None = None
        self.ended = asyncio.Event()

    def bus_closed(self) -> None:
        """The bus closed: the server is stopping."""
        self.close_code = SERVICE_RESTART
        self.ended.set()

    def refresh_all(self) -> None:
        self.dirty |= set(PAGES[self.page][1])
        self.wake.set()

    def on_event(self, event: Event) -> None:
        self.dirty |= panels_for(self.page, event)
        if self.dirty:
            # When the event reached this process, not when this page's task got to it: a render
            # another screen started since then already reflects it.
            arrival = live_catchup.arrived(self.websocket.app.state, event)
            self.marked_at = max(self.marked_at, arrival if arrival is not None else asyncio.get_running_loop().time())
            self.wake.set()

    async def run(self) -> None:
        state = self.websocket.app.state
        dispatcher = await get_dispatcher(state)
        fanout = get_fanout(state)
        hub = await get_hub(state)
        kind = PAGES[self.page][2]
        scope = floor_view.board_scope_of(self.watcher.role, self.watcher.site_id) if kind == "wallboard" else None
        remove = dispatcher.add(self)
        try:
            channel, unsubscribe = hub.subscribe(BoardKey(kind, scope, self.watcher.locale))
            # A page that shows the current board starts at the board's latest change.
            self.peer = Peer(channel, 0 if self.board_stale else channel.seq, raw_sink(self.websocket.scope))
            leave = fanout.add(self.peer)
            self.wake.set()
            coros = [self.ended.wait(), self._render(), self._receive(), self._recheck()]
            if self.peer.sink is None:
                coros.append(self._send())  # no direct access to the socket: through ASGI
            tasks = [asyncio.create_task(coro) for coro in coros]
            try:
                done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if not task.cancelled() and task.exception() is not None \
                            and not isinstance(task.exception(), WebSocketDisconnect):
                        log.error("live connection failed", exc_info=task.exception())
            finally:
                leave()
                unsubscribe()
                for task in tasks:
                    task.cancel()
                # asyncio.wait, not gather: gather would re-raise a child's CancelledError as if this
                # task were cancelled, which the server's own cancellation handling does not expect.
                await asyncio.wait(tasks)
        finally:
            remove()

    async def _render(self) -> None:
        last = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            throttle = PAGES[self.page][3]
            if throttle and (delay := last + throttle - loop.time()) > 0:
                await asyncio.sleep(delay)
            self.wake.clear()
            panels, self.dirty = self.dirty, set()
            if not panels:
                continue
            last = loop.time()
            if self.page == "floor":
                shared = _shared_renders(self.websocket.app.state)
                rendered = await shared.render(self.watcher, self.page, panels, self.marked_at)
            else:
                rendered = await run_in_threadpool(render_panels, self.watcher, self.page, panels)
            if rendered is None:
                self.close_code = POLICY
                return
            fresh = False
            for panel, html in rendered.items():
                if self._unchanged(panel, html):
                    continue
                self.sent[panel] = html
                self.peer.put(panel, html)
                fresh = True
            if fresh:
                get_fanout(self.websocket.app.state).changed()

    def _unchanged(self, panel: str, html: str) -> bool:
        if panel == "ticket":
            # The form is resent only for another ticket: swapping it would drop what is being typed.
            old, new = _TICKET_KEY.search(self.sent.get(panel, "")), _TICKET_KEY.search(html)
            return old is not None and new is not None and old.group(1) == new.group(1)
        return self.sent.get(panel) == html

    async def _send(self) -> None:
        """The ASGI path: woken by the fan-out's ticks, sends what is new when the socket is free
        (the latest of each panel: a slow browser gets fewer, fresher messages)."""
        while True:
            await self.peer.wake.wait()
            self.peer.wake.clear()
            html = self.peer.take_text()
            if not html:
                continue
            try:
                await self.websocket.send_text(html)
            except Exception:  # noqa: BLE001 - the browser went away mid-send; the connection ends
                return

    async def _receive(self) -> None:
        while True:  # the page sends nothing; this notices the browser leaving
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    async def _recheck(self) -> None:
        while True:  # signing out elsewhere, or the session running out, ends the live page too
            await asyncio.sleep(RECHECK_SECONDS)
            if not await run_in_threadpool(_still_signed_in, self.watcher.session_token):
                self.close_code = SIGNED_OUT
                return


@router.websocket("/ws")
async def live(websocket: WebSocket, page: str = "desktop", since: float | None = None) -> None:
    """`since`: when the page was rendered (seconds since the epoch, from the page's server time)."""
    if page not in PAGES or not origin_allowed(websocket):
        await websocket.close(code=POLICY)
        return
    watcher = await run_in_threadpool(_authenticate, websocket)
    if watcher is None:
        await websocket.close(code=SIGNED_OUT)
        return
    if not permissions.allowed(watcher.role, PAGES[page][0]):
        await websocket.close(code=POLICY)
        return
    await websocket.accept()
    log.info("live page opened", extra={"user_id": watcher.user_id, "page": page})
    connection = Connection(websocket, watcher, page, live_catchup.missed(websocket.app.state, since))
    try:
        await connection.run()
    except WebSocketDisconnect:
        return
    if connection.close_code is not None:
        try:
            await websocket.close(code=connection.close_code)
        except RuntimeError:
            pass  # already closed by the browser
