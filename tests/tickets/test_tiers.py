"""Tiers from spend, frequency and points, thresholds as data, automatic upgrades and downgrades
with a notice to the customer, and activity recorded once per reference."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import FrozenClock
from tests.tickets.factories_customers import Published, Staff, make_customer, published, staff  # noqa: F401
from core.errors import ValidationFailed
from tickets import sla, tiers
from tickets.importer import import_rows
from tickets.models.customers import Customer, OutboundMessage


def _shopper(session: Session, customer_id: int, *, spend_cents: int, visits: int) -> None:
    for n in range(visits):
        tiers.record_purchase(session, customer_id=customer_id, amount_cents=spend_cents // visits,
                              ref=f"o-{customer_id}-{n}")
    session.commit()


def test_tier_for_needs_frequency_and_spend_or_points() -> None:
    levels = [tiers.Threshold(t, i, *tiers.DEFAULT_THRESHOLDS[t]) for i, t in enumerate(tiers.DEFAULT_THRESHOLDS)]
    assert tiers.tier_for(levels, spend_cents=10_000_000, frequency=0, points=0) == "normal"
    assert tiers.tier_for(levels, spend_cents=500_000, frequency=4, points=0) == "gold"
    assert tiers.tier_for(levels, spend_cents=0, frequency=10, points=50_000) == "diamond"


def test_evaluate_tiers_upgrades_with_event_audit_and_notice(session: Session, staff: Staff,
                                                            published: Published) -> None:
    customer = make_customer(session, site=staff.site, consent=("service", "care_sms"))
    _shopper(session, customer.id, spend_cents=600_000, visits=4)
    # The upgrade happened at the fourth purchase, not at the next sweep.
    assert customer.tier == "gold" and customer.spend_cents == 600_000
    assert tiers.evaluate_tiers(session) == []  # nothing more to do
    event = published.of("customer.tier_changed")[-1]
    assert event.payload == {"customer_id": customer.id, "from": "silver", "to": "gold"}
    messages = list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
    assert [m.kind for m in messages] == ["tier_upgrade", "tier_upgrade"] and "金卡" in (messages[-1].body or "")
    entry = audit.entries_for(session, object_type="customer", object_id=customer.id)[0]
    assert entry.action == "customer.tier_changed" and entry.details_dict == {"from": "silver", "to": "gold"}


def test_no_notice_without_care_sms_consent(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, consent=("service",))
    _shopper(session, customer.id, spend_cents=600_000, visits=4)
    assert customer.tier == "gold"
    assert session.scalars(select(OutboundMessage)).all() == []


def _start_of_next_quarter(clock: FrozenClock) -> None:
    local = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    _, end = tiers.period_of(local, 3)
    clock.set(datetime.combine(end, time(0, 5), tzinfo=ZoneInfo("Asia/Shanghai")))


def test_demo_start_and_restart_change_no_tier(session: Session, staff: Staff, clock: FrozenClock) -> None:
    """The issue's sequence: tiered customers (and an imported gold with 6,000 points) at a fresh
    start; the sweep runs at once and again at a restart. Nobody is downgraded, no SMS goes out."""
    clock.set(datetime(2026, 12, 5, 16, 0, tzinfo=UTC))
    made = [make_customer(session, site=staff.site, tier=tier, consent=("service", "care_sms"))
            for tier in ("gold", "platinum", "silver", "diamond")]
    report = import_rows(session, by=staff.admin, default_site_id=staff.site.id, rows=[
        {"name": "Imported Gold", "phone": "+8613900000123", "tier": "gold", "points": "6000",
         "consent": "service;care_sms"}])
    session.commit()
    imported = session.get(Customer, report.customer_ids[0])
    assert imported is not None and imported.points == 6000
    for _ in range(2):  # at start, and again at a restart
        assert tiers.evaluate_tiers(session) == []
        session.commit()
    clock.advance(hours=6)
    assert tiers.evaluate_tiers(session) == []
    assert [c.tier for c in made] + [imported.tier] == ["gold", "platinum", "silver", "diamond", "gold"]
    assert session.scalars(select(OutboundMessage)).all() == []


def test_downgrade_only_after_the_first_full_period(session: Session, staff: Staff, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 2, 10, 2, 0, tzinfo=UTC))  # in Q1
    idle = make_customer(session, site=staff.site, tier="gold", consent=("service", "care_sms"))
    loyal = make_customer(session, site=staff.site, tier="gold", consent=("service",))
    _start_of_next_quarter(clock)  # Q1 ended: both tiers were set during it, so they hold
    assert tiers.evaluate_tiers(session) == []
    session.commit()
    for n in range(4):  # Q2: the loyal customer keeps gold by spending
        clock.advance(days=10)
        tiers.record_purchase(session, customer_id=loyal.id, amount_cents=150_000, ref=f"till-{n}")
    session.commit()
    # The admin looks ahead: only the idle customer would move.
    assert tiers.preview_assessment(session) == [tiers.TierChange(idle.id, "gold", "normal")]
    assert idle.tier == "gold"
    _start_of_next_quarter(clock)  # Q2, the first full period, ended
    changes = tiers.evaluate_tiers(session)
    session.commit()
    assert changes == [tiers.TierChange(idle.id, "gold", "normal")]
    assert (idle.tier, loyal.tier) == ("normal", "gold")
    assert [m.kind for m in session.scalars(select(OutboundMessage))] == ["tier_downgrade"]
    clock.advance(hours=1)  # a restart in the new quarter assesses nothing twice
    assert tiers.evaluate_tiers(session) == []


def test_yearly_assessment_is_a_setting(session: Session, staff: Staff, clock: FrozenClock) -> None:
    sla.set_setting(session, key="tier_assessment_months", value=12)
    clock.set(datetime(2025, 6, 1, 2, 0, tzinfo=UTC))
    customer = make_customer(session, site=staff.site, tier="silver")
    _start_of_next_quarter(clock)
    assert tiers.evaluate_tiers(session) == []
    clock.set(datetime(2027, 1, 1, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert tiers.evaluate_tiers(session) == [tiers.TierChange(customer.id, "silver", "normal")]
    with pytest.raises(ValidationFailed):
        sla.set_setting(session, key="tier_assessment_months", value=6)


def test_points_count_instead_of_spend(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, points=20_000)
    for n in range(6):
        tiers.record_contact(session, customer_id=customer.id, ref=f"CA{customer.id}-{n}")
    session.commit()
    assert customer.tier == "platinum"


def test_thresholds_are_data(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    tiers.record_contact(session, customer_id=customer.id, ref="CA-only")
    session.commit()
    assert tiers.evaluate_tiers(session) == []
    tiers.set_threshold(session, tier="silver", min_spend_cents=0, min_frequency=1, min_points=0, by=staff.admin)
    session.commit()
    assert tiers.evaluate_tiers(session)[0].new == "silver"


def test_purchase_earns_points_and_redeem_needs_reason_and_balance(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    assert tiers.record_purchase(session, customer_id=customer.id, amount_cents=12_345, ref="P-1",
                                 earn_points=True) is not None
    assert tiers.record_purchase(session, customer_id=customer.id, amount_cents=12_345, ref="P-1",
                                 earn_points=True) is None
    assert customer.points == 123
    with pytest.raises(ValidationFailed):
        tiers.redeem_points(session, customer_id=customer.id, points=10, reason=" ", by=staff.agent)
    with pytest.raises(tiers.NotEnoughPoints):
        tiers.redeem_points(session, customer_id=customer.id, points=500, reason="gift", by=staff.agent)
    assert tiers.redeem_points(session, customer_id=customer.id, points=100, reason="gift", by=staff.agent) == 23


def test_record_contact_is_idempotent_by_ref_and_updates_last_contact(session: Session, staff: Staff,
                                                                    clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    assert tiers.record_contact(session, customer_id=customer.id, ref="CA-twice") is not None
    assert tiers.record_contact(session, customer_id=customer.id, ref="CA-twice") is None
    assert customer.last_contact_at == clock.now()


def test_erased_customers_are_not_evaluated(session: Session, staff: Staff) -> None:
    from tickets.customers import erase_customer

    customer = make_customer(session, site=staff.site)
    _shopper(session, customer.id, spend_cents=600_000, visits=4)
    erase_customer(session, customer_id=customer.id, by=None, reason="left")
    assert tiers.evaluate_tiers(session) == []
