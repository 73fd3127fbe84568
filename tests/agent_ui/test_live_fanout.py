"""The live pages' fan-out: under the real server (uvicorn on a loopback port) a board change is
encoded once for every floor watching it, not once per browser; a burst of changes is one frame
per socket with the latest of each part; a socket that stops reading holds no other back, has a
bounded backlog, and gets the latest state when it reads again."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from agent_ui import live_frames
from agent_ui.live_frames import Channel, Fanout, Peer, RawSink
from core.models import User
from tests.agent_ui.desk import Desk, desk, set_presence
from tests.factories import cheap_password_hashing

__all__ = ["cheap_password_hashing", "desk"]


def _cookie_for(session: Session, user: User) -> str:
    """A browser's sign-in cookie, as the sign-in form would set it."""
    from starlette.responses import Response

    from core import credentials
    from core.auth import set_session_cookie

    _row, token = credentials.start_session(session, user=user, ip="127.0.0.1", user_agent="test")
    session.commit()
    response = Response()
    set_session_cookie(response, token)
    return response.headers["set-cookie"].split(";")[0]


@pytest.fixture
def compression() -> bool:
    return False


@pytest.fixture
def served(app: Any, compression: bool) -> Iterator[str]:
    """The app behind uvicorn (as `hotline serve` runs it) on a loopback port; its websocket URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", ws_per_message_deflate=compression,
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-fanout-server", daemon=True)
    thread.start()
    waiter = threading.Event()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        waiter.wait(0.02)
    yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


async def _until(ws: Any, *markers: str) -> str:
    seen = ""
    while not all(marker in seen for marker in markers):
        seen += await asyncio.wait_for(ws.recv(), 30)
    return seen


def _board_change_to_floors(served: str, session: Session, desk: Desk, monkeypatch: pytest.MonkeyPatch,
                            floors: int) -> list[int]:
    """Open `floors` floors, change the board once; the text frames the server encoded for it."""
    cookie = _cookie_for(session, desk.supervisor)
    encoded: list[int] = []
    serialize = Frame.serialize

    def counted(self: Frame, **kwargs: Any) -> bytes:
        if self.opcode is Opcode.TEXT and not kwargs.get("mask"):
            encoded.append(len(self.data))
        return serialize(self, **kwargs)

    async def scenario() -> list[str]:
        sockets = [await connect(f"{served}/ws?page=floor", additional_headers={"Cookie": cookie})
                   for _ in range(floors)]
        try:
            for ws in sockets:
                await _until(ws, 'id="wallboard"', 'id="grants-panel"')  # the whole board and panels, on connect
            monkeypatch.setattr(Frame, "serialize", counted)
            await asyncio.to_thread(set_presence, desk.agent, "available")
            return [await _until(ws, 'id="stat-available">1<') for ws in sockets]
        finally:
            monkeypatch.setattr(Frame, "serialize", serialize)
            for ws in sockets:
                await ws.close()

    updates = asyncio.run(scenario())
    assert all('id="wallboard-stats"' in update and "An Agent" in update for update in updates)
    return encoded


def test_one_board_change_is_encoded_once_for_every_floor(served: str, session: Session, desk: Desk,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = _board_change_to_floors(served, session, desk, monkeypatch, floors=12)
    # One frame built for the twelve floors (before: one per floor, each its own copy of the text).
    assert len(encoded) == 1, encoded


@pytest.mark.parametrize("compression", [True])
def test_with_compression_each_floor_is_sent_through_asgi(served: str, session: Session, desk: Desk,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The browsers ask for per-message compression and the server grants it: frames cannot be
    # shared (each socket compresses with its own context), so each goes through the server.
    encoded = _board_change_to_floors(served, session, desk, monkeypatch, floors=3)
    assert len(encoded) == 3, encoded


# The fan-out itself, on real sockets (socket pairs): what a browser would read off the wire ------

_KEEP: list[asyncio.StreamWriter] = []  # the browsers' ends stay open while the test reads them


def _close_browsers() -> None:
    while _KEEP:
        _KEEP.pop().close()


async def _socket(loop: asyncio.AbstractEventLoop, *,
                  tiny_buffers: bool = False) -> tuple[RawSink, asyncio.StreamReader]:
    """The server's end as a RawSink, the browser's end as a reader. `tiny_buffers`: the kernel
    holds little, so a browser that stops reading soon leaves bytes unsent in the transport."""
    ours, theirs = socket.socketpair()
    if tiny_buffers:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    transport, _protocol = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    reader, writer = await asyncio.open_connection(sock=theirs)
    _KEEP.append(writer)
    return RawSink(transport, lambda: True), reader  # type: ignore[arg-type]


async def _frame(reader: asyncio.StreamReader) -> str:
    """One unmasked text frame, as a browser receives it."""
    head = await asyncio.wait_for(reader.readexactly(2), 10)
    assert head[0] == 0x81, head  # final text frame
    size = head[1] & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    return (await reader.readexactly(size)).decode()


def _board(n: int) -> list[tuple[str, str]]:
    return [("board:a", f'<p id="a">a{n}</p>'), ("board:b", f'<p id="b">b{n}</p>')]


def test_a_burst_of_changes_is_one_frame_per_socket_with_the_latest_of_each_part() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        fanout = Fanout(tick=3600)  # flushed by hand below
        channel = Channel()
        channel.replace('<div id="board"><p id="a">a0</p><p id="b">b0</p></div>')
        sockets = [await _socket(loop) for _ in range(3)]
        for sink, _reader in sockets:
            fanout.add(Peer(channel, channel.seq, sink))  # their pages show the board already
        encoded: list[bytes] = []
        real = live_frames.text_frame

        def counted(payload: bytes) -> bytes:
            encoded.append(payload)
            return real(payload)

        live_frames.text_frame = counted  # type: ignore[assignment]
        try:
            for n in range(1, 101):  # a hundred changes within one tick
                channel.update("", _board(n)[: 1 + n % 2])  # part a each time, b every other time
                fanout.changed()
            fanout.flush()
        finally:
            live_frames.text_frame = real  # type: ignore[assignment]
        assert fanout.messages == 3 and len(encoded) == 1
        for _sink, reader in sockets:
            assert await _frame(reader) == '<p id="a">a100</p><p id="b">b99</p>'
        fanout.flush()  # nothing new: nothing sent
        assert fanout.messages == 3
        _close_browsers()

    asyncio.run(scenario())


def test_a_slow_socket_holds_no_one_back_and_converges_to_the_latest_state() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        fanout = Fanout(tick=3600)
        channel = Channel()
        channel.replace('<div id="board"><p id="a">a0</p><p id="b">b0</p></div>')
        quick = [await _socket(loop) for _ in range(2)]
        slow_sink, slow_reader = await _socket(loop, tiny_buffers=True)
        for sink, _reader in [*quick, (slow_sink, slow_reader)]:
            fanout.add(Peer(channel, channel.seq, sink))
        filler = "x" * 8000
        rounds, most_unsent = 60, 0
        for n in range(1, rounds + 1):
            channel.update("", [(part, html.replace("</p>", f"{filler}</p>")) for part, html in _board(n)])
            fanout.flush()  # never waits for the slow socket
            for _sink, reader in quick:  # the others get every change as it comes
                assert f">a{n}{filler}<" in await _frame(reader)
            most_unsent = max(most_unsent, slow_sink.transport.get_write_buffer_size())
        # The slow socket was skipped once behind: what waits for it is bounded, not 60 frames.
        assert 0 < most_unsent < live_frames.HIGH_WATER + 20_000
        received = []
        while not received or f">a{rounds}{filler}<" not in received[-1]:
            received.append(await _frame(slow_reader))  # the browser reads again
            fanout.flush()  # its next tick
        assert f">b{rounds}{filler}<" in received[-1]  # every part at its latest
        assert len(received) < rounds / 2
        assert [f">a{n}{filler}<" in received[-1] for n in (rounds - 1, rounds)] == [False, True]
        _close_browsers()

    asyncio.run(scenario())
