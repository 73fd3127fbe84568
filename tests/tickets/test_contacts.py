"""Every contact with a customer is recorded as activity and moves last_contact_at: an answered
call in, a callback the hub dials, a complaint reply, an SMS sent and a follow-up call; the
quiet list counts contacts and purchases alike."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from tests.factories import fresh
from tests.telephony.controls_helpers import bearer
from tests.telephony.hub import CALLER, HOTLINE, Hub, available, eager_tasks, hub, sim  # noqa: F401
from tests.tickets.factories_customers import Staff, make_customer, staff  # noqa: F401
from tests.tickets.factories_tickets import make_customer as make_ticket_customer
from tickets import care, complaints, grants, tiers
from tickets import service as ticket_service
from tickets.models.customers import Customer, CustomerActivity


def _kinds(session, customer_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    fresh(session)
    return [(a.kind, (a.ref or "").split(":")[0]) for a in session.scalars(
        select(CustomerActivity).where(CustomerActivity.customer_id == customer_id).order_by(CustomerActivity.id))]


def test_an_answered_call_moves_last_contact(client, sim, hub: Hub, session, clock: FrozenClock) -> None:
    customer = make_customer(session, site=hub.site, phones=[CALLER])
    assert customer.last_contact_at is None
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    assert sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.pump()
    sim.hangup(sid)
    sim.pump()
    assert _kinds(session, customer.id) == [("contact", "call")]
    assert session.get(Customer, customer.id).last_contact_at == clock.now()
    assert care.quiet_customers(session, days=1)[1] == 0


@pytest.fixture
def caller_id(settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(settings, "twilio_caller_id", HOTLINE)
    return HOTLINE


def test_a_callback_answered_is_a_contact(client, sim, hub: Hub, session, caller_id) -> None:
    customer = make_ticket_customer(session, site=hub.site)
    number = customer.primary_phone.number
    ticket = ticket_service.open_ticket(session, category="callback_request", site_id=hub.site.id,
                                        customer_id=customer.id, assignee_id=hub.agent.id)
    grants.create_grant(session, customer_id=customer.id, agent_id=hub.agent.id, reason="asked for a callback",
                        by=hub.supervisor, ticket_id=ticket.id, duration_minutes=60)
    session.commit()
    response = client.post(f"/api/v1/tickets/{ticket.id}/callback", headers=bearer(session, hub.agent))
    assert response.status_code == 202, response.text
    sim.pump()
    [leg] = [c.sid for c in sim.calls.values() if c.to == number and c.alive]
    sim.answer_as(leg, "human")
    sim.pump()
    # The hub reached out: last contact moves, the tier frequency does not.
    assert _kinds(session, customer.id) == [("outreach", "call")]
    assert session.get(Customer, customer.id).last_contact_at is not None


def test_reply_sms_and_followup_are_contacts(session, staff: Staff, clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site, consent=("service", "care_sms"))
    ticket = ticket_service.open_ticket(session, category="complaint", by=staff.agent, customer_id=customer.id)
    session.commit()
    clock.advance(hours=1)
    complaints.record_reply(session, ticket_id=ticket.id, by=staff.agent, channel="phone")
    session.commit()
    assert customer.last_contact_at == clock.now()
    clock.advance(hours=1)
    message = care.queue_message(session, customer_id=customer.id, kind="birthday")
    session.commit()
    care.mark_message_sent(session, message_id=message.id, provider_ref="SM1")
    care.mark_message_sent(session, message_id=message.id, provider_ref="SM1")  # a repeated report
    session.commit()
    assert customer.last_contact_at == clock.now()
    clock.advance(hours=1)
    followup = care.schedule_satisfaction_followup(session, ticket_id=ticket.id, customer_id=customer.id,
                                                   due_at=clock.now())
    care.complete_followup(session, followup_id=followup.id, by=staff.agent, satisfaction=5, outcome="reached")
    session.commit()
    assert customer.last_contact_at == clock.now()
    assert _kinds(session, customer.id) == [("outreach", "reply"), ("outreach", "sms"), ("outreach", "followup")]
    assert customer.tier == "normal"


def test_quiet_list_counts_purchases_and_contacts(session, staff: Staff, clock: FrozenClock) -> None:
    silent = make_customer(session, site=staff.site)
    caller = make_customer(session, site=staff.site)
    buyer = make_customer(session, site=staff.site)
    clock.advance(days=100)
    tiers.record_contact(session, customer_id=caller.id, ref="call:CA1")
    tiers.record_purchase(session, customer_id=buyer.id, amount_cents=1000, ref="till:1")
    session.commit()
    rows, count = care.quiet_customers(session, days=90)
    assert count == 1 and [c.id for c in rows] == [silent.id]
    care_days = care.quiet_days(session)
    assert care_days == 90


def test_an_ivr_callback_request_authorises_the_agent_who_takes_it(client, sim, hub: Hub, session,
                                                                  caller_id) -> None:
    """The finding: a callback asked for in the IVR had no authorisation, so nobody could call
    back without a manager's grant. Taking the ticket now authorises the taker, and the dial goes."""
    customer = make_customer(session, site=hub.site, phones=[CALLER])
    sid = sim.place_call(CALLER)
    sim.pump()
    assert sim.press(sid, "4")  # "call me back"
    sim.pump()
    fresh(session)
    ticket = ticket_service.ticket_for_call(session, call_sid=sid)
    assert ticket is not None and ticket.category == "callback_request"
    assert grants.live_grant(session, customer_id=customer.id, agent_id=hub.agent.id) is None
    # The supervisor hands the request to an agent (an agent taking it from the team's list is the same path).
    taken = client.patch(f"/api/v1/tickets/{ticket.id}", json={"version": ticket.version, "assignee_id": hub.agent.id},
                         headers=bearer(session, hub.supervisor))
    assert taken.status_code == 200, taken.text
    fresh(session)
    grant = grants.live_grant(session, customer_id=customer.id, agent_id=hub.agent.id)
    assert grant is not None and grant.granted_by_name == "system:ivr" and grant.ticket_id == ticket.id
    response = client.post(f"/api/v1/tickets/{ticket.id}/callback", headers=bearer(session, hub.agent))
    assert response.status_code == 202, response.text
