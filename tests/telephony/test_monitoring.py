"""The agent sees that a leader is monitoring their call, where the site's policy says so (the
default), on the desktop's call panel and as a live event; a site may switch that off."""

from __future__ import annotations

from core.models import Role
from telephony import controls, monitoring
from tests.factories import fresh, make_user
from tests.telephony.controls_helpers import bearer, connected_call, events
from tests.telephony.hub import Hub


def _listen(client, sim, session, call_id: int, leader) -> str:
    response = client.post(f"/api/v1/calls/{call_id}/monitor", json={"mode": "listen"},
                           headers=bearer(session, leader))
    assert response.status_code == 200, response.text
    sim.pump()
    [leg] = sim.phone(f"agent_{leader.id}").ringing()
    sim.phone(f"agent_{leader.id}").answer()
    sim.pump()
    return leg


def test_the_agent_sees_who_monitors_by_default_and_not_once_they_left(client, sim, hub: Hub, session,
                                                                       monkeypatch) -> None:
    leader = make_user(session, role=Role.team_leader, site=hub.site)
    call, _ = connected_call(session, sim, hub.agent)
    told: list[tuple[str, dict, int | None]] = []
    monkeypatch.setattr(monitoring, "publish",
                        lambda s, topic, payload, **kw: told.append((topic, payload, kw.get("user_id"))))
    fresh(session)
    assert monitoring.desk_controls(session, call_id=call.id).monitored is None
    leg = _listen(client, sim, session, call.id, leader)
    fresh(session)
    assert monitoring.desk_controls(session, call_id=call.id).monitored == "listen"
    assert told[-1][0] == "call.monitored" and told[-1][1]["mode"] == "listen" and told[-1][2] == hub.agent.id
    assert client.post(f"/api/v1/calls/{call.id}/monitor", json={"mode": "whisper"},
                       headers=bearer(session, leader)).status_code == 200
    fresh(session)
    assert monitoring.desk_controls(session, call_id=call.id).monitored == "whisper"
    sim.hangup(leg)
    sim.pump()
    fresh(session)
    assert monitoring.desk_controls(session, call_id=call.id).monitored is None
    assert told[-1][0] == "call.monitored" and told[-1][1]["mode"] is None
    assert [e.state for e in events(session, call.id)] == ["done", "done"]


def test_a_site_that_does_not_tell_its_agents_shows_nothing(client, sim, hub: Hub, session, monkeypatch) -> None:
    admin = make_user(session, role=Role.admin)
    assert client.put(f"/api/v1/sites/{hub.site.id}/call-policy", json={"announce_monitoring": False},
                      headers=bearer(session, admin)).status_code == 200
    call, _ = connected_call(session, sim, hub.agent)
    told: list[str] = []
    monkeypatch.setattr(monitoring, "publish", lambda s, topic, payload, **kw: told.append(topic))
    controls_told: list[tuple[str, int | None]] = []
    monkeypatch.setattr(controls, "publish",
                        lambda s, topic, payload, **kw: controls_told.append((payload["kind"], kw.get("user_id"))))
    _listen(client, sim, session, call.id, hub.supervisor)
    fresh(session)
    assert [e.state for e in events(session, call.id)] == ["active"]  # monitored, and audited
    assert monitoring.desk_controls(session, call_id=call.id).monitored is None
    assert told == []
    # Nor does the control's own event reach the agent's desktop.
    assert controls_told and all(user_id is None for _, user_id in controls_told)


def test_only_an_administrator_sets_the_policy_of_a_site_that_exists(client, session, hub: Hub) -> None:
    admin = make_user(session, role=Role.admin)
    leader = make_user(session, role=Role.team_leader, site=hub.site)
    denied = client.put(f"/api/v1/sites/{hub.site.id}/call-policy", json={"announce_monitoring": False},
                        headers=bearer(session, leader))
    assert denied.status_code == 403
    unknown = client.put("/api/v1/sites/999999/call-policy", json={"announce_monitoring": False},
                         headers=bearer(session, admin))
    assert unknown.status_code == 422 and "no such site" in unknown.json()["detail"]
    fresh(session)
    assert monitoring.announces_monitoring(session, site_id=hub.site.id) is True


def test_a_team_leader_cannot_monitor_another_sites_call(client, sim, hub: Hub, session) -> None:
    from tests.factories import make_site

    elsewhere = make_user(session, role=Role.team_leader, site=make_site(session))
    call, _ = connected_call(session, sim, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/monitor", json={"mode": "listen"},
                           headers=bearer(session, elsewhere))
    assert response.status_code == 403 and "own site" in response.json()["detail"]
    assert events(session, call.id) == []
