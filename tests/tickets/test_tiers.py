"""Tiers from spend, frequency and points, thresholds as data, automatic upgrades and downgrades
with a notice to the customer, and activity recorded once per reference."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import FrozenClock
from tests.tickets.factories_customers import Published, Staff, make_customer, published, staff  # noqa: F401
from tickets import tiers
from tickets.models.customers import OutboundMessage


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
    customer = make_customer(session, site=staff.site, consent=("service",))
    _shopper(session, customer.id, spend_cents=600_000, visits=4)
    changes = tiers.evaluate_tiers(session)
    session.commit()
    assert changes == [tiers.TierChange(customer.id, "normal", "gold")] and changes[0].upgrade
    assert customer.tier == "gold" and customer.spend_cents == 600_000
    event = published.of("customer.tier_changed")[0]
    assert event.payload == {"customer_id": customer.id, "from": "normal", "to": "gold"}
    message = session.scalars(select(OutboundMessage)).one()
    assert message.kind == "tier_upgrade" and message.status == "queued" and "金卡" in (message.body or "")
    entry = audit.entries_for(session, object_type="customer", object_id=customer.id)[0]
    assert entry.action == "customer.tier_changed" and entry.details_dict == {"from": "normal", "to": "gold"}
    assert tiers.evaluate_tiers(session) == []  # nothing more to do


def test_evaluate_tiers_downgrades_when_activity_ages_out(session: Session, staff: Staff, clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    _shopper(session, customer.id, spend_cents=200_000, visits=2)
    assert tiers.evaluate_tiers(session)[0].new == "silver"
    session.commit()
    clock.advance(days=tiers.FREQUENCY_WINDOW_DAYS + 1)
    change = tiers.evaluate_tiers(session)[0]
    session.commit()
    assert (change.old, change.new, change.upgrade) == ("silver", "normal", False)
    kinds = sorted(m.kind for m in session.scalars(select(OutboundMessage)))
    assert kinds == ["tier_downgrade", "tier_upgrade"]


def test_points_count_instead_of_spend(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, points=20_000)
    for n in range(6):
        tiers.record_contact(session, customer_id=customer.id, ref=f"CA{customer.id}-{n}")
    session.commit()
    assert tiers.evaluate_tiers(session)[0].new == "platinum"


def test_thresholds_are_data(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    tiers.record_contact(session, customer_id=customer.id, ref="CA-only")
    session.commit()
    assert tiers.evaluate_tiers(session) == []
    tiers.set_threshold(session, tier="silver", min_spend_cents=0, min_frequency=1, min_points=0, by=staff.admin)
    session.commit()
    assert tiers.evaluate_tiers(session)[0].new == "silver"


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
