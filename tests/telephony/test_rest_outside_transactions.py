"""The REST calls the webhooks and the call-control routes make (issue 15: no network call inside
a write transaction): the answer-time check of an agent's other leg, the in-call controls (hold,
recording pause), monitoring, transfers and server-dialled callbacks all ask Twilio with no
transaction open; a refusal still reaches the person as before and leaves nothing written, and a
second click while the first is being asked acts once. The check runs where the simulator serves
each request (tests.telephony.test_carrier_effects.CarrierWatch)."""

from __future__ import annotations

from sqlalchemy import select

from core.models import Role
from telephony.models import Call
from tests.factories import fresh, make_user
from tests.telephony.controls_helpers import audit_actions, bearer, connected_call, events, participant
from tests.telephony.faults import LostTasks, lost_tasks  # noqa: F401 (fixture)
from tests.telephony.hub import Hub, available, queued_call
from tests.telephony.test_callbacks import _attempts, _customer_leg, _ticket, caller_id  # noqa: F401 (fixture)
from tests.telephony.test_carrier_effects import CarrierWatch, carrier  # noqa: F401 (fixture)


def _none_inside(requests: list, what: str) -> None:  # type: ignore[type-arg]
    assert requests, f"Twilio was never asked to {what}"
    assert not any(r.transaction_open for r in requests), f"Twilio was asked to {what} inside a transaction"


# The agent's answer: their other leg asked about at Twilio ------------------------------------------

def test_an_answer_checks_the_agents_lost_leg_with_no_transaction_open(client, sim, hub: Hub, session,
                                                                      carrier: CarrierWatch,
                                                                      lost_tasks: LostTasks) -> None:
    """The agent's last leg ended at the carrier but its `completed` was lost (and the hang-up
    the hub would have asked for too): the hub still has them on it. Their answer of the next
    offer asks Twilio about that leg with no transaction open, ends it as its callback would
    have, and the new call goes ahead."""
    # Ids read up front: after `fresh`, reading them would open a transaction in the test's session.
    agent_id = hub.agent.id
    _first, first_sid = connected_call(session, sim, hub.agent)
    [old_leg] = [c for c in sim.calls.values() if c.to == f"client:agent_{agent_id}"]
    old_leg.status_callback = None  # the agent leg's `completed` is lost
    with lost_tasks.dropping("telephony.end_leg"):
        sim.hangup(first_sid)
        sim.pump()
    fresh(session)
    assert session.scalar(select(Call.status).where(Call.call_sid == old_leg.sid)) == "in-progress"
    sim.advance(120)  # past wrap-up
    available(session, hub.agent)
    fresh(session)
    sid = queued_call(sim)
    fresh(session)
    carrier.requests.clear()
    sim.phone(f"agent_{agent_id}").answer()
    sim.pump()
    _none_inside(carrier.made("GET", f"/Calls/{old_leg.sid}.json"), "check the agent's other leg")
    sim.advance(3)
    assert sim.call(sid).waiting == "conference"
    fresh(session)
    assert session.scalar(select(Call.status).where(Call.call_sid == old_leg.sid)) == "completed"


def test_a_caller_moved_in_has_their_agent_checked_with_no_transaction_open(client, sim, hub: Hub, session,
                                                                           carrier: CarrierWatch) -> None:
    # Ids read up front: after `fresh`, reading them would open a transaction in the test's session.
    agent_id = hub.agent.id
    available(session, hub.agent)
    sid = queued_call(sim)
    fresh(session)
    sim.phone(f"agent_{agent_id}").answer()
    sim.pump()
    sim.advance(3)
    assert sim.call(sid).waiting == "conference"
    leg_sid = next(c.sid for c in sim.calls.values() if c.to == f"client:agent_{agent_id}")
    _none_inside(carrier.made("GET", f"/Calls/{leg_sid}.json"), "check the agent as the caller joins")


# Hold and recording pause ---------------------------------------------------------------------------

def test_hold_and_resume_ask_twilio_with_no_transaction_open(client, sim, hub: Hub, session,
                                                              carrier: CarrierWatch) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    auth = bearer(session, hub.agent)
    fresh(session)
    assert client.post(f"/api/v1/calls/{call_id}/hold", headers=auth).status_code == 200
    assert participant(sim, sid).hold is True
    assert client.post(f"/api/v1/calls/{call_id}/resume", headers=auth).status_code == 200
    assert participant(sim, sid).hold is False
    _none_inside(carrier.made("POST", f"/Participants/{sid}.json"), "put the caller on hold or back")
    assert audit_actions(session, "call.") == ["call.hold", "call.resume"]


