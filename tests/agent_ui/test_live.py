"""The live websocket: who may open it (sign-in, role, Origin), the current state on connect,
a fragment after an event, and nothing from events outside the person's rights."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from agent_ui import live
from core.events import Event
from tests.agent_ui.desk import Desk, desk, grant_for, set_presence
from tests.factories import cheap_password_hashing, signed_in_client
from tickets import grants

__all__ = ["cheap_password_hashing", "desk"]

DESKTOP_PANELS = ("presence-panel", "notices-panel", "offer-panel", "call-panel", "ticket-panel", "callbacks-panel",
                  "tickets-panel", "queue-panel")


def receive_until(ws, *ids: str, limit: int = 12) -> str:  # type: ignore[no-untyped-def]
    """Messages until every id has arrived; returns them joined."""
    seen = ""
    for _ in range(limit):
        seen += ws.receive_text()
        if all(f'id="{i}"' in seen for i in ids):
            return seen
    raise AssertionError(f"never received {ids}: {seen[:500]}")


def test_a_signed_out_browser_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws?page=desktop"):
        pass
    assert refused.value.code == live.SIGNED_OUT


def test_another_sites_origin_is_refused(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.agent)
    with pytest.raises(WebSocketDisconnect) as refused, \
            client.websocket_connect("/ws?page=desktop", headers={"Origin": "https://evil.example"}):
        pass
    assert refused.value.code == live.POLICY
    with client.websocket_connect("/ws?page=desktop", headers={"Origin": "http://testserver"}) as ws:
        receive_until(ws, "presence-panel")


def test_a_page_beyond_the_role_is_refused(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.agent)
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws?page=floor"):
        pass
    assert refused.value.code == live.POLICY
    signed_in_client(client, desk.qa)
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws?page=desktop"):
        pass


def test_the_desktop_gets_its_state_then_its_own_events_only(client: TestClient, session: Session,
                                                            desk: Desk) -> None:
    signed_in_client(client, desk.agent)
    with client.websocket_connect("/ws?page=desktop") as ws:
        first = receive_until(ws, *DESKTOP_PANELS)
        assert "Offline" in first and "csrf_token" in first
        set_presence(desk.agent, "available")
        update = receive_until(ws, "presence-panel")
        assert 'aria-pressed="true">Available' in update
        # A teammate's presence is not this agent's business; the next fragment is the agent's own.
        set_presence(desk.teammate, "break")
        set_presence(desk.agent, "away")
        update = receive_until(ws, "presence-panel")
        assert 'aria-pressed="true">Away' in update and "Bo Teammate" not in update
        assert "Break</span>" not in update


def test_a_callback_disables_when_its_authorisation_expires(client: TestClient, session: Session, desk: Desk,
                                                           clock) -> None:  # type: ignore[no-untyped-def]
    grant_id = grant_for(session, desk, minutes=30)
    signed_in_client(client, desk.agent)
    with client.websocket_connect("/ws?page=desktop") as ws:
        first = receive_until(ws, *DESKTOP_PANELS)
        assert f'id="dial-{grant_id}" data-disable-on-expiry' in first
        clock.advance(minutes=30)
        assert grants.record_expiries(session) == 1
        session.commit()
        update = receive_until(ws, "callbacks-panel")
        assert f'id="dial-{grant_id}" disabled' in update and "Expired" in update


def test_the_floor_sees_its_site_change_and_not_another(client: TestClient, session: Session, desk: Desk) -> None:
    signed_in_client(client, desk.supervisor)
    with client.websocket_connect("/ws?page=floor") as ws:
        first = receive_until(ws, "wallboard", "escalations-panel", "backlog-panel", "grants-panel")
        assert 'id="stat-available">0<' in first
        set_presence(desk.other_agent, "available")  # another site: not on this wallboard
        set_presence(desk.agent, "available")
        # Only the parts of the board that changed come, each replacing its element by id.
        update = receive_until(ws, "wallboard-stats", "wallboard-state-available")
        assert 'id="stat-available">1<' in update and "An Agent" in update and "Far Agent" not in update
        assert 'id="wallboard-asof"' in update and 'id="wallboard-queues"' not in update


def test_a_resync_sends_everything_again(client: TestClient, desk: Desk) -> None:
    from core.events import get_bus

    signed_in_client(client, desk.agent)
    with client.websocket_connect("/ws?page=desktop") as ws:
        receive_until(ws, *DESKTOP_PANELS)
        set_presence(desk.agent, "break")
        receive_until(ws, "presence-panel")
        # After a lost Redis connection the bus says so; every panel is re-read (only changes are sent).
        get_bus()._deliver(Event(topic="bus.resync"))
        set_presence(desk.agent, "available")
        assert 'aria-pressed="true">Available' in receive_until(ws, "presence-panel")


def test_one_bus_stream_serves_every_open_page_and_each_person_is_judged_once(
        client: TestClient, desk: Desk) -> None:
    from core.events import get_bus

    bus = get_bus()
    signed_in_client(client, desk.agent)
    with client.websocket_connect("/ws?page=desktop") as first:
        receive_until(first, *DESKTOP_PANELS)
        streams = len(bus._streams)  # the dispatcher's and the shared boards'
        with client.websocket_connect("/ws?page=desktop") as second:
            receive_until(second, *DESKTOP_PANELS)
            assert len(bus._streams) == streams  # a second page adds no stream
            dispatcher = client.app.state.live_dispatcher  # type: ignore[attr-defined]
            assert [len(pages) for pages in dispatcher.watchers.values()] == [2]  # one person, two pages
            set_presence(desk.agent, "break")
            for ws in (first, second):  # both of the person's pages hear it
                assert 'aria-pressed="true">Break' in receive_until(ws, "presence-panel")
        set_presence(desk.agent, "available")
        assert 'aria-pressed="true">Available' in receive_until(first, "presence-panel")
        assert [len(pages) for pages in dispatcher.watchers.values()] == [1]  # the closed page left


def test_live_pages_that_fall_behind_the_bus_refresh_everything(client: TestClient, desk: Desk, monkeypatch,
                                                                 caplog) -> None:  # type: ignore[no-untyped-def]
    from core.events import get_bus

    monkeypatch.setattr(live.Dispatcher, "BACKLOG", 1)
    signed_in_client(client, desk.agent)
    with client.websocket_connect("/ws?page=desktop") as ws:
        receive_until(ws, *DESKTOP_PANELS)
        with caplog.at_level("WARNING", logger="hotline.live"):
            for n in range(20):  # faster than the loop takes them: the backlog of one overflows
                get_bus()._deliver(Event(topic="ticket.updated", payload={"assignee_id": desk.agent.id, "n": n}))
            set_presence(desk.agent, "break")
            assert 'aria-pressed="true">Break' in receive_until(ws, "presence-panel")
        assert "live pages fell behind the bus; every page refreshes" in caplog.text


def test_a_closing_bus_closes_the_live_pages_as_a_restart(client: TestClient, desk: Desk) -> None:
    from core.events import get_bus

    signed_in_client(client, desk.agent)
    with client.websocket_connect("/ws?page=desktop") as ws:
        receive_until(ws, *DESKTOP_PANELS)
        get_bus().close()
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_text()
        assert closed.value.code == live.SERVICE_RESTART
