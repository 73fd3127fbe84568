"""Warm transfers to a queue through the real app, router and simulated carrier: the agent stays
on until the agent the router picks has joined; nobody picked in time and the agent is told and
may cancel; the caller hanging up, or the picked agent dropping, midway."""

from __future__ import annotations

from sqlalchemy import select

from telephony import control_tasks, controls
from telephony.models import Call, Offer, QueueEntry
from tests.factories import fresh
from tests.telephony.controls_helpers import (audit_actions, bearer, connected_call, events, participant,
                                              presence_state)
from tests.telephony.hub import HOTLINE, Hub, available, post_webhook, voice_params
from tickets.models.tickets import Ticket


def _entry(session, call_id: int) -> QueueEntry:
    fresh(session)
    return session.scalar(select(QueueEntry).where(QueueEntry.call_id == call_id))


def _agent_leg(session, call_id: int) -> Call:
    return session.scalar(select(Call).where(Call.parent_call_id == call_id, Call.leg == "agent"))


def _to_queue(client, session, call_id: int, user, queue: str = "complaint"):
    return client.post(f"/api/v1/calls/{call_id}/transfer", json={"to_queue": queue, "warm": True},
                       headers=bearer(session, user))


def test_warm_transfer_to_a_queue_hands_over_once_the_picked_agent_joins(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    first_leg = _agent_leg(session, call.id)
    waited_since = _entry(session, call.id).enqueued_at
    available(session, hub.other_agent)
    response = _to_queue(client, session, call.id, hub.agent)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "pending" and response.json()["target"] == "complaint"
    assert response.json()["warm"] is True
    # The router offered the call to the free agent with the skill, with its first waiting time.
    entry = _entry(session, call.id)
    assert entry.state == "offered" and entry.skill_code == "complaint" and entry.enqueued_at == waited_since
    assert presence_state(session, hub.other_agent) == "offered"
    sim.pump()
    phone = sim.phone(f"agent_{hub.other_agent.id}")
    [ringing] = phone.ringing()
    assert sim.call(ringing).from_ == HOTLINE
    # The caller is not moved: still in the conference with the agent who transfers.
    assert participant(sim, sid) is not None and participant(sim, first_leg.call_sid) is not None
    assert presence_state(session, hub.agent) == "on_call"
    phone.answer()
    sim.pump()
    sim.advance(2)
    assert participant(sim, first_leg.call_sid) is None and sim.call(first_leg.call_sid).status == "completed"
    assert participant(sim, ringing) is not None and participant(sim, sid) is not None
    assert sim.call(sid).status == "in-progress" and sim.call(sid).waiting == "conference"
    [transfer] = events(session, call.id, "transfer")
    assert transfer.state == "done" and transfer.outcome == "handed over"
    assert transfer.target_user_id == hub.other_agent.id
    call = session.get(Call, call.id)
    assert call.agent_id == hub.other_agent.id
    assert session.get(Ticket, call.ticket_id).assignee_id == hub.other_agent.id
    assert _entry(session, call.id).state == "connected"
    assert presence_state(session, hub.agent) == "wrap_up"
    assert presence_state(session, hub.other_agent) == "on_call"
    # The first agent's answer ended at the hand-over (the floor's handle time of their part).
    first = session.scalar(select(Offer).where(Offer.call_id == call.id, Offer.user_id == hub.agent.id))
    assert first.ended_at is not None
    assert audit_actions(session, "call.transfer") == ["call.transfer_started", "call.transfer_answered",
                                                       "call.transferred"]
    sim.hangup(sid)
    sim.pump()
    assert presence_state(session, hub.other_agent) == "wrap_up"
    assert _entry(session, call.id).state == "connected"


def test_warm_transfer_to_a_queue_with_nobody_available_tells_the_agent_who_may_cancel(
        client, sim, hub: Hub, session, monkeypatch, settings) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    first_leg = _agent_leg(session, call.id)
    told: list[tuple[str, dict]] = []
    monkeypatch.setattr(controls, "publish", lambda s, topic, payload, **kw: told.append((topic, payload)))
    response = _to_queue(client, session, call.id, hub.agent)
    assert response.status_code == 200, response.text
    assert _entry(session, call.id).state == "waiting"
    # Within the limit nothing is said; past it, once.
    sim.advance(settings.warm_transfer_wait_seconds - 1)
    assert control_tasks.transfer_sweep() == 0
    sim.advance(2)
    assert control_tasks.transfer_sweep() == 1
    assert control_tasks.transfer_sweep() == 0
    [transfer] = events(session, call.id, "transfer")
    assert transfer.state == "pending" and transfer.outcome == "nobody has taken it yet"
    assert [p["action"] for t, p in told if t == "call.control"][-1] == "call.transfer_unanswered"
    # The agent cancels: the caller never left them, and the call is theirs again.
    cancel = client.post(f"/api/v1/calls/{call.id}/transfer/cancel", headers=bearer(session, hub.agent))
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["state"] == "cancelled"
    entry = _entry(session, call.id)
    assert entry.state == "connected" and entry.skill_code == "inquiry"
    assert participant(sim, first_leg.call_sid) is not None and participant(sim, sid) is not None
    assert presence_state(session, hub.agent) == "on_call"
    # Someone free later is not offered it.
    available(session, hub.other_agent)
    assert presence_state(session, hub.other_agent) == "available"
    again = client.post(f"/api/v1/calls/{call.id}/transfer/cancel", headers=bearer(session, hub.agent))
    assert again.status_code == 409 and "No transfer" in again.json()["detail"]
    assert audit_actions(session, "call.transfer") == ["call.transfer_started", "call.transfer_unanswered",
                                                       "call.transfer_cancelled"]


def test_cancelling_a_queue_transfer_while_it_rings_someone_frees_them(client, sim, hub: Hub, session) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    available(session, hub.other_agent)
    assert _to_queue(client, session, call.id, hub.agent).status_code == 200
    sim.pump()
    [ringing] = sim.phone(f"agent_{hub.other_agent.id}").ringing()
    assert client.post(f"/api/v1/calls/{call.id}/transfer/cancel",
                       headers=bearer(session, hub.agent)).status_code == 200
    sim.pump()
    assert not sim.call(ringing).alive
    assert presence_state(session, hub.other_agent) == "available"
    assert _entry(session, call.id).state == "connected"
    offer = session.scalar(select(Offer).where(Offer.call_id == call.id, Offer.user_id == hub.other_agent.id))
    assert offer.state == "withdrawn" and offer.reason == "transfer cancelled"


def test_caller_hangs_up_during_a_warm_transfer_to_a_queue(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    available(session, hub.other_agent)
    assert _to_queue(client, session, call.id, hub.agent).status_code == 200
    sim.pump()
    [ringing] = sim.phone(f"agent_{hub.other_agent.id}").ringing()
    sim.hangup(sid)
    sim.pump()
    assert not sim.call(ringing).alive
    [transfer] = events(session, call.id, "transfer")
    assert transfer.state == "cancelled" and transfer.outcome == "the caller hung up"
    # It was answered: not counted as abandoned; the offered agent is free, the agent wraps up.
    entry = _entry(session, call.id)
    assert entry.state == "connected" and entry.ended_at is not None
    assert presence_state(session, hub.other_agent) == "available"
    assert presence_state(session, hub.agent) == "wrap_up"


def test_the_agent_dropping_during_a_queue_transfer_leaves_the_caller_waiting(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    first_leg = _agent_leg(session, call.id)
    assert _to_queue(client, session, call.id, hub.agent).status_code == 200
    sim.hangup(first_leg.call_sid)  # the agent's browser phone dropped; the conference ends with it
    sim.pump()
    sim.advance(5)  # the caller hears that they are being reconnected, then waits in the target queue
    sim.pump()
    assert sim.call(sid).alive and sim.call(sid).waiting == "queue"
    assert sim.call(sid).queue_name == "hotline-complaint"
    [transfer] = events(session, call.id, "transfer")
    assert transfer.state == "done" and transfer.outcome == "the agent's phone dropped: back in the queue"
    assert presence_state(session, hub.agent) == "wrap_up"
    assert _entry(session, call.id).state == "waiting"
    available(session, hub.other_agent)
    sim.pump()
    sim.phone(f"agent_{hub.other_agent.id}").answer()
    sim.pump()
    sim.advance(5)
    assert sim.call(sid).waiting == "conference"
    fresh(session)
    assert session.get(Call, call.id).agent_id == hub.other_agent.id


def test_a_queue_transfer_needs_a_known_queue_and_a_queued_call(client, sim, hub: Hub, session) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    unknown = _to_queue(client, session, call.id, hub.agent, queue="nowhere")
    assert unknown.status_code == 404 and unknown.json()["params"]["queue"] == "nowhere"
    assert _to_queue(client, session, call.id, hub.agent).status_code == 200
    twice = _to_queue(client, session, call.id, hub.agent)
    assert twice.status_code == 409 and "already under way" in twice.json()["detail"]
    other = client.post(f"/api/v1/calls/{call.id}/transfer/cancel", headers=bearer(session, hub.other_agent))
    assert other.status_code == 403


def test_a_picked_agent_who_answers_but_drops_before_joining_puts_the_call_back_in_line(
        client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    first_leg = _agent_leg(session, call.id)
    available(session, hub.other_agent)
    assert _to_queue(client, session, call.id, hub.agent).status_code == 200
    sim.pump()
    [ringing] = sim.phone(f"agent_{hub.other_agent.id}").ringing()
    fresh(session)
    offer = session.scalar(select(Offer).where(Offer.call_id == call.id, Offer.state == "pending"))
    # Twilio's requests for that leg, as if it were answered and then dropped before the join.
    params = voice_params(ringing, status="in-progress", To=f"client:agent_{hub.other_agent.id}",
                          Direction="outbound-api")
    answer = post_webhook(client, f"/twilio/agent/answer?offer={offer.id}", params)
    assert answer.status_code == 200 and "hotline-call-" in answer.text
    [transfer] = events(session, call.id, "transfer")
    assert transfer.target_user_id == hub.other_agent.id and transfer.state == "pending"
    assert presence_state(session, hub.agent) == "on_call"  # still theirs until the join
    late = client.post(f"/api/v1/calls/{call.id}/transfer/cancel", headers=bearer(session, hub.agent))
    assert late.status_code == 409 and "can no longer be cancelled" in late.json()["detail"]
    gone = post_webhook(client, f"/twilio/status?leg=agent&offer={offer.id}",
                        {**params, "CallStatus": "completed", "CallDuration": "1"})
    assert gone.status_code == 204
    [transfer] = events(session, call.id, "transfer")
    assert transfer.state == "pending" and transfer.target_user_id is None and transfer.participant_sid is None
    assert presence_state(session, hub.other_agent) == "wrap_up"
    assert _entry(session, call.id).state == "waiting"
    assert presence_state(session, hub.agent) == "on_call" and participant(sim, first_leg.call_sid) is not None
    assert session.get(Call, call.id).agent_id == hub.agent.id
    sim.hangup(ringing)  # the carrier's side of the same leg
    sim.pump()


def test_cancelling_a_transfer_to_a_person_stops_their_phone(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    available(session, hub.other_agent)
    assert client.post(f"/api/v1/calls/{call.id}/transfer", json={"to_user_id": hub.other_agent.id},
                       headers=bearer(session, hub.agent)).status_code == 200
    sim.pump()
    [ringing] = sim.phone(f"agent_{hub.other_agent.id}").ringing()
    cancel = client.post(f"/api/v1/calls/{call.id}/transfer/cancel", headers=bearer(session, hub.agent))
    assert cancel.status_code == 200, cancel.text
    sim.pump()
    assert not sim.call(ringing).alive
    assert presence_state(session, hub.other_agent) == "available"
    [transfer] = events(session, call.id, "transfer")
    assert transfer.state == "cancelled" and transfer.outcome == "cancelled"
    assert presence_state(session, hub.agent) == "on_call" and sim.call(sid).status == "in-progress"