def test_recording_pause_and_resume_ask_twilio_with_no_transaction_open(client, sim, hub: Hub, session,
                                                                        carrier: CarrierWatch) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    auth = bearer(session, hub.agent)
    fresh(session)
    assert client.post(f"/api/v1/calls/{call_id}/recording/pause", headers=auth).status_code == 200
    assert client.post(f"/api/v1/calls/{call_id}/recording/resume", headers=auth).status_code == 200
    _none_inside(carrier.made("POST", f"/Calls/{sid}/Recordings/"), "pause or resume the recording")
    assert [e.ended_at is not None for e in events(session, call_id, "recording_pause")] == [True]


def test_a_second_hold_while_twilio_is_asked_is_refused_and_holds_once(client, sim, hub: Hub, session,
                                                                       carrier: CarrierWatch) -> None:
    """A double click on Hold: the second request comes while the first waits for Twilio. It is
    neither held up by the first one's transaction nor a second hold: it is refused at once."""
    call, sid = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    auth = bearer(session, hub.agent)
    fresh(session)
    second: list[int] = []
    held = carrier.hold("POST", f"/Participants/{sid}.json",
                        during=lambda: second.append(client.post(f"/api/v1/calls/{call_id}/hold",
                                                                 headers=auth).status_code))
    held.answer.set()
    first = client.post(f"/api/v1/calls/{call_id}/hold", headers=auth)
    assert first.status_code == 200, first.text
    assert second == [409]
    assert len(carrier.made("POST", f"/Participants/{sid}.json")) == 1
    assert len(events(session, call_id, "hold")) == 1
    assert client.post(f"/api/v1/calls/{call_id}/hold", headers=auth).json()["code"] == "control_refused"


def test_a_hold_twilio_refuses_leaves_nothing_and_can_be_tried_again(client, sim, hub: Hub, session,
                                                                      carrier: CarrierWatch) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    auth = bearer(session, hub.agent)
    sim.fail_next(method="POST", path_contains="/Participants/", status=400, code=21220, message="not in progress")
    response = client.post(f"/api/v1/calls/{call_id}/hold", headers={**auth, "Accept-Language": "zh-CN"})
    assert response.status_code == 400 and response.json()["code"] == "twilio_error"
    assert "未做任何更改" in response.json()["detail"], response.json()
    assert events(session, call_id) == [] and audit_actions(session, "call.") == []
    fresh(session)
    assert session.get(Call, call_id).control_claimed_at is None
    assert client.post(f"/api/v1/calls/{call_id}/hold", headers=auth).status_code == 200
    assert participant(sim, sid).hold is True


# Monitoring ---------------------------------------------------------------------------------------

def test_monitoring_asks_twilio_with_no_transaction_open(client, sim, hub: Hub, session,
                                                         carrier: CarrierWatch) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    leader = make_user(session, role=Role.team_leader, site=hub.site)
    session.commit()
    leader_id = leader.id
    auth = bearer(session, leader)
    fresh(session)
    assert client.post(f"/api/v1/calls/{call_id}/monitor", json={"mode": "listen"}, headers=auth).status_code == 200
    sim.pump()
    sim.phone(f"agent_{leader_id}").answer()
    sim.pump()
    assert client.post(f"/api/v1/calls/{call_id}/monitor", json={"mode": "whisper"}, headers=auth).status_code == 200
    _none_inside(carrier.made("POST", "/Participants"), "ring the leader in or switch their mode")
    assert [e.kind for e in events(session, call_id)] == ["listen", "whisper"]


def test_a_monitor_twilio_refuses_leaves_nothing(client, sim, hub: Hub, session, carrier: CarrierWatch) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    leader = make_user(session, role=Role.team_leader, site=hub.site)
    session.commit()
    auth = bearer(session, leader)
    sim.fail_next(method="POST", path_contains="/Participants.json", status=400, code=21220, message="no")
    response = client.post(f"/api/v1/calls/{call_id}/monitor", json={"mode": "listen"}, headers=auth)
    assert response.status_code == 400 and response.json()["code"] == "twilio_error"
    assert events(session, call_id) == [] and audit_actions(session, "call.") == []
    assert client.post(f"/api/v1/calls/{call_id}/monitor", json={"mode": "listen"}, headers=auth).status_code == 200


