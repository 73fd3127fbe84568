"""Site calendars and business minutes, SLA policies as data, ticket deadlines, and the sweep that
marks at-risk and breached tickets and escalates them, once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import ValidationFailed
from tests.tickets.factories_tickets import World, make_customer, make_ticket, reload, world  # noqa: F401
from tickets import calendar, service, sla
from tickets.escalation import notifications_for
from tickets.models.tickets import TicketEvent

MON = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def _office_hours(session, site_id: int) -> None:  # type: ignore[no-untyped-def]
    """Monday to Friday 09:00-12:00 and 13:00-18:00 local time."""
    for weekday in range(5):
        calendar.set_opening_hours(session, site_id=site_id, weekday=weekday,
                                   ranges=[("13:00", "18:00"), ("09:00", "12:00")])
    session.commit()


# Calendar -----------------------------------------------------------------------------------

def test_a_site_without_hours_is_always_open(session, world: World) -> None:
    assert calendar.is_open(session, site_id=world.site.id, at=MON.replace(hour=3))
    assert calendar.add_business_minutes(session, site_id=world.site.id, start=MON, minutes=600) == MON + timedelta(hours=10)


def test_office_hours_in_the_site_zone(session, world: World) -> None:
    _office_hours(session, world.site.id)  # Shanghai is UTC+8: 09:00 local is 01:00 UTC
    site = world.site.id
    assert calendar.is_open(session, site_id=site, at=MON.replace(hour=1))
    assert not calendar.is_open(session, site_id=site, at=MON.replace(hour=4, minute=30))  # lunch
    assert not calendar.is_open(session, site_id=site, at=MON.replace(hour=10))  # 18:00 local
    assert calendar.next_open(session, site_id=site, at=MON.replace(hour=4, minute=30)) == MON.replace(hour=5)
    saturday = MON + timedelta(days=5)
    assert calendar.next_open(session, site_id=site, at=saturday) == MON + timedelta(days=7, hours=1)
    assert calendar.opening_hours(session, site_id=site)[0] == [("09:00", "12:00"), ("13:00", "18:00")]


def test_holidays_close_the_site(session, world: World) -> None:
    _office_hours(session, world.site.id)
    calendar.add_holiday(session, day=date(2026, 1, 6), name="Site anniversary", site_id=world.site.id)
    calendar.add_holiday(session, day=date(2026, 1, 7), name="Public holiday")  # every site
    session.commit()
    tuesday_morning = MON + timedelta(days=1, hours=2)
    assert not calendar.is_open(session, site_id=world.site.id, at=tuesday_morning)
    assert calendar.next_open(session, site_id=world.site.id, at=tuesday_morning) == MON + timedelta(days=3, hours=1)
    assert calendar.is_holiday(session, site_id=world.far_site.id, day=date(2026, 1, 7))
    assert not calendar.is_holiday(session, site_id=world.far_site.id, day=date(2026, 1, 6))
    names = [h.name for h in calendar.holidays(session, site_id=world.site.id, start=date(2026, 1, 1), end=date(2026, 1, 31))]
    assert names == ["Site anniversary", "Public holiday"]
    assert calendar.remove_holiday(session, day=date(2026, 1, 6), site_id=world.site.id)
    assert calendar.is_open(session, site_id=world.site.id, at=tuesday_morning)


def test_business_minutes_skip_lunch_nights_and_weekends(session, world: World) -> None:
    _office_hours(session, world.site.id)
    site = world.site.id
    friday_1700 = MON + timedelta(days=4, hours=9)  # 17:00 local
    # 60 minutes left on Friday, 120 more from Monday 09:00 local.
    due = calendar.add_business_minutes(session, site_id=site, start=friday_1700, minutes=180)
    assert due == MON + timedelta(days=7, hours=3)
    assert calendar.business_minutes_between(session, site_id=site, start=friday_1700, end=due) == 180
    assert calendar.add_business_minutes(session, site_id=site, start=due, minutes=-180) == friday_1700
    assert calendar.business_minutes_between(session, site_id=site, start=MON, end=MON + timedelta(days=1)) == 480


def test_business_minutes_across_a_daylight_saving_change(session, world: World) -> None:
    site = world.far_site.id  # Paris: clocks go forward on 29 March 2026
    calendar.set_opening_hours(session, site_id=site, weekday=4, ranges=[("09:00", "17:00")])
    calendar.set_opening_hours(session, site_id=site, weekday=0, ranges=[("09:00", "17:00")])
    friday = datetime(2026, 3, 27, 15, 0, tzinfo=UTC)  # 16:00 CET
    due = calendar.add_business_minutes(session, site_id=site, start=friday, minutes=120)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # Monday 10:00 CEST


def test_opening_hours_are_validated(session, world: World) -> None:
    with pytest.raises(ValidationFailed):
        calendar.set_opening_hours(session, site_id=world.site.id, weekday=7, ranges=[])
    with pytest.raises(ValidationFailed):
        calendar.set_opening_hours(session, site_id=world.site.id, weekday=1, ranges=[("18:00", "09:00")])
    with pytest.raises(ValidationFailed):
        calendar.set_opening_hours(session, site_id=world.site.id, weekday=1, ranges=[("09:00", "13:00"), ("12:00", "14:00")])
    with pytest.raises(ValidationFailed):
        calendar.set_opening_hours(session, site_id=world.site.id, weekday=1, ranges=[("9am", "5pm")])
    calendar.set_opening_hours(session, site_id=world.site.id, weekday=1, ranges=[("00:00", "24:00")])


# Policies -----------------------------------------------------------------------------------

def test_policy_most_specific_then_strictest(session) -> None:
    assert sla.policy_for(session, category="inquiry", priority="normal", tier=None).first_response_minutes == 240
    assert sla.policy_for(session, category="inquiry", priority="urgent", tier="gold").resolution_minutes == 240
    assert sla.policy_for(session, category="inquiry", priority="normal", tier="gold").resolution_minutes == 1440
    sla.set_policy(session, category="inquiry", priority="normal", tier="gold", first_response_minutes=5,
                   resolution_minutes=50, business_hours=False)
    policy = sla.policy_for(session, category="inquiry", priority="normal", tier="gold")
    assert (policy.first_response_minutes, policy.resolution_minutes, policy.business_hours) == (5, 50, False)
    with pytest.raises(ValidationFailed) as caught:
        sla.set_policy(session, category="praise", tier="bronze", first_response_minutes=0, resolution_minutes=1)
    assert [e["loc"] for e in caught.value.errors] == [["category"], ["tier"], ["resolution_minutes"]]


def test_settings_have_defaults_and_can_change(session) -> None:
    assert sla.get_setting(session, "complaint_response_minutes") == 1440
    sla.set_setting(session, key="complaint_response_minutes", value=720)
    assert sla.get_setting(session, "complaint_response_minutes") == 720
    with pytest.raises(ValidationFailed):
        sla.set_setting(session, key="at_risk_percent", value=100)


def test_deadlines_use_the_site_calendar_and_tier(session, world: World, clock) -> None:
    _office_hours(session, world.site.id)
    clock.set(MON + timedelta(hours=9))  # 17:00 local Monday
    gold = make_customer(session, site=world.site, tier="gold")
    ticket = make_ticket(session, by=world.agent, customer_id=gold.id)
    assert (ticket.tier, ticket.first_response_minutes, ticket.resolution_minutes) == ("gold", 120, 1440)
    # 60 minutes on Monday, 60 on Tuesday from 09:00 local.
    assert ticket.first_response_due_at == MON + timedelta(days=1, hours=2)
    assert ticket.sla_target == "first_response" and ticket.sla_due_at == ticket.first_response_due_at
    # At risk with 20% (24 business minutes) left.
    assert ticket.sla_at_risk_at == ticket.first_response_due_at - timedelta(minutes=24)


# Sweep --------------------------------------------------------------------------------------

def test_sweep_marks_at_risk_then_breached_and_escalates_once(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent)  # normal: first response within 240 minutes
    assert sla.sweep(session) == {"at_risk": 0, "breached": 0}
    clock.advance(minutes=193)
    assert sla.sweep(session) == {"at_risk": 1, "breached": 0}
    assert [n.kind for n in notifications_for(session, world.agent.id)] == ["sla_at_risk"]
    assert sla.sweep(session) == {"at_risk": 0, "breached": 0}
    clock.advance(minutes=47)
    assert sla.sweep(session) == {"at_risk": 0, "breached": 1}
    session.commit()
    ticket = reload(session, ticket)
    assert (ticket.sla_state, ticket.status, ticket.escalation_level) == ("breached", "escalated", 1)
    assert [n.kind for n in notifications_for(session, world.leader.id)] == ["escalated"]
    clock.advance(hours=1)
    assert sla.sweep(session) == {"at_risk": 0, "breached": 0}
    assert reload(session, ticket).escalation_level == 1
    kinds = [e.kind for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]
    assert kinds.count("sla_breached") == 1 and kinds.count("escalated") == 1


def test_a_new_deadline_can_breach_again(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent, priority="urgent")  # 15 min response, 240 resolution
    clock.advance(minutes=16)
    sla.sweep(session)
    assert ticket.escalation_level == 1 and ticket.sla_state == "breached"
    service.mark_first_response(session, ticket_id=ticket.id)
    assert ticket.sla_target == "resolution" and ticket.sla_state == "ok"
    clock.advance(minutes=240)
    assert sla.sweep(session) == {"at_risk": 0, "breached": 1}
    assert ticket.escalation_level == 2


def test_sweep_skips_paused_and_resolved_tickets(session, world: World, clock) -> None:
    waiting = make_ticket(session, by=world.agent)
    service.transition(session, ticket_id=waiting.id, by=world.agent, to="waiting_on_customer")
    done = make_ticket(session, by=world.agent)
    service.transition(session, ticket_id=done.id, by=world.agent, to="resolved", resolution="Answered")
    session.commit()
    clock.advance(days=10)
    assert sla.due_for_sweep(session) == []


def test_sweep_at_the_top_of_the_ladder_tells_the_center_head(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent)
    from tickets import escalation

    escalation.escalate(session, ticket_id=ticket.id, by=world.agent, reason="Fraud", to_level="center_head", urgent=True)
    clock.advance(hours=5)
    assert sla.sweep(session)["breached"] == 1
    assert ticket.escalation_level == 3
    assert [n.kind for n in notifications_for(session, world.head.id)] == ["sla_breached", "escalated"]


def test_sweep_task_runs_each_ticket_in_its_own_transaction(session, world: World, clock) -> None:
    from tickets.tasks import sla_sweep

    first, second = make_ticket(session, by=world.agent), make_ticket(session, by=world.agent)
    clock.advance(hours=5)
    assert sla_sweep() == 2
    assert sla_sweep() == 0
    assert {reload(session, t).escalation_level for t in (first, second)} == {1}
