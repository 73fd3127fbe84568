"""Server-dialled callbacks through the real app and the simulated carrier: the live
authorisation checked at the request and at every dial, the customer dialled from the hotline's
number, the agent bridged in, outcomes on the ticket, retries, and the paced dialler."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import session_scope
from telephony import control_tasks, rate_limit
from telephony.models import Call
from telephony.models.controls import CallbackAttempt
from tests.factories import fresh
from tests.telephony.controls_helpers import audit_actions, bearer
from tests.telephony.hub import HOTLINE, Hub
from tests.tickets.factories_tickets import make_customer
from tickets import grants, timeline
from tickets import service as ticket_service


@pytest.fixture
def caller_id(settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(settings, "twilio_caller_id", HOTLINE)
    return HOTLINE


def _ticket(session, hub: Hub, *, minutes: int = 60):  # type: ignore[no-untyped-def]
    customer = make_customer(session, site=hub.site)
    number = customer.primary_phone.number
    ticket = ticket_service.open_ticket(session, category="callback_request", site_id=hub.site.id,
                                        customer_id=customer.id, assignee_id=hub.agent.id)
    grants.create_grant(session, customer_id=customer.id, agent_id=hub.agent.id, reason="asked for a callback",
                        by=hub.supervisor, ticket_id=ticket.id, duration_minutes=minutes)
    session.commit()
    return ticket, customer, number


def _customer_leg(sim, number: str) -> str:  # type: ignore[no-untyped-def]
    [sid] = [c.sid for c in sim.calls.values() if c.to == number and c.alive]
    return sid


def _attempts(session, ticket_id: int) -> list[CallbackAttempt]:  # type: ignore[no-untyped-def]
    fresh(session)
    return list(session.scalars(select(CallbackAttempt).where(CallbackAttempt.ticket_id == ticket_id)
                                .order_by(CallbackAttempt.id)))


def test_callback_dials_the_customer_and_bridges_the_agent(client, sim, hub: Hub, session, caller_id,
                                                           caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ticket, _, number = _ticket(session, hub)
    response = client.post(f"/api/v1/tickets/{ticket.id}/callback", headers=bearer(session, hub.agent))
    assert response.status_code == 202, response.text
    assert number not in response.text and number[-8:] not in response.text
    sim.pump()
    customer_sid = _customer_leg(sim, number)
    assert sim.call(customer_sid).from_ == HOTLINE and sim.call(customer_sid).machine_detection == "Enable"
    sim.answer_as(customer_sid, "human")
    sim.pump()
    phone = sim.phone(f"agent_{hub.agent.id}")
    [agent_sid] = phone.ringing()
    assert sim.call(agent_sid).from_ == HOTLINE  # the agent's phone shows the hotline, not the customer
    phone.answer()
    sim.advance(5)  # the customer hears "connecting" first
    conference = next(iter(sim.conferences.values()))
    assert set(conference.participants) == {customer_sid, agent_sid}
    [attempt] = _attempts(session, ticket.id)
    assert attempt.state == "answered" and attempt.answered_by == "human"
    call = session.scalar(select(Call).where(Call.call_sid == customer_sid))
    assert call.leg == "customer" and call.ticket_id == ticket.id and call.to_number is None
    assert sim.call(customer_sid).recordings, "the callback is recorded"
    phone.hangup()
    sim.pump()
    assert not sim.call(customer_sid).alive
    values = [(e.kind, e.to_value) for e in timeline.events(session, ticket_id=ticket.id)]
    assert ("callback_attempt", "answered") in values
    assert "grant.used" in audit_actions(session, "grant.") and "callback.dialled" in audit_actions(session, "callback.")
    # Nothing the hub wrote to its logs carries the number; the simulator's own lines are not the hub's.
    hub_lines = [r.getMessage() for r in caplog.records if not r.name.startswith(("hotline.simulator", "httpx"))]
    assert not any(number in line for line in hub_lines)


def test_no_answer_busy_and_voicemail_are_recorded_and_retried(client, sim, hub: Hub, session, caller_id,
                                                               clock) -> None:
    ticket, _, number = _ticket(session, hub, minutes=180)
    assert client.post(f"/api/v1/tickets/{ticket.id}/callback",
                       headers=bearer(session, hub.agent)).status_code == 202
    sim.pump()
    sim.advance(31)  # nobody picks up
    first, second = _attempts(session, ticket.id)
    assert first.state == "no_answer" and second.state == "queued" and second.number == 2
    assert second.due_at == first.ended_at + timedelta(minutes=30)
    sim.advance(30 * 60)
    control_tasks.dial_due()
    sim.pump()
    sim.phone(number).decline()
    sim.pump()
    assert [a.state for a in _attempts(session, ticket.id)] == ["no_answer", "busy", "queued"]
    sim.advance(30 * 60)
    control_tasks.dial_due()
    sim.pump()
    sim.answer_as(_customer_leg(sim, number), "machine_end_beep")
    sim.pump()
    attempts = _attempts(session, ticket.id)
    assert [a.state for a in attempts] == ["no_answer", "busy", "voicemail"]  # three is the limit
    assert not sim.phone(f"agent_{hub.agent.id}").ringing()
    outcomes = [e.to_value for e in timeline.events(session, ticket_id=ticket.id) if e.kind == "callback_attempt"]
    assert outcomes == ["no_answer", "busy", "voicemail"]


@pytest.mark.parametrize("ending", ["expired", "revoked"])
def test_a_dial_without_a_live_grant_is_refused_and_audited(client, sim, hub: Hub, session, caller_id, clock,
                                                            ending) -> None:
    ticket, customer, _ = _ticket(session, hub, minutes=10)
    if ending == "expired":
        clock.advance(minutes=11)
    else:
        [grant] = grants.list_grants(session, viewer=hub.supervisor, customer_id=customer.id)[0]
        grants.revoke_grant(session, grant_id=grant.id, by=hub.supervisor)
        session.commit()
    response = client.post(f"/api/v1/tickets/{ticket.id}/callback", headers=bearer(session, hub.agent))
    assert response.status_code == 403
    assert response.json()["code"] == f"grant_{ending}"
    assert "ask" in response.json()["detail"]
    sim.pump()
    assert not [c for c in sim.calls.values() if c.direction == "outbound-api"]
    [attempt] = _attempts(session, ticket.id)
    assert attempt.state == "refused"
    assert "callback.refused" in audit_actions(session, "callback.")


def test_a_grant_expiring_mid_dial_lets_the_call_finish_but_no_new_dial(client, sim, hub: Hub, session, caller_id,
                                                                        clock) -> None:
    ticket, customer, number = _ticket(session, hub, minutes=10)
    auth = bearer(session, hub.agent)
    assert client.post(f"/api/v1/tickets/{ticket.id}/callback", headers=auth).status_code == 202
    sim.pump()
    customer_sid = _customer_leg(sim, number)
    sim.answer_as(customer_sid, "human")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.pump()
    sim.advance(15 * 60)  # the authorisation ends during the conversation
    assert sim.call(customer_sid).status == "in-progress"
    sim.hangup(customer_sid)
    sim.pump()
    [attempt] = _attempts(session, ticket.id)
    assert attempt.state == "answered" and attempt.ended_at is not None
    again = client.post(f"/api/v1/tickets/{ticket.id}/callback", headers=auth)
    assert again.status_code == 403, again.text
    assert again.json()["code"] == "grant_expired"


def test_a_retry_after_the_grant_expired_is_not_dialled(client, sim, hub: Hub, session, caller_id, clock) -> None:
    ticket, _, number = _ticket(session, hub, minutes=20)
    assert client.post(f"/api/v1/tickets/{ticket.id}/callback", headers=bearer(session, hub.agent)).status_code == 202
    sim.pump()
    sim.advance(31)
    sim.advance(30 * 60)
    control_tasks.dial_due()
    sim.pump()
    first, second = _attempts(session, ticket.id)
    assert first.state == "no_answer" and second.state == "refused" and "expired" in second.reason
    assert len([c for c in sim.calls.values() if c.to == number]) == 1
    assert audit_actions(session, "callback.").count("callback.refused") == 1


def test_outbound_dials_are_paced_at_one_per_second(client, sim, hub: Hub, session, caller_id, clock) -> None:
    one, _, first_number = _ticket(session, hub)
    two, _, second_number = _ticket(session, hub)
    auth = bearer(session, hub.agent)
    assert client.post(f"/api/v1/tickets/{one.id}/callback", headers=auth).status_code == 202
    assert client.post(f"/api/v1/tickets/{two.id}/callback", headers=auth).status_code == 202
    assert _attempts(session, one.id)[0].state == "dialling"
    assert _attempts(session, two.id)[0].state == "queued"  # the same second: no token left
    assert control_tasks.dial_due() == 0
    clock.advance(seconds=1)
    assert control_tasks.dial_due() == 1
    assert _attempts(session, two.id)[0].state == "dialling"


def test_the_token_bucket_gives_one_token_to_racing_workers(session, clock) -> None:
    results: list[float] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        with session_scope() as own:
            results.append(rate_limit.take(own, name="race"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [0.0, 1.0, 1.0, 1.0]
    clock.advance(seconds=1)
    with session_scope() as own:
        assert rate_limit.take(own, name="race") == 0.0
