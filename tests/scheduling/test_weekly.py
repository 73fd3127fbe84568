"""The supervisor's weekly totals (DOMAIN.md's "Reports and measures": weekly totals of tickets
accepted, supervised, answered and followed up), on the weekly figures beside the duty logs'."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from scheduling import dutylog
from tests.tickets.factories_customers import make_customer
from tickets import care, editing, escalation
from tickets import service as ticket_service

MONDAY = date(2026, 1, 12)  # the week of 12 to 18 January, Europe/Berlin


def test_the_supervisors_weekly_totals_of_tickets_accepted_supervised_answered_and_followed_up(session, world,
                                                                                              clock) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_site

    clock.set(datetime(2026, 1, 11, 22, 30, tzinfo=UTC))  # 23:30 on Sunday in Berlin: the week before
    before = ticket_service.open_ticket(session, category="inquiry", site_id=world.site.id)
    clock.set(datetime(2026, 1, 12, 9, tzinfo=UTC))
    opened = [ticket_service.open_ticket(session, category=c, site_id=world.site.id)
              for c in ("inquiry", "complaint", "inquiry")]
    ticket_service.open_ticket(session, category="inquiry", site_id=make_site(session).id)  # another site's
    for ticket in (before, opened[0]):
        editing.mark_first_response(session, ticket_id=ticket.id, at=clock.now())
    for _ in range(2):  # escalated twice: one ticket supervised
        escalation.escalate(session, ticket_id=opened[1].id, by=None, reason="No reply from the store")
    customer = make_customer(session, site=world.site)
    followup = care.schedule_satisfaction_followup(session, ticket_id=opened[1].id, customer_id=customer.id,
                                                   due_at=clock.now() + timedelta(days=1))
    care.schedule_satisfaction_followup(session, ticket_id=opened[2].id, customer_id=customer.id,
                                        due_at=clock.now() + timedelta(days=1))  # not yet made
    clock.set(datetime(2026, 1, 14, 9, tzinfo=UTC))
    care.complete_followup(session, followup_id=followup.id, by=world.supervisor, satisfaction=4)
    session.commit()
    week = dutylog.weekly(session, site_id=world.site.id, week_start=MONDAY, by=world.supervisor)
    assert week["tickets"] == {"accepted": 3, "supervised": 1, "answered": 2, "followed_up": 1}
    earlier = dutylog.weekly(session, site_id=world.site.id, week_start=MONDAY - timedelta(days=7),
                             by=world.supervisor)
    assert earlier["tickets"] == {"accepted": 1, "supervised": 0, "answered": 0, "followed_up": 0}
