"""The figures the seeds ask for, against counts made by hand: members and spending, complaint
and churn rates, CSAT per agent and team, first-contact resolution and the weekly totals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from core.errors import ValidationFailed
from tests.tickets.factories_customers import Staff, make_customer, staff  # noqa: F401
from tickets import care, complaints, figures, service, tiers


def test_month_figures_match_the_hand_counts(session: Session, staff: Staff, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 2, 20, 2, 0, tzinfo=UTC))  # February: history before the month
    loyal = make_customer(session, site=staff.site, tier="gold")
    gone = make_customer(session, site=staff.site)
    make_customer(session, site=staff.other_site)  # another site: not counted
    tiers.record_contact(session, customer_id=loyal.id, ref="call:feb-1")
    tiers.record_purchase(session, customer_id=gone.id, amount_cents=5_000, ref="till:feb-1")
    session.commit()

    clock.set(datetime(2026, 3, 3, 2, 0, tzinfo=UTC))  # March, a Tuesday
    newcomer = make_customer(session, site=staff.site)
    tiers.record_purchase(session, customer_id=loyal.id, amount_cents=12_000, ref="till:mar-1")
    tiers.record_purchase(session, customer_id=newcomer.id, amount_cents=3_000, ref="till:mar-2")
    first = service.open_from_call(session, call_sid="CAmar1", customer_id=loyal.id, category="complaint",
                                   site_id=staff.site.id, caller_index=None)
    service.assign_to_call_agent(session, ticket_id=first.id, agent_id=staff.agent.id)
    second = service.open_from_call(session, call_sid="CAmar2", customer_id=newcomer.id, category="inquiry",
                                    site_id=staff.site.id, caller_index=None)
    service.assign_to_call_agent(session, ticket_id=second.id, agent_id=staff.agent.id)
    service.link_call(session, ticket_id=second.id, call_sid="CAmar3", direction="inbound")  # a repeat call
    session.commit()
    complaints.record_reply(session, ticket_id=first.id, by=staff.agent)
    for ticket in (first, second):
        service.transition(session, ticket_id=ticket.id, by=staff.agent, to="resolved", resolution="done")
    session.commit()
    clock.advance(days=2)
    followup = care.followup_of_ticket(session, ticket_id=first.id)
    care.complete_followup(session, followup_id=followup.id, by=staff.agent, satisfaction=5)
    session.commit()

    out = figures.month_figures(session, site_id=staff.site.id, month="2026-03")
    assert (out.customers, out.new_customers, out.by_tier["gold"]) == (3, 1, 1)
    assert (out.purchases, out.spend_cents, out.buyers) == (2, 15_000, 2)
    assert (out.complaints, out.complaint_rate) == (1, round(1 / 3, 4))
    # Active before March: loyal and gone; gone had nothing in March.
    assert (out.active_before, out.churned, out.churn_rate) == (2, 1, 0.5)
    assert (out.resolved, out.resolved_first_contact, out.first_contact_resolution) == (2, 1, 0.5)
    assert (out.satisfaction.calls, out.satisfaction.average, out.satisfaction.csat) == (1, 5.0, 1.0)
    assert out.satisfaction_by_agent[staff.agent.id].scored == 1
    week = next(w for w in out.weeks if w.start.isoformat() == "2026-03-02")
    assert (week.taken, week.answered, week.followed_up) == (2, 2, 1)  # resolving answers too
    assert [w.start.isoformat() for w in out.weeks][:2] == ["2026-02-23", "2026-03-02"]
    with pytest.raises(ValidationFailed):
        figures.month_figures(session, site_id=staff.site.id, month="March")
