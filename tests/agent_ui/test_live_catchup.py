"""A live page says when it was rendered; on connecting, its websocket gets only the panels the
events since then touched (nothing again for a fresh page), and everything when the process
cannot know what was missed."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from agent_ui.live_catchup import MARGIN_SECONDS, WINDOW_SECONDS, RecentEvents
from core.events import Event, InProcessBus, get_bus
from tests.agent_ui.desk import Desk, desk, grant_for, set_presence
from tests.agent_ui.test_live import receive_until
from tests.factories import cheap_password_hashing, signed_in_client

__all__ = ["cheap_password_hashing", "desk"]

_WS = re.compile(r'ws-connect="([^"]+)"')
FLOOR_PANELS = ('id="escalations-panel"', 'id="backlog-panel"', 'id="grants-panel"')


def _live_url(client: TestClient, path: str) -> str:
    return html.unescape(_WS.search(client.get(path).text).group(1))


def test_a_fresh_floor_page_is_not_sent_its_panels_again(client: TestClient, desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    signed_in_client(client, desk.supervisor)
    clock.advance(seconds=60)  # the process has been listening for a while
    with client.websocket_connect("/ws?page=floor") as other:  # another floor: the board is current here
        receive_until(other, "wallboard", "grants-panel")
        url = _live_url(client, "/floor")
        assert "since=" in url
        with client.websocket_connect(url) as ws:
            set_presence(desk.agent, "available")
            first = ws.receive_text()
            # The first thing to come is the board's change: no panel sent again, no whole board.
            assert 'id="stat-available">1<' in first and 'id="wallboard"' not in first
            assert not any(panel in first for panel in FLOOR_PANELS)


def test_events_between_render_and_connect_send_only_their_panels(client: TestClient, desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    signed_in_client(client, desk.supervisor)
    clock.advance(seconds=60)
    url = _live_url(client, "/floor")
    get_bus()._deliver(Event(topic="grant.changed", site_id=desk.site.id))  # after the page's reads
    with client.websocket_connect(url) as ws:
        first = receive_until(ws, "grants-panel", "wallboard")
        assert 'id="escalations-panel"' not in first and 'id="backlog-panel"' not in first


def test_a_page_from_before_the_process_listened_gets_everything(client: TestClient, desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    signed_in_client(client, desk.agent)
    url = _live_url(client, "/desktop")  # rendered as the process started: it cannot know what came before
    with client.websocket_connect(url) as ws:
        receive_until(ws, "presence-panel", "notices-panel", "offer-panel", "call-panel", "ticket-panel",
                      "callbacks-panel", "tickets-panel")


def test_recent_events_know_only_their_window(clock) -> None:  # type: ignore[no-untyped-def]
    bus = InProcessBus()
    recent = RecentEvents(bus, window=WINDOW_SECONDS)
    started = clock.now().timestamp()
    assert recent.since(started) is None  # a page of this moment may hold what came just before
    clock.advance(seconds=30)
    first = Event(topic="presence.changed")
    bus.publish(first)
    clock.advance(seconds=30)
    second = Event(topic="grant.changed")
    bus.publish(second)
    now = clock.now().timestamp()
    assert recent.since(now) == [second]  # within the margin before the page's time
    assert recent.since(now - 30 + MARGIN_SECONDS) == [first, second]
    assert recent.since(now + 60) == []
    clock.advance(seconds=WINDOW_SECONDS)
    bus.publish(Event(topic="queue.changed"))  # the first one is now forgotten
    assert recent.since(now - 31 + MARGIN_SECONDS) is None  # a page from before it
    assert [e.topic for e in recent.since(now)] == ["grant.changed", "queue.changed"]
    recent.close()
    bus.publish(Event(topic="queue.changed"))
    assert len(recent.since(clock.now().timestamp())) == 1


def test_one_persons_floors_share_a_render_each_with_its_own_csrf_token(client: TestClient, session, desk: Desk,  # type: ignore[no-untyped-def]
                                                                        monkeypatch) -> None:
    from agent_ui import live

    renders: list[set[str]] = []
    real = live.render_panels

    def counted(watcher, page, panels):  # type: ignore[no-untyped-def]
        renders.append(set(panels))
        return real(watcher, page, panels)

    monkeypatch.setattr(live, "render_panels", counted)
    from core.auth import SESSION_COOKIE

    screens = []
    for _ in range(2):  # the same person signed in on two screens: two sessions, two CSRF tokens
        signed_in_client(client, desk.supervisor)
        screens.append((f"{SESSION_COOKIE}={client.cookies.get(SESSION_COOKIE)}", client.headers["X-CSRF-Token"]))
        client.cookies.clear()  # a new browser: the first session stays signed in
    tokens = [token for _cookie, token in screens]
    assert tokens[0] != tokens[1]
    with client.websocket_connect("/ws?page=floor", headers={"Cookie": screens[0][0]}) as first, \
            client.websocket_connect("/ws?page=floor", headers={"Cookie": screens[1][0]}) as second:
        receive_until(first, "grants-panel")
        receive_until(second, "grants-panel")
        renders.clear()
        grant_for(session, desk)  # a new authorisation: both screens' grants panel changes
        panels = [receive_until(first, "grants-panel"), receive_until(second, "grants-panel")]
    for mine, theirs, panel in ((tokens[0], tokens[1], panels[0]), (tokens[1], tokens[0], panels[1])):
        assert mine in panel and theirs not in panel
    # Each wake-up of the two screens was rendered once for both (the grant's ticket and the grant
    # itself may wake them once or twice, with the same or different panels).
    assert renders and any("grants" in r for r in renders)
    assert len(renders) == len({frozenset(r) for r in renders})