# Transfers ----------------------------------------------------------------------------------------

def test_a_warm_transfer_and_its_hand_over_ask_twilio_with_no_transaction_open(client, sim, hub: Hub, session,
                                                                               carrier: CarrierWatch) -> None:
    # Ids read up front: after `fresh`, reading them would open a transaction in the test's session.
    other_id = hub.other_agent.id
    call, sid = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    first_leg_sid = session.scalar(select(Call.call_sid).where(Call.parent_call_id == call_id, Call.leg == "agent"))
    available(session, hub.other_agent)
    auth = bearer(session, hub.agent)
    fresh(session)
    assert client.post(f"/api/v1/calls/{call_id}/transfer", json={"to_user_id": other_id},
                       headers=auth).status_code == 200
    _none_inside(carrier.made("POST", "/Participants.json"), "ring the person transferred to")
    sim.pump()
    sim.phone(f"agent_{other_id}").answer()
    sim.pump()
    sim.advance(2)
    assert sim.call(first_leg_sid).status == "completed" and sim.call(sid).status == "in-progress"
    _none_inside(carrier.made("POST", f"/Participants/{first_leg_sid}.json")
                 + carrier.made("DELETE", f"/Participants/{first_leg_sid}.json"),
                 "take the transferring agent out of the conference")
    [transfer] = events(session, call_id, "transfer")
    assert transfer.state == "done" and transfer.outcome == "handed over"


