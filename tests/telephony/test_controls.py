"""In-call controls through the real app and the simulated carrier: hold, transfers, monitoring,
recording pauses and escalation, with the faults each must survive."""

from __future__ import annotations

from sqlalchemy import select

from core.models import Role
from telephony import monitoring
from telephony.models import Call, QueueEntry
from tests.factories import fresh, make_user
from tests.telephony.controls_helpers import (audit_actions, bearer, connected_call, events, participant,
                                              presence_state)
from tests.telephony.hub import HOTLINE, Hub, available
from tickets import timeline
from tickets.models.tickets import Ticket


def test_hold_and_resume_count_in_hold_time(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    auth = bearer(session, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/hold", headers=auth)
    assert response.status_code == 200, response.text
    assert participant(sim, sid).hold is True
    assert "[hold hold-music.wav]" in sim.heard(sid)
    assert client.post(f"/api/v1/calls/{call.id}/hold", headers=auth).status_code == 409
    sim.advance(30)
    assert client.post(f"/api/v1/calls/{call.id}/resume", headers=auth).status_code == 200
    assert participant(sim, sid).hold is False
    summary = client.get(f"/api/v1/calls/{call.id}/controls", headers=auth).json()
    assert summary["hold_seconds"] == 30 and len(summary["holds"]) == 1
    assert audit_actions(session, "call.") == ["call.hold", "call.resume"]


def test_twilio_failure_during_hold_changes_nothing(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    sim.fail_next(method="POST", path_contains="/Participants/", status=400, code=21220, message="not in progress")
    response = client.post(f"/api/v1/calls/{call.id}/hold", headers=bearer(session, hub.agent))
    assert response.status_code == 400
    assert response.json()["code"] == "twilio_error"
    assert response.json()["params"]["action"] == "put the caller on hold"
    assert participant(sim, sid).hold is False
    assert events(session, call.id) == [] and audit_actions(session, "call.") == []


def test_warm_transfer_to_another_agent(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    first_leg = session.scalar(select(Call).where(Call.parent_call_id == call.id, Call.leg == "agent"))
    available(session, hub.other_agent)
    response = client.post(f"/api/v1/calls/{call.id}/transfer", json={"to_user_id": hub.other_agent.id},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "pending"
    assert presence_state(session, hub.other_agent) == "offered"
    sim.pump()
    phone = sim.phone(f"agent_{hub.other_agent.id}")
    ringing = phone.ringing()
    assert ringing and sim.call(ringing[0]).from_ == HOTLINE
    # The agent stays on until the new person joins.
    assert participant(sim, first_leg.call_sid) is not None
    phone.answer()
    sim.pump()
    sim.advance(2)
    assert participant(sim, first_leg.call_sid) is None and sim.call(first_leg.call_sid).status == "completed"
    assert participant(sim, sid) is not None and sim.call(sid).status == "in-progress"
    [transfer] = events(session, call.id, "transfer")
    assert transfer.state == "done" and transfer.outcome == "handed over"
    call = session.get(Call, call.id)
    assert call.agent_id == hub.other_agent.id
    assert session.get(Ticket, call.ticket_id).assignee_id == hub.other_agent.id
    assert presence_state(session, hub.agent) == "wrap_up"
    assert presence_state(session, hub.other_agent) == "on_call"
    sim.hangup(sid)
    sim.pump()
    assert presence_state(session, hub.other_agent) == "wrap_up"


def test_transfer_to_an_offline_agent_is_refused(client, sim, hub: Hub, session) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/transfer", json={"to_user_id": hub.other_agent.id},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 409
    assert "offline" in response.json()["detail"] and "available" in response.json()["detail"]
    assert events(session, call.id) == []


def test_caller_hangs_up_during_a_transfer(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    available(session, hub.other_agent)
    response = client.post(f"/api/v1/calls/{call.id}/transfer", json={"to_user_id": hub.other_agent.id},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 200, response.text
    sim.pump()
    [ringing] = sim.phone(f"agent_{hub.other_agent.id}").ringing()
    sim.hangup(sid)
    sim.pump()
    assert not sim.call(ringing).alive
    [transfer] = events(session, call.id, "transfer")
    assert transfer.state == "cancelled" and transfer.outcome == "the caller hung up"
    assert presence_state(session, hub.other_agent) == "available"


def test_cold_transfer_requeues_with_the_original_waiting_time(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
    waited_since = entry.enqueued_at
    response = client.post(f"/api/v1/calls/{call.id}/transfer", json={"to_queue": "complaint", "warm": False},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 200, response.text
    sim.pump()
    assert sim.call(sid).waiting == "queue" and sim.call(sid).queue_name == "hotline-complaint"
    fresh(session)
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
    assert entry.state in ("waiting", "offered") and entry.skill_code == "complaint"
    assert entry.enqueued_at == waited_since
    assert presence_state(session, hub.agent) == "wrap_up"


def test_a_cold_transfer_to_a_person_is_refused(client, sim, hub: Hub, session) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/transfer", json={"to_user_id": hub.other_agent.id, "warm": False},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 422


def test_monitor_whisper_and_barge(client, sim, hub: Hub, session, monkeypatch) -> None:
    leader = make_user(session, role=Role.team_leader, site=hub.site)
    call, sid = connected_call(session, sim, hub.agent)
    agent_leg = session.scalar(select(Call).where(Call.parent_call_id == call.id, Call.leg == "agent"))
    told: list[tuple[str, dict]] = []
    monkeypatch.setattr(monitoring, "publish", lambda s, topic, payload, **kw: told.append((topic, payload)))
    auth = bearer(session, leader)
    response = client.post(f"/api/v1/calls/{call.id}/monitor", json={"mode": "listen"}, headers=auth)
    assert response.status_code == 200, response.text
    sim.pump()
    phone = sim.phone(f"agent_{leader.id}")
    [leg] = phone.ringing()
    assert sim.call(leg).from_ == HOTLINE
    phone.answer()
    sim.pump()
    assert participant(sim, leg).muted is True
    assert told[-1] == ("call.monitored", {"call_id": call.id, "mode": "listen", "by_id": leader.id,
                                           "control_id": response.json()["id"]})
    assert client.post(f"/api/v1/calls/{call.id}/monitor", json={"mode": "whisper"}, headers=auth).status_code == 200
    part = participant(sim, leg)
    assert part.coaching is True and part.call_sid_to_coach == agent_leg.call_sid and part.muted is False
    assert client.post(f"/api/v1/calls/{call.id}/monitor", json={"mode": "barge"}, headers=auth).status_code == 200
    part = participant(sim, leg)
    assert part.coaching is False and part.muted is False
    assert [e.kind for e in events(session, call.id)] == ["listen", "whisper", "barge"]
    assert audit_actions(session, "call.") == ["call.listen", "call.listen_ended", "call.whisper",
                                               "call.whisper_ended", "call.barge"]


def test_monitoring_is_not_announced_where_the_site_says_so(client, sim, hub: Hub, session, monkeypatch) -> None:
    admin = make_user(session, role=Role.admin)
    response = client.put(f"/api/v1/sites/{hub.site.id}/call-policy", json={"announce_monitoring": False},
                          headers=bearer(session, admin))
    assert response.status_code == 200, response.text
    call, _ = connected_call(session, sim, hub.agent)
    told: list[str] = []
    monkeypatch.setattr(monitoring, "publish", lambda s, topic, payload, **kw: told.append(topic))
    assert client.post(f"/api/v1/calls/{call.id}/monitor", json={"mode": "listen"},
                       headers=bearer(session, hub.supervisor)).status_code == 200
    sim.pump()
    sim.phone(f"agent_{hub.supervisor.id}").answer()
    sim.pump()
    assert told == []


def test_barge_by_an_agent_is_forbidden(client, sim, hub: Hub, session) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/monitor", json={"mode": "barge"},
                           headers=bearer(session, hub.other_agent))
    assert response.status_code == 403
    assert events(session, call.id) == []


def test_recording_pause_by_someone_not_on_the_call_is_refused(client, sim, hub: Hub, session) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/recording/pause", headers=bearer(session, hub.other_agent))
    assert response.status_code == 403
    assert "agent on this call" in response.json()["detail"]


def test_recording_pause_and_resume_keep_the_interval(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    recording = sim.recordings[sim.call(sid).recordings[-1]]
    auth = bearer(session, hub.agent)
    sim.advance(10)
    assert client.post(f"/api/v1/calls/{call.id}/recording/pause", headers=auth).status_code == 200
    assert recording.status == "paused"
    sim.advance(20)
    assert client.post(f"/api/v1/calls/{call.id}/recording/resume", headers=auth).status_code == 200
    assert recording.status == "in-progress"
    [pause] = client.get(f"/api/v1/calls/{call.id}/controls", headers=auth).json()["recording_pauses"]
    assert pause["seconds"] == 20 and pause["offset_seconds"] >= 10
    assert audit_actions(session, "call.") == ["call.recording_paused", "call.recording_resumed"]


def test_a_paused_recording_resumes_on_transfer_and_closes_at_the_end(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    recording = sim.recordings[sim.call(sid).recordings[-1]]
    auth = bearer(session, hub.agent)
    available(session, hub.other_agent)
    assert client.post(f"/api/v1/calls/{call.id}/recording/pause", headers=auth).status_code == 200
    assert client.post(f"/api/v1/calls/{call.id}/transfer", json={"to_user_id": hub.other_agent.id},
                       headers=auth).status_code == 200
    assert recording.status == "in-progress"
    [pause] = events(session, call.id, "recording_pause")
    assert pause.ended_at is not None and pause.outcome == "transfer"
    # Paused again, then the caller hangs up: the pause ends with the call.
    sim.pump()
    sim.phone(f"agent_{hub.other_agent.id}").answer()
    sim.pump()
    assert client.post(f"/api/v1/calls/{call.id}/recording/pause",
                       headers=bearer(session, hub.other_agent)).status_code == 200
    sim.advance(5)
    sim.hangup(sid)
    sim.pump()
    summary = client.get(f"/api/v1/calls/{call.id}/controls", headers=bearer(session, hub.supervisor)).json()
    assert [p["ended_at"] is not None for p in summary["recording_pauses"]] == [True, True]


def test_escalating_a_live_call_moves_its_ticket_up_one_level(client, sim, hub: Hub, session) -> None:
    leader = make_user(session, role=Role.team_leader, site=hub.site)
    call, _ = connected_call(session, sim, hub.agent)
    available(session, leader)
    response = client.post(f"/api/v1/calls/{call.id}/escalate", json={"reason": "asks for a manager",
                                                                      "transfer": True},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["escalation"]["target"] == "team_leader"
    assert body["transfer"]["target_user_id"] == leader.id and body["transfer"]["state"] == "pending"
    fresh(session)
    ticket = session.get(Ticket, call.ticket_id)
    assert ticket.escalation_level == 1 and ticket.status == "escalated"
    assert "escalated" in [e.kind for e in timeline.events(session, ticket_id=ticket.id)]
    skip = client.post(f"/api/v1/calls/{call.id}/escalate", json={"reason": "again", "to_level": 3},
                       headers=bearer(session, hub.agent))
    assert skip.status_code == 422 and "one level at a time" in skip.json()["detail"]


def test_twilio_failure_taking_the_caller_off_hold_keeps_the_hold(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    auth = bearer(session, hub.agent)
    assert client.post(f"/api/v1/calls/{call.id}/hold", headers=auth).status_code == 200
    sim.fail_next(method="POST", path_contains="/Participants/", status=400, code=21220, message="not in progress")
    response = client.post(f"/api/v1/calls/{call.id}/resume", headers=auth)
    assert response.status_code == 400 and response.json()["code"] == "twilio_error"
    assert response.json()["params"]["action"] == "take the caller off hold"
    assert participant(sim, sid).hold is True
    [held] = events(session, call.id, "hold")
    assert held.ended_at is None
    assert client.post(f"/api/v1/calls/{call.id}/resume", headers=auth).status_code == 200


def test_a_leader_of_another_site_cannot_pause_the_recording(client, sim, hub: Hub, session) -> None:
    from tests.factories import make_site

    elsewhere = make_user(session, role=Role.team_leader, site=make_site(session))
    call, sid = connected_call(session, sim, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/recording/pause", headers=bearer(session, elsewhere))
    assert response.status_code == 403
    assert sim.recordings[sim.call(sid).recordings[-1]].status == "in-progress"
    assert events(session, call.id) == []


def test_a_control_before_the_caller_has_joined_is_refused_clearly(client, sim, hub: Hub, session) -> None:
    available(session, hub.agent)
    sid = sim.place_call("+8613800138001")
    sim.pump()
    assert sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.pump()  # the caller is told they are being connected, not yet in the conference
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call.conference_name and call.conference_sid is None
    response = client.post(f"/api/v1/calls/{call.id}/hold", headers=bearer(session, hub.agent))
    assert response.status_code == 409 and "still being connected" in response.json()["detail"]
    assert events(session, call.id) == []
    sim.advance(5)
    sim.pump()
    assert client.post(f"/api/v1/calls/{call.id}/hold", headers=bearer(session, hub.agent)).status_code == 200
