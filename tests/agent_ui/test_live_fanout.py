"""The live pages' fan-out under the real server (uvicorn on a loopback port): a board change is
encoded once for every floor watching it, not once per browser."""

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
def served(app: Any) -> Iterator[str]:
    """The app behind uvicorn (as `hotline serve` runs it) on a loopback port; its websocket URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", ws_per_message_deflate=False,
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


async def _until(ws: Any, marker: str) -> str:
    seen = ""
    while marker not in seen:
        seen += await asyncio.wait_for(ws.recv(), 30)
    return seen


def test_one_board_change_is_encoded_once_for_every_floor(served: str, session: Session, desk: Desk,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cookie = _cookie_for(session, desk.supervisor)
    floors = 12
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
                await _until(ws, 'id="wallboard"')  # the whole board, on connect
            monkeypatch.setattr(Frame, "serialize", counted)
            await asyncio.to_thread(set_presence, desk.agent, "available")
            return [await _until(ws, 'id="stat-available">1<') for ws in sockets]
        finally:
            monkeypatch.setattr(Frame, "serialize", serialize)
            for ws in sockets:
                await ws.close()

    updates = asyncio.run(scenario())
    assert all('id="wallboard-stats"' in update and "An Agent" in update for update in updates)
    # One frame built for the twelve floors (before: one per floor, each its own copy of the text).
    assert len(encoded) == 1, encoded
