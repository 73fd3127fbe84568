"""How the live pages' updates reach the browsers: in frames, at most one message per socket per
tick, each encoded once for every socket that needs the same bytes.

A **channel** holds what every socket of one audience is sent alike (one wallboard for one site
and language): the latest fragment of each of its parts and the change number at which each last
changed. A socket (a **peer**) remembers the change number it has been sent up to; what it is sent
next is every part changed since then, at its latest, so a burst of changes costs one message,
and a socket that fell behind gets one message that brings it to the latest state, never the
intermediate ones. Sockets at the same number (normally all of them) share one text and one
encoded websocket frame. What is a peer's own (its person's panels, with its own CSRF token)
rides in the same message.

The **fan-out** (one per event loop) writes on ticks. Under uvicorn's websocket protocol it
writes the pre-encoded frame straight to each socket's transport, never waiting: a socket whose
unsent bytes are over `HIGH_WATER` is skipped (it is behind) and looked at again on the next tick,
so a slow browser neither holds the others back nor piles up a backlog: it converges to the
latest state when it drains. Under any other server (or with per-message compression
negotiated) each socket has a task that sends through ASGI, composing its message when it is
free to send, with the same guarantees but a text to encode per socket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

log = logging.getLogger("hotline.live")

TICK = 0.1  # seconds: at most one message per socket per tick
HIGH_WATER = 64 * 1024  # unsent bytes past which a socket is behind (asyncio's own high-water mark)
PROTOCOL_KEY = "hotline.ws_protocol"  # where FrameAccess leaves the server's protocol in the scope


def text_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final websocket text frame (as a server sends it)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class Channel:
    """What the sockets of one audience are sent alike; see the module's description."""

    def __init__(self) -> None:
        self.seq = 0  # the latest change
        self.base = 0  # the change at which the whole fragment was last replaced
        self.whole: str | None = None  # the latest whole fragment
        self.parts: dict[str, tuple[int, str]] = {}  # part -> (its latest change, its latest fragment)
        self._texts: dict[int, str] = {}
        self._payloads: dict[int, bytes] = {}
        self._frames: dict[int, bytes] = {}

    def replace(self, whole: str) -> None:
        """The whole fragment is new (the first render, or its parts are not the ones it had)."""
        self.seq += 1
        self.base, self.whole, self.parts = self.seq, whole, {}
        self._forget()

    def update(self, whole: str, parts: list[tuple[str, str]]) -> None:
        """These parts of the whole changed (none: nothing to send, the whole is just fresher)."""
        self.whole = whole
        if not parts:
            return
        self.seq += 1
        for part, html in parts:
            self.parts[part] = (self.seq, html)
        self._forget()

    def _forget(self) -> None:
        self._texts.clear()
        self._payloads.clear()
        self._frames.clear()

    def text_since(self, seen: int) -> str:
        """What a socket sent everything up to change `seen` needs ("" for nothing)."""
        if seen >= self.seq:
            return ""
        text = self._texts.get(seen)
        if text is None:
            if seen < self.base:
                text = self.whole or ""
            else:  # the parts in the board's order (each kept where it first appeared)
                text = "".join(html for changed, html in self.parts.values() if changed > seen)
            self._texts[seen] = text
        return text

    def payload_since(self, seen: int) -> bytes:
        payload = self._payloads.get(seen)
        if payload is None:
            payload = self._payloads[seen] = self.text_since(seen).encode()
        return payload

    def frame_since(self, seen: int) -> bytes:
        frame = self._frames.get(seen)
        if frame is None:
            payload = self.payload_since(seen)
            frame = self._frames[seen] = text_frame(payload) if payload else b""
        return frame


class RawSink:
    """A socket's transport, written to directly with pre-encoded frames."""

    def __init__(self, transport: asyncio.WriteTransport, is_open: Callable[[], bool], *,
                 high_water: int = HIGH_WATER) -> None:
        self.transport, self._is_open, self.high_water = transport, is_open, high_water

    def open(self) -> bool:
        return self._is_open() and not self.transport.is_closing()

    def ready(self) -> bool:
        """Whether the socket took what it was sent before (else it is behind and waits)."""
        return self.transport.get_write_buffer_size() < self.high_water

    def write(self, frame: bytes) -> None:
        self.transport.write(frame)


