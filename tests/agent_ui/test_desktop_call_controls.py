"""The desktop's in-call controls: hold and its time, a paused recording, a transfer to a queue
under way (and its cancel), and a leader monitoring the call where the site tells its agents;
the buttons call the JSON API with the session's CSRF token, as the page's script does."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.db import session_scope
from telephony import monitoring
from tests.agent_ui.desk import Desk, desk, ring_agent, set_presence
from tests.factories import cheap_password_hashing, fresh, make_api_token, signed_in_client
from tests.telephony.hub import eager_tasks, sim

__all__ = ["cheap_password_hashing", "desk", "eager_tasks", "sim"]


def _on_a_call(client: TestClient, desk: Desk, sim) -> int:  # type: ignore[no-untyped-def]
    set_presence(desk.agent, "available")
    ring_agent(sim, desk.agent)
    signed_in_client(client, desk.agent)
    assert client.post("/desktop/phone/answer", follow_redirects=False).status_code == 303
    sim.pump()
    sim.advance(5)
    page = client.get("/desktop").text
    return int(re.search(r'id="call-controls" data-call-id="(\d+)"', page).group(1))


def test_hold_state_and_time_on_the_call_panel(client: TestClient, session: Session, desk: Desk,
                                               sim) -> None:  # type: ignore[no-untyped-def]
    call_id = _on_a_call(client, desk, sim)
    page = client.get("/desktop").text
    assert f'action="/api/v1/calls/{call_id}/hold" data-call-control' in page
    assert 'id="hold-state"' not in page and "Time on hold this call: 0:00" in page
    assert client.post(f"/api/v1/calls/{call_id}/hold").status_code == 200  # cookie session + CSRF header
    sim.advance(30)
    page = client.get("/desktop").text
    assert 'id="hold-state"' in page and "Caller on hold" in page
    assert f'action="/api/v1/calls/{call_id}/resume"' in page and "Time on hold this call: 0:30" in page
    assert client.post(f"/api/v1/calls/{call_id}/resume").status_code == 200
    sim.advance(10)
    page = client.get("/desktop").text
    assert 'id="hold-state"' not in page and "Time on hold this call: 0:30" in page
    # Without the CSRF token the cookie session cannot act.
    token = client.headers.pop("X-CSRF-Token")
    assert client.post(f"/api/v1/calls/{call_id}/hold").status_code == 403
    client.headers["X-CSRF-Token"] = token


def test_recording_pause_and_a_queue_transfer_show_and_can_be_cancelled(
        client: TestClient, session: Session, desk: Desk, sim) -> None:  # type: ignore[no-untyped-def]
    call_id = _on_a_call(client, desk, sim)
    assert client.post(f"/api/v1/calls/{call_id}/recording/pause").status_code == 200
    page = client.get("/desktop").text
    assert 'id="recording-state"' in page and f'action="/api/v1/calls/{call_id}/recording/resume"' in page
    assert '<option value="complaint">Complaints</option>' in page
    moved = client.post(f"/api/v1/calls/{call_id}/transfer", json={"to_queue": "complaint", "warm": True})
    assert moved.status_code == 200, moved.text
    page = client.get("/desktop").text
    assert "Transferring to the Complaints queue" in page and 'id="recording-state"' not in page  # resumed
    assert f'action="/api/v1/calls/{call_id}/transfer/cancel"' in page and 'class="transfer-form"' not in page
    assert client.post(f"/api/v1/calls/{call_id}/transfer/cancel").status_code == 200
    page = client.get("/desktop").text
    assert 'id="transfer-state"' not in page and 'class="transfer-form"' in page


def test_the_agent_sees_a_leader_listening_unless_the_site_says_not_to(
        client: TestClient, session: Session, desk: Desk, sim) -> None:  # type: ignore[no-untyped-def]
    call_id = _on_a_call(client, desk, sim)
    token = make_api_token(fresh(session), desk.team_leader)
    listen = client.post(f"/api/v1/calls/{call_id}/monitor", json={"mode": "listen"},
                         headers={"Authorization": f"Bearer {token}"})
    assert listen.status_code == 200, listen.text
    sim.pump()
    sim.phone(f"agent_{desk.team_leader.id}").answer()
    sim.pump()
    page = client.get("/desktop").text
    assert "A team leader is listening" in page
    with session_scope() as own:
        from tests.factories import make_user

        admin = make_user(own, role="admin", username="root")
        monitoring.set_site_policy(own, site_id=desk.site.id, announce_monitoring=False, by=admin)
    page = client.get("/desktop").text
    assert "A team leader is listening" not in page and 'id="monitored-state"' not in page
