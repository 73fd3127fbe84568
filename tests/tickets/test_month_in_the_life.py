"""A month in the life of the customer lifecycle, through the real app, the carrier simulator
and the injected clock: calls, purchases from the till, complaints with their deadlines,
follow-ups and a quarter end. Tiers move only as the rules say, the quiet list is right, an
overdue complaint escalates once, CSAT and the month's figures match counts made by hand, and
no SMS goes to a customer who did not agree to it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.factories import fresh, make_user
from tests.telephony.controls_helpers import bearer
from tests.telephony.hub import CALLER, Hub, available, eager_tasks, hub, sim  # noqa: F401
from tests.tickets.factories_customers import make_customer
from tickets import care, complaints, figures, sla, tasks
from tickets import service as ticket_service
from tickets.models.customers import Customer, OutboundMessage
from tickets.models.tickets import Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=SHANGHAI)


def _reload(session, model, row_id):  # type: ignore[no-untyped-def]
    return fresh(session).get(model, row_id)


def test_a_month_in_the_life(client, sim, hub: Hub, session, clock) -> None:  # type: ignore[no-untyped-def]
    # December: a silver member who will do nothing (and gave no SMS consent).
    clock.set(at(12, 1, year=2025))
    idle_silver = make_customer(session, site=hub.site, tier="silver", consent=("service",))
    # March: the month under test.
    clock.set(at(3, 2))
    caller = make_customer(session, site=hub.site, tier="gold", phones=[CALLER], owner=hub.agent,
                           consent=("service", "care_sms"))
    shopper = make_customer(session, site=hub.site, consent=("service", "care_sms"))
    quiet = make_customer(session, site=hub.site, consent=("service",))
    sla.set_setting(session, key="quiet_customer_days", value=27)
    session.commit()
    assert tasks.evaluate_tiers() == 0  # the start changes nobody

    # 2 March: the gold member calls with a complaint; the agent answers.
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    assert sim.press(sid, "2")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.pump()
    sim.hangup(sid)
    sim.pump()
    complaint = ticket_service.ticket_for_call(fresh(session), call_sid=sid)
    assert complaint is not None and complaint.category == "complaint"
    assert _reload(session, Customer, caller.id).last_contact_at is not None

    # 2 March, afternoon: the till sends the shopper's purchases (one twice); the second earns silver.
    clock.set(at(3, 2, 15))
    agent_token = bearer(session, hub.agent)
    till = bearer(session, make_user(session, role="admin", site=hub.site))
    for source, cents in (("till-1", 60_000), ("till-1", 60_000), ("till-2", 50_000)):
        response = client.post(f"/api/v1/customers/{shopper.id}/purchases", headers=till,
                               json={"source_id": source, "amount_cents": cents})
        assert response.status_code in (200, 201), response.text
    assert response.json()["tier"] == "silver" and response.json()["points"] == 1_100

    # Two hours past the 24 h reply deadline, it has escalated once, whatever the sweeps.
    clock.set(complaint.reply_due_at - timedelta(hours=1))
    tasks.sla_sweep()
    level_before = _reload(session, Ticket, complaint.id).escalation_level
    clock.set(complaint.reply_due_at + timedelta(hours=2))
    tasks.sla_sweep()
    tasks.sla_sweep()
    overdue = _reload(session, Ticket, complaint.id)
    assert overdue.escalation_level == level_before + 1 and overdue.reply_overdue_at is not None

    # The agent replies and resolves; the satisfaction call is made the next day (score 4).
    complaints.record_reply(session, ticket_id=complaint.id, by=hub.agent)
    ticket_service.transition(session, ticket_id=complaint.id, by=hub.agent, to="resolved", resolution="refund")
    session.commit()
    # A second complaint, of the idle member, resolved too; its follow-up scores 2.
    second = ticket_service.open_ticket(session, category="complaint", by=hub.agent, customer_id=idle_silver.id)
    session.commit()
    complaints.record_reply(session, ticket_id=second.id, by=hub.agent)
    ticket_service.transition(session, ticket_id=second.id, by=hub.agent, to="resolved", resolution="explained")
    session.commit()
    clock.set(at(3, 6))
    for ticket, score in ((complaint, 4), (second, 2)):
        followup = care.followup_of_ticket(fresh(session), ticket_id=ticket.id)
        done = client.post(f"/api/v1/followups/{followup.id}/complete", headers=agent_token,
                           json={"outcome": "reached", "satisfaction": score})
        assert done.status_code == 200, done.text

    # 31 March, 27 days after 4 March: quiet are the customer nobody heard from and the shopper, who
    # bought on 2 March; the gold and the idle member were reached by their follow-ups on 6 March.
    clock.set(at(3, 31, 20))
    rows, count = care.quiet_customers(fresh(session))
    assert (count, [c.id for c in rows]) == (2, [shopper.id, quiet.id])

    # The month's figures against counts made by hand.
    month = figures.month_figures(session, site_id=hub.site.id, month="2026-03")
    assert (month.customers, month.new_customers, month.complaints) == (4, 3, 2)
    assert (month.purchases, month.spend_cents, month.buyers) == (2, 110_000, 1)
    assert (month.satisfaction.scored, month.satisfaction.average, month.satisfaction.csat) == (2, 3.0, 0.5)
    assert month.complaint_rate == 0.5

    # The quarter ends: only the member who held silver for the whole quarter and did nothing moves.
    clock.set(at(4, 1, 0).replace(minute=5))
    assert tasks.evaluate_tiers() == 1
    assert tasks.evaluate_tiers() == 0  # a restart assesses nothing twice
    tiers_now = {c.id: c.tier for c in fresh(session).scalars(select(Customer))}
    assert tiers_now == {idle_silver.id: "normal", caller.id: "gold", shopper.id: "silver", quiet.id: "normal"}

    # No SMS to anyone who did not agree: only the shopper's upgrade notice went out.
    messages = list(session.scalars(select(OutboundMessage)))
    assert [(m.customer_id, m.kind) for m in messages] == [(shopper.id, "tier_upgrade")]
    consenting = {c.id for c in session.scalars(select(Customer)) if "care_sms" in (c.consent_purposes or [])}
    assert {m.customer_id for m in messages} <= consenting
