"""Complaints: the team leader told at once, the reply due, key customers' phone follow-up, the
satisfaction follow-up after resolution, and the monthly analysis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import ValidationFailed
from tests.tickets.factories_tickets import World, make_customer, make_ticket, world  # noqa: F401
from tickets import complaints, service
from tickets.escalation import notifications_for
from tickets.models.customers import CareFollowUp


def test_complaint_tells_the_team_leader_and_sets_the_reply_due(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent, category="complaint", description="Rude cashier")
    assert ticket.priority == "high"
    assert ticket.reply_due_at == clock.now() + timedelta(hours=24)
    assert ticket.phone_followup_due_at is None
    assert [n.kind for n in notifications_for(session, world.leader.id)] == ["complaint_opened"]
    assert notifications_for(session, world.agent.id) == []
    kinds = [e.kind for e in service.timeline_for(session, ticket_id=ticket.id, user=None)]
    assert kinds == ["opened", "complaint_registered"]


def test_key_customer_complaint_gets_a_phone_follow_up(session, world: World, clock) -> None:
    platinum = make_customer(session, site=world.site, tier="platinum")
    ticket = service.open_from_call(session, call_sid="CAkey", customer_id=platinum.id, category="complaint",
                                    site_id=world.site.id, caller_index=None)
    assert ticket.phone_followup_due_at == clock.now() + timedelta(hours=24)


def test_complaint_without_a_team_tells_the_site_leaders(session, world: World) -> None:
    service.open_from_call(session, call_sid="CAnt", customer_id=None, category="complaint",
                           site_id=world.site.id, caller_index=None)
    assert [n.kind for n in notifications_for(session, world.leader.id)] == ["complaint_opened"]
    assert [n.kind for n in notifications_for(session, world.other_leader.id)] == ["complaint_opened"]


def test_recategorised_as_complaint_starts_the_flow(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    service.update(session, ticket_id=ticket.id, by=world.agent, version=1, changes={"category": "complaint"})
    assert ticket.reply_due_at is not None
    assert [n.kind for n in notifications_for(session, world.leader.id)] == ["complaint_opened"]


def test_reply_on_time_or_late(session, world: World, clock) -> None:
    on_time = make_ticket(session, by=world.agent, category="complaint")
    late = make_ticket(session, by=world.agent, category="complaint")
    clock.advance(hours=2)
    complaints.record_reply(session, ticket_id=on_time.id, by=world.agent, channel="phone")
    clock.advance(hours=23)
    complaints.record_reply(session, ticket_id=late.id, by=world.agent, channel="sms")
    assert on_time.first_response_at is not None and on_time.replied_at < on_time.reply_due_at
    assert late.replied_at > late.reply_due_at
    replied = [e for e in service.timeline_for(session, ticket_id=late.id, user=None) if e.kind == "complaint_replied"]
    assert (replied[0].from_value, replied[0].to_value) == ("late", "sms")
    with pytest.raises(ValidationFailed):
        complaints.record_reply(session, ticket_id=make_ticket(session, by=world.agent).id, by=world.agent)


def test_resolution_makes_the_satisfaction_follow_up_due(session, world: World, clock) -> None:
    customer = make_customer(session, site=world.site)
    ticket = make_ticket(session, by=world.agent, category="complaint", customer_id=customer.id)
    clock.advance(hours=3)
    service.transition(session, ticket_id=ticket.id, by=world.agent, to="resolved", resolution="Apologised, voucher",
                       cause="staff_attitude")
    session.commit()
    assert ticket.complaint_cause == "staff_attitude"
    assert ticket.satisfaction_followup_due_at == clock.now() + timedelta(hours=24)
    followup = session.scalars(select(CareFollowUp).where(CareFollowUp.ticket_id == ticket.id)).one()
    assert (followup.customer_id, followup.kind, followup.due_at) == (
        customer.id, "satisfaction", ticket.satisfaction_followup_due_at)


def test_monthly_complaint_analysis(session, world: World, clock) -> None:
    for _ in range(3):
        make_customer(session, site=world.site)
    clock.set(datetime(2026, 2, 2, 2, 0, tzinfo=UTC))
    fast = make_ticket(session, by=world.agent, category="complaint")
    slow = make_ticket(session, by=world.agent, category="complaint")
    make_ticket(session, by=world.agent, category="complaint")
    make_ticket(session, by=world.agent, category="inquiry")
    make_ticket(session, site=world.far_site, category="complaint")  # another site
    clock.advance(hours=5)
    complaints.record_reply(session, ticket_id=fast.id, by=world.agent)
    service.transition(session, ticket_id=fast.id, by=world.agent, to="resolved", resolution="Refund", cause="price")
    clock.advance(days=3)
    service.transition(session, ticket_id=slow.id, by=world.agent, to="resolved", resolution="Replaced",
                       cause="product_quality")
    clock.set(datetime(2026, 1, 31, 15, 59, tzinfo=UTC))  # 23:59 on 31 January in Shanghai: January
    make_ticket(session, by=world.agent, category="complaint")
    session.commit()

    report = complaints.complaint_analysis(session, site_id=world.site.id, month="2026-02")
    assert report["month"] == "2026-02" and report["tickets"] == 4 and report["complaints"] == 3
    assert report["by_category"]["inquiry"] == 1 and report["by_category"]["suggestion"] == 0
    assert report["by_cause"] == {"price": 1, "product_quality": 1, "unspecified": 1}
    assert report["replies"] == {"on_time": 1, "late": 0, "pending": 2}
    resolution = report["resolution"]
    assert (resolution["resolved"], resolution["within_24h"], resolution["over_72h"], resolution["unresolved"]) == (
        2, 1, 1, 1)
    assert resolution["median_minutes"] == (5 * 60 + (5 * 60 + 3 * 1440)) // 2
    assert report["customers"] == 3 and report["complaint_rate"] == 1.0
    assert complaints.complaint_analysis(session, site_id=None, month="2026-02")["complaints"] == 4
    assert complaints.complaint_analysis(session, site_id=world.site.id, month="2026-01")["complaints"] == 1
    with pytest.raises(ValidationFailed):
        complaints.complaint_analysis(session, site_id=None, month="February")