def test_a_transfer_twilio_refuses_leaves_nothing_and_frees_the_person(client, sim, hub: Hub, session,
                                                                      carrier: CarrierWatch) -> None:
    # Ids read up front: after `fresh`, reading them would open a transaction in the test's session.
    other_id = hub.other_agent.id
    from tests.telephony.controls_helpers import presence_state

    call, _ = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    available(session, hub.other_agent)
    sim.fail_next(method="POST", path_contains="/Participants.json", status=400, code=21220, message="no")
    response = client.post(f"/api/v1/calls/{call_id}/transfer", json={"to_user_id": other_id},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 400 and response.json()["code"] == "twilio_error"
    assert response.json()["params"]["action"] == "ring the person you transfer to"
    assert events(session, call_id) == [] and audit_actions(session, "call.") == []
    assert presence_state(session, hub.other_agent) == "available"
    fresh(session)
    assert len(list(session.scalars(select(Call).where(Call.parent_call_id == call_id, Call.leg == "agent")))) == 1


def test_a_cold_transfer_and_a_cancel_ask_twilio_with_no_transaction_open(client, sim, hub: Hub, session,
                                                                          carrier: CarrierWatch) -> None:
    # Ids read up front: after `fresh`, reading them would open a transaction in the test's session.
    other_id = hub.other_agent.id
    call, sid = connected_call(session, sim, hub.agent)
    call_id = call.id  # read before `fresh`: reading it after would open a transaction here
    available(session, hub.other_agent)
    auth = bearer(session, hub.agent)
    fresh(session)
    assert client.post(f"/api/v1/calls/{call_id}/transfer", json={"to_user_id": other_id},
                       headers=auth).status_code == 200
    sim.pump()
    [ringing] = sim.phone(f"agent_{other_id}").ringing()
    assert client.post(f"/api/v1/calls/{call_id}/transfer/cancel", headers=auth).status_code == 200
    _none_inside(carrier.made("POST", f"/Calls/{ringing}.json"), "stop ringing the person transferred to")
    sim.pump()
    assert client.post(f"/api/v1/calls/{call_id}/transfer", json={"to_queue": "inquiry", "warm": False},
                       headers=auth).status_code == 200
    _none_inside(carrier.made("POST", f"/Calls/{sid}.json"), "move the caller back to the queue")


# Callbacks ----------------------------------------------------------------------------------------

def test_a_callback_is_dialled_and_its_agent_rung_with_no_transaction_open(client, sim, hub: Hub, session, caller_id,
                                                                           carrier: CarrierWatch) -> None:
    # Ids read up front: after `fresh`, reading them would open a transaction in the test's session.
    agent_id = hub.agent.id
    ticket, _, number = _ticket(session, hub)
    ticket_id = ticket.id
    auth = bearer(session, hub.agent)
    fresh(session)
    response = client.post(f"/api/v1/tickets/{ticket_id}/callback", headers=auth)
    assert response.status_code == 202, response.text
    sim.pump()
    _none_inside(carrier.made("POST", "/Calls.json"), "dial the customer")
    sim.answer_as(_customer_leg(sim, number), "human")
    sim.pump()
    _none_inside(carrier.made("POST", "/Participants.json"), "ring the agent into the callback")
    assert sim.phone(f"agent_{agent_id}").ringing()


def test_a_missed_callback_tells_the_customer_with_no_transaction_open(client, sim, hub: Hub, session, caller_id,
                                                                       carrier: CarrierWatch) -> None:
    """The agent does not pick up the callback the customer answered: the customer hears the
    apology (Twilio asked after the webhook commits, with no transaction open) and the call ends."""
    agent_id = hub.agent.id
    ticket, _, number = _ticket(session, hub)
    ticket_id = ticket.id
    auth = bearer(session, hub.agent)
    fresh(session)
    assert client.post(f"/api/v1/tickets/{ticket_id}/callback", headers=auth).status_code == 202
    sim.pump()
    customer_sid = _customer_leg(sim, number)
    sim.answer_as(customer_sid, "human")
    sim.pump()
    assert sim.phone(f"agent_{agent_id}").ringing()
    sim.advance(31)  # the agent's phone rings out
    sim.pump()
    sim.advance(10)
    _none_inside(carrier.made("POST", f"/Calls/{customer_sid}.json"), "tell the customer the agent missed it")
    assert not sim.call(customer_sid).alive
    [attempt] = _attempts(session, ticket_id)
    assert attempt.reason == "the agent did not answer"


def test_a_dial_whose_worker_died_before_twilio_answered_is_counted_failed_once_lapsed(
        client, sim, hub: Hub, session, caller_id, clock, monkeypatch) -> None:  # noqa: ANN001
    """A worker claims a dial (the attempt `dialling`, its token spent) and dies before Twilio's
    answer: the controls sweep counts it failed once DIAL_LEASE has passed, and the next attempt is
    scheduled as after any failed dial."""
    from datetime import timedelta

    from telephony import callbacks, control_tasks

    ticket, _, _number = _ticket(session, hub, minutes=180)
    ticket_id = ticket.id
    with monkeypatch.context() as patched:
        patched.setattr(callbacks, "_dial", lambda session, order: None)  # the worker dies here
        assert client.post(f"/api/v1/tickets/{ticket_id}/callback",
                           headers=bearer(session, hub.agent)).status_code == 202
    [attempt] = _attempts(session, ticket_id)
    assert attempt.state == "dialling" and attempt.call_sid is None
    fresh(session)
    assert control_tasks.controls_sweep() == 0
    clock.advance(callbacks.DIAL_LEASE + timedelta(seconds=1))
    assert control_tasks.controls_sweep() == 1
    first, second = _attempts(session, ticket_id)
    assert first.state == "failed" and first.reason == "the hub stopped while dialling"
    assert second.state == "queued" and second.number == 2


def test_an_escalation_whose_transfer_twilio_refuses_stands_and_says_so(client, sim, hub: Hub, session) -> None:
    """The escalation is committed with the transfer's claim, before Twilio is asked to ring the
    leader: when Twilio refuses, the ticket stays escalated and the agent is told the transfer did
    not start (in their language), with nothing of the transfer written and the leader free."""
    from tests.telephony.controls_helpers import presence_state
    from tickets.models.tickets import Ticket

    leader = make_user(session, role=Role.team_leader, site=hub.site)
    call, _ = connected_call(session, sim, hub.agent)
    call_id, ticket_id = call.id, call.ticket_id
    available(session, leader)
    sim.fail_next(method="POST", path_contains="/Participants.json", status=400, code=21220, message="no")
    response = client.post(f"/api/v1/calls/{call_id}/escalate", json={"reason": "manager please", "transfer": True},
                           headers={**bearer(session, hub.agent), "Accept-Language": "zh-CN"})
    assert response.status_code == 400 and response.json()["code"] == "twilio_error"
    assert "工单已升级" in response.json()["detail"], response.json()
    assert [e.kind for e in events(session, call_id)] == ["escalate"]
    assert events(session, call_id)[0].outcome == "the transfer could not be started"
    assert audit_actions(session, "call.") == ["call.escalated"]
    fresh(session)
    assert session.get(Ticket, ticket_id).escalation_level == 1
    assert presence_state(session, leader) == "available" and presence_state(session, hub.agent) == "on_call"