class Peer:
    """One socket's place in the fan-out: its channel (if any), how far it has been sent, and the
    latest of its own panels not sent yet."""

    def __init__(self, channel: Channel | None, seen: int, sink: RawSink | None) -> None:
        self.channel, self.seen, self.sink = channel, seen, sink
        self.own: dict[str, str] = {}
        self.wake = asyncio.Event()  # the ASGI path's sender: something to send

    def put(self, panel: str, html: str) -> None:
        self.own[panel] = html

    def pending(self) -> bool:
        return bool(self.own) or (self.channel is not None and self.channel.seq > self.seen)

    def take_text(self) -> str:
        """The message, marked as sent ("" for none)."""
        shared = ""
        if self.channel is not None:
            shared = self.channel.text_since(self.seen)
            self.seen = self.channel.seq
        own, self.own = self.own, {}
        return shared + "".join(own.values()) if own else shared

    def take_frame(self) -> bytes:
        """The message as a frame, marked as sent (b"" for none): the channel's shared frame when
        the peer has nothing of its own, as it mostly has not."""
        if self.own:
            return text_frame(self.take_text().encode())
        if self.channel is None:
            return b""
        frame = self.channel.frame_since(self.seen)
        self.seen = self.channel.seq
        return frame


class Fanout:
    """Every live socket of one event loop; `changed()` asks for a flush, which happens at once if
    none happened in the last tick, else at the end of that tick."""

    def __init__(self, *, tick: float = TICK) -> None:
        self.loop = asyncio.get_running_loop()
        self.tick = tick
        self.peers: dict[int, Peer] = {}
        self.messages = 0  # written by the raw path (for tests and benchmarks)
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._last = float("-inf")

    def add(self, peer: Peer) -> Callable[[], None]:
        self.peers[id(peer)] = peer
        if peer.pending():
            self.changed()

        def remove() -> None:
            self.peers.pop(id(peer), None)

        return remove

    def changed(self) -> None:
        if self._handle is not None:
            return
        delay = self._last + self.tick - self.loop.time()
        self._handle = self.loop.call_later(delay, self.flush) if delay > 0 else self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand every peer with something new its message: written now on the raw path, or its
        sender woken. A peer whose socket is behind is left for a later tick."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._last = self.loop.time()
        behind = False
        for peer in list(self.peers.values()):
            if not peer.pending():
                continue
            sink = peer.sink
            if sink is None:
                peer.wake.set()
                continue
            if not sink.open():
                continue  # closing: its connection ends on its own
            if not sink.ready():
                behind = True
                continue
            frame = peer.take_frame()
            if frame:
                sink.write(frame)
                self.messages += 1
        if behind:
            self.changed()


def get_fanout(state: Any) -> Fanout:
    """The fan-out of this app on the running loop."""
    fanout: Fanout | None = getattr(state, "live_fanout", None)
    if fanout is None or fanout.loop is not asyncio.get_running_loop():
        fanout = Fanout(tick=getattr(state, "live_tick", TICK))
        state.live_fanout = fanout
    return fanout


# Direct access to uvicorn's websocket protocol ------------------------------------------------

try:  # uvicorn's default websocket protocol when `websockets` is installed (as it is here)
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - another server: the ASGI path
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]


class FrameAccess:
    """ASGI middleware, outermost: for a websocket served by uvicorn's websockets protocol, leaves
    that protocol in the scope, so the live pages can write pre-encoded frames to its transport.
    ASGI has no way to send bytes already framed; every other server goes through ASGI."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and WebSocketsSansIOProtocol is not None:
            protocol = getattr(send, "__self__", None)
            if isinstance(protocol, WebSocketsSansIOProtocol):
                scope[PROTOCOL_KEY] = protocol
        await self.app(scope, receive, send)


def raw_sink(scope: Any) -> RawSink | None:
    """After the handshake: the socket's transport, when frames can go to it as they are (uvicorn's
    protocol, no per-message compression negotiated); None otherwise."""
    protocol = scope.get(PROTOCOL_KEY)
    if protocol is None:
        return None
    try:
        conn, transport = protocol.conn, protocol.transport
        if conn.extensions or conn.state is not State.OPEN or not protocol.handshake_complete:
            return None
    except AttributeError:  # a uvicorn whose protocol is not the one this was written for
        log.warning("live pages: the server's websocket protocol is not the one expected; sending through ASGI")
        return None

    def is_open() -> bool:  # a close received closes the transport, which RawSink.open checks too
        return not protocol.close_sent and not protocol.disconnected

    return RawSink(transport, is_open)


__all__ = ["Channel", "Fanout", "FrameAccess", "Peer", "RawSink", "TICK", "get_fanout", "raw_sink", "text_frame"]
