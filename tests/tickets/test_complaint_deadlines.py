"""Complaint deadlines that act: two hours past the 24 h reply deadline the complaint has
escalated one level and the next level was told, once, whatever the number of sweeps; a key
customer's phone follow-up is marked done, or alerts when it is overdue. Run through the
real sweep task."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from core.errors import ValidationFailed
from tests.factories import fresh, make_api_token
from tests.tickets.factories_tickets import World, make_customer, make_ticket, world  # noqa: F401
from tickets import complaints, service, tasks
from tickets.escalation import notifications_for
from tickets.models.tickets import Ticket


def _kinds(session, ticket_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.kind for e in service.timeline_for(session, ticket_id=ticket_id, user=None)]


def test_a_reply_past_due_escalates_once_and_tells_the_next_level(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent, category="complaint", description="Rude cashier")
    replied = make_ticket(session, by=world.agent, category="complaint")
    clock.advance(hours=1)
    complaints.record_reply(session, ticket_id=replied.id, by=world.agent)
    session.commit()
    clock.advance(hours=22)
    tasks.sla_sweep()  # the first-response SLA has escalated by now; the reply is not late yet
    fresh(session)
    before = session.get(Ticket, ticket.id).escalation_level
    assert session.get(Ticket, ticket.id).reply_overdue_at is None
    clock.advance(hours=3)  # two hours past the 24 h reply deadline (the finding)
    tasks.sla_sweep()
    tasks.sla_sweep()  # a second sweep, or a second worker, does nothing more
    fresh(session)
    ticket = session.get(Ticket, ticket.id)
    assert ticket.escalation_level == before + 1 and ticket.reply_overdue_at is not None
    assert _kinds(session, ticket.id).count("complaint_reply_overdue") == 1
    told = [n.kind for u in (world.leader, world.supervisor, world.head) for n in notifications_for(session, u.id)]
    assert told.count("complaint_reply_overdue") == 1
    assert session.get(Ticket, replied.id).reply_overdue_at is None


def test_key_customer_phone_followup_done_or_alerted(session, world: World, clock) -> None:
    gold = make_customer(session, site=world.site, tier="gold")
    done = service.open_from_call(session, call_sid="CAgold1", customer_id=gold.id, category="complaint",
                                  site_id=world.site.id, caller_index=None)
    missed = service.open_from_call(session, call_sid="CAgold2", customer_id=gold.id, category="complaint",
                                    site_id=world.site.id, caller_index=None)
    for made in (done, missed):
        service.assign_to_call_agent(session, ticket_id=made.id, agent_id=world.agent.id)
    session.commit()
    clock.advance(hours=3)
    complaints.record_phone_followup(session, ticket_id=done.id, by=world.agent)
    session.commit()
    assert done.phone_followup_done_at == clock.now() and gold.last_contact_at == clock.now()
    clock.advance(hours=22)
    tasks.sla_sweep()
    fresh(session)
    missed = session.get(Ticket, missed.id)
    assert missed.phone_followup_overdue_at is not None
    assert session.get(Ticket, done.id).phone_followup_overdue_at is None
    assert "phone_followup_overdue" in [n.kind for n in notifications_for(session, world.agent.id)]
    assert "phone_followup_overdue" in [n.kind for n in notifications_for(session, world.leader.id)]
    tasks.sla_sweep()
    assert _kinds(session, missed.id).count("phone_followup_overdue") == 1
    with pytest.raises(ValidationFailed):
        complaints.record_phone_followup(session, ticket_id=make_ticket(session, by=world.agent).id, by=world.agent)


def test_phone_followup_through_the_api(client: TestClient, session, world: World, clock) -> None:
    gold = make_customer(session, site=world.site, tier="gold")
    ticket = service.open_from_call(session, call_sid="CAgold3", customer_id=gold.id, category="complaint",
                                    site_id=world.site.id, caller_index=None)
    service.assign_to_call_agent(session, ticket_id=ticket.id, agent_id=world.agent.id)
    session.commit()
    headers = {"Authorization": f"Bearer {make_api_token(session, world.agent)}"}
    response = client.post(f"/api/v1/tickets/{ticket.id}/phone-followup", json={}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["phone_followup_done_at"] is not None
    plain = make_ticket(session, by=world.agent)
    refused = client.post(f"/api/v1/tickets/{plain.id}/phone-followup", json={}, headers=headers)
    assert refused.status_code == 422
    other = {"Authorization": f"Bearer {make_api_token(session, world.far_agent)}"}
    assert client.post(f"/api/v1/tickets/{ticket.id}/phone-followup", json={}, headers=other).status_code == 404
    done_at = datetime.fromisoformat(response.json()["phone_followup_done_at"].replace("Z", "+00:00"))
    assert done_at == clock.now()
