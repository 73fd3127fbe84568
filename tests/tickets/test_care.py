"""Care: greetings queued once per day for customers who agreed, the outbound queue telephony
drains, satisfaction follow-ups after complaints, and the quiet-customer list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from core.errors import PermissionDenied, ValidationFailed
from tests.tickets.factories_customers import (  # noqa: F401
    Published, Staff, make_customer, make_ticket_id, published, staff,
)
from tickets import care, tiers
from tickets.customers import erase_customer
from tickets.models.customers import OutboundMessage

# 2026-03-14 10:00 in Shanghai, where the test sites are.
MORNING = datetime(2026, 3, 14, 2, 0, tzinfo=UTC)


def _messages(session: Session) -> list[OutboundMessage]:
    return list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))


def test_birthday_greetings_go_to_consenting_customers_once(session: Session, staff: Staff, clock: FrozenClock) -> None:
    clock.set(MORNING - timedelta(hours=2))  # 08:00 local: too early
    yes = make_customer(session, site=staff.site, birthday="1990-03-14", consent=("service", "care_sms"))
    make_customer(session, site=staff.site, birthday="1990-03-14", consent=("service",))
    make_customer(session, site=staff.site, birthday="1990-03-15", consent=("service", "care_sms"))
    assert care.queue_greetings(session) == 0
    clock.set(MORNING)
    assert care.queue_greetings(session) == 1
    session.commit()
    assert care.queue_greetings(session) == 0
    (message,) = _messages(session)
    assert message.customer_id == yes.id and message.kind == "birthday" and message.status == "queued"


def test_birthday_on_29_february_is_greeted_on_the_28th(session: Session, staff: Staff, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 2, 28, 2, 0, tzinfo=UTC))
    make_customer(session, site=staff.site, birthday="2004-02-29", consent=("care_sms",))
    assert care.queue_greetings(session) == 1


def test_holiday_greetings_go_out_on_the_eve(session: Session, staff: Staff, clock: FrozenClock) -> None:
    clock.set(MORNING - timedelta(days=2))
    care.add_greeting_day(session, on_date=date(2026, 3, 15), name="White Day", body="Happy holidays!", by=staff.admin)
    make_customer(session, site=staff.site, consent=("care_sms",))
    make_customer(session, site=staff.other_site, consent=("care_sms",))
    make_customer(session, site=staff.site)
    clock.set(MORNING - timedelta(days=1))
    assert care.queue_greetings(session) == 0  # two days before: nothing yet
    clock.set(MORNING)  # the eve, at the greeting hour
    assert care.queue_greetings(session) == 2
    session.commit()
    assert {m.body for m in _messages(session)} == {"Happy holidays!"}
    assert care.queue_greetings(session) == 0
    clock.advance(days=1)  # the day itself: sent already
    assert care.queue_greetings(session) == 0


def test_greeting_days_are_admins_and_checked(session: Session, staff: Staff, clock: FrozenClock) -> None:
    clock.set(MORNING)
    with pytest.raises(PermissionDenied):
        care.add_greeting_day(session, on_date=date(2026, 5, 1), name="Labour Day", body="Hi", by=staff.supervisor)
    with pytest.raises(ValidationFailed) as refused:
        care.add_greeting_day(session, on_date=date(2026, 3, 14), name="", body=" ", by=staff.admin)
    assert sorted(e["loc"][0] for e in refused.value.errors) == ["body", "name", "on_date"]
    day = care.add_greeting_day(session, on_date=date(2026, 5, 1), name="Labour Day", body="Hi", by=staff.admin)
    with pytest.raises(care.GreetingDayTaken):
        care.add_greeting_day(session, on_date=date(2026, 5, 1), name="Again", body="Hi", by=staff.admin)
    assert [d.name for d in care.list_greeting_days(session)] == ["Labour Day"]
    care.remove_greeting_day(session, greeting_day_id=day.id, by=staff.admin)
    assert care.list_greeting_days(session) == []


def test_outbound_queue_claim_send_and_fail(session: Session, staff: Staff, clock: FrozenClock) -> None:
    first = make_customer(session, site=staff.site, phones=["138 0013 8200"])
    second = make_customer(session, site=staff.site)
    care.queue_message(session, customer_id=first.id, kind="tier_upgrade", params={"tier": "gold"}, dedupe_key="k1")
    assert care.queue_message(session, customer_id=first.id, kind="tier_upgrade", params={"tier": "gold"},
                              dedupe_key="k1") is None
    care.queue_message(session, customer_id=second.id, kind="birthday")
    session.commit()
    claimed = care.next_queued_messages(session, limit=10)
    session.commit()
    assert [m.customer_id for m in claimed] == [first.id, second.id]
    assert claimed[0].to == "+8613800138200" and "gold" in claimed[0].body
    assert care.next_queued_messages(session, limit=10) == []  # claimed ones are not offered twice
    care.mark_message_sent(session, message_id=claimed[0].message_id, provider_ref="SM1")
    care.mark_message_failed(session, message_id=claimed[1].message_id, error="gateway_busy", retry=True)
    session.commit()
    assert [m.status for m in _messages(session)] == ["sent", "queued"]
    again = care.next_queued_messages(session, limit=10)
    session.commit()
    assert [m.message_id for m in again] == [claimed[1].message_id]
    clock.advance(care.CLAIM_TIMEOUT + timedelta(minutes=1))  # never reported: offered again
    assert [m.message_id for m in care.next_queued_messages(session, limit=10)] == [claimed[1].message_id]


def test_erasure_cancels_queued_messages(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    care.queue_message(session, customer_id=customer.id, kind="birthday")
    erase_customer(session, customer_id=customer.id, by=None, reason="left")
    session.commit()
    (message,) = _messages(session)
    assert message.status == "cancelled" and message.body is None
    assert care.next_queued_messages(session) == []


def test_satisfaction_followup_is_scheduled_once_and_announced_when_due(session: Session, staff: Staff,
                                                                       clock: FrozenClock,
                                                                       published: Published) -> None:
    customer = make_customer(session, site=staff.site)
    ticket_id = make_ticket_id(session, staff=staff, customer=customer)
    due = clock.now() + timedelta(days=1)
    followup = care.schedule_satisfaction_followup(session, ticket_id=ticket_id, customer_id=customer.id, due_at=due)
    assert care.schedule_satisfaction_followup(session, ticket_id=ticket_id, customer_id=customer.id,
                                               due_at=due).id == followup.id
    session.commit()
    assert care.followups_for(session, viewer=staff.admin, due_now=True) == []
    assert care.remind_due_followups(session) == 0
    clock.advance(days=1)
    assert [f.id for f in care.followups_for(session, viewer=staff.supervisor, due_now=True)] == [followup.id]
    assert care.remind_due_followups(session) == 1
    session.commit()
    assert care.remind_due_followups(session) == 0
    assert published.of("care.followup_due")[0].payload == {"followup_id": followup.id, "customer_id": customer.id,
                                                              "ticket_id": ticket_id}
    care.complete_followup(session, followup_id=followup.id, by=staff.agent, satisfaction=4, note="happy now")
    session.commit()
    assert followup.status == "done" and care.followups_for(session, viewer=staff.admin) == []


def test_quiet_customers_are_those_without_contact_in_n_days(session: Session, staff: Staff,
                                                            clock: FrozenClock) -> None:
    silent = make_customer(session, site=staff.site)
    talkative = make_customer(session, site=staff.site)
    clock.advance(days=100)
    tiers.record_contact(session, customer_id=talkative.id, ref="CA-recent")
    session.commit()
    rows, count = care.quiet_customers(session, days=90)
    assert count == 1 and [c.id for c in rows] == [silent.id]
    assert care.quiet_customers(session, days=90, site_id=staff.other_site.id)[1] == 0


def test_care_and_tier_sweep_tasks_run_on_their_own_sessions(session: Session, staff: Staff,
                                                            clock: FrozenClock) -> None:
    from tickets import tasks

    clock.set(MORNING)
    make_customer(session, site=staff.site, birthday="1990-03-14", consent=("care_sms",))
    assert tasks.care_reminders() == 1
    assert tasks.care_reminders() == 0
    assert tasks.evaluate_tiers() == 0


def test_key_customers_regular_contact_schedule(session: Session, staff: Staff, clock: FrozenClock) -> None:
    from tickets.escalation import notifications_for

    gold = make_customer(session, site=staff.site, tier="gold", owner=staff.agent)
    make_customer(session, site=staff.site, tier="silver", owner=staff.agent)  # not a key customer
    called = make_customer(session, site=staff.site, tier="platinum", owner=staff.agent)
    clock.advance(days=25)
    tiers.record_contact(session, customer_id=called.id, ref="call:CA-regular")
    session.commit()
    clock.advance(days=6)  # 31 days after joining: the gold member is due, the platinum one was called
    assert care.remind_regular_contacts(session) == 1
    assert care.remind_regular_contacts(session) == 0  # once per lapse
    session.commit()
    [note] = [n for n in notifications_for(session, staff.agent.id) if n.kind == "care.regular_contact_due"]
    assert note.params == {"customer_id": gold.id, "days": 30}
