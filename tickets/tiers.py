"""Tiers: the activity that feeds them (contacts, purchases, points), the thresholds as data, and
the periodic evaluation that upgrades and downgrades with a notice to the customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock
from core.audit import record
from core.errors import PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from tickets.models.customers import TIERS, Customer, CustomerActivity, TierThreshold

SPEND_WINDOW_DAYS = 365
FREQUENCY_WINDOW_DAYS = 90
ACTIVITY_KINDS = ("contact", "purchase")

# tier: (min spend in the spend window in cents, min contacts + purchases in the frequency
# window, min points). A customer qualifies when the frequency is met and either spend or points.
DEFAULT_THRESHOLDS: dict[str, tuple[int, int, int]] = {
    "normal": (0, 0, 0),
    "silver": (100_000, 2, 1_000),
    "gold": (500_000, 4, 5_000),
    "platinum": (2_000_000, 6, 20_000),
    "diamond": (5_000_000, 10, 50_000),
}


@dataclass(frozen=True)
class Threshold:
    tier: str
    rank: int
    min_spend_cents: int
    min_frequency: int
    min_points: int

    def met(self, *, spend_cents: int, frequency: int, points: int) -> bool:
        return frequency >= self.min_frequency and (spend_cents >= self.min_spend_cents or points >= self.min_points)


@dataclass(frozen=True)
class TierChange:
    customer_id: int
    old: str
    new: str

    @property
    def upgrade(self) -> bool:
        return TIERS.index(self.new) > TIERS.index(self.old)


# Activity ---------------------------------------------------------------------------------


def _activity(session: Session, *, customer_id: int, kind: str, at: datetime | None, amount_cents: int,
              ref: str | None) -> CustomerActivity | None:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ValidationFailed("No customer with this id.", field="customer_id")
    if ref is not None and session.scalar(select(CustomerActivity.id).where(
            CustomerActivity.kind == kind, CustomerActivity.ref == ref)) is not None:
        return None  # recorded already: a repeated webhook or task
    moment = at or clock.now()
    row = CustomerActivity(customer_id=customer_id, kind=kind, at=moment, amount_cents=amount_cents, ref=ref)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # a concurrent twin won
    if kind == "contact" and (customer.last_contact_at is None or moment > customer.last_contact_at):
        customer.last_contact_at = moment
    if kind == "purchase":
        customer.spend_cents = (customer.spend_cents or 0) + amount_cents
    session.flush()
    return row


def record_contact(session: Session, *, customer_id: int, at: datetime | None = None,
                   ref: str | None = None) -> CustomerActivity | None:
    """A call or ticket with the customer (ref: the CallSid or ticket id); feeds frequency and
    the quiet-customer list. Recording the same ref twice does nothing."""
    return _activity(session, customer_id=customer_id, kind="contact", at=at, amount_cents=0, ref=ref)


def record_purchase(session: Session, *, customer_id: int, amount_cents: int, at: datetime | None = None,
                    ref: str | None = None) -> CustomerActivity | None:
    if not isinstance(amount_cents, int) or amount_cents < 0:
        raise ValidationFailed("An amount is a whole number of cents, zero or more.", field="amount_cents")
    return _activity(session, customer_id=customer_id, kind="purchase", at=at, amount_cents=amount_cents, ref=ref)


def adjust_points(session: Session, *, customer_id: int, delta: int, reason: str, by: User | None = None) -> int:
    """Add (or take away) points; never below zero. Returns the new balance."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ValidationFailed("No customer with this id.", field="customer_id")
    customer.points = max(0, (customer.points or 0) + delta)
    session.flush()
    record(session, action="customer.points_adjusted", actor_id=by.id if by else None,
           actor_name=by.username if by else "system", object_type="customer", object_id=customer_id,
           details={"delta": delta, "reason": reason[:100]})
    return customer.points


# Thresholds -------------------------------------------------------------------------------


def thresholds(session: Session) -> list[Threshold]:
    """The thresholds in force, lowest tier first: the table's rows, or the defaults."""
    rows = {row.tier: row for row in session.scalars(select(TierThreshold))}
    found = []
    for rank, tier in enumerate(TIERS):
        if tier in rows:
            r = rows[tier]
            found.append(Threshold(tier, rank, r.min_spend_cents, r.min_frequency, r.min_points))
        else:
            spend, frequency, points = DEFAULT_THRESHOLDS[tier]
            found.append(Threshold(tier, rank, spend, frequency, points))
    return found


def set_threshold(session: Session, *, tier: str, min_spend_cents: int, min_frequency: int, min_points: int,
                  by: User | None) -> Threshold:
    """An administrator changes what a tier needs; the next evaluation applies it."""
    if by is not None and by.role != Role.admin.value:
        raise PermissionDenied("Only an administrator can change tier thresholds.")
    if tier not in TIERS:
        raise ValidationFailed(f"Use one of {', '.join(TIERS)}.", field="tier")
    if min(min_spend_cents, min_frequency, min_points) < 0:
        raise ValidationFailed("Thresholds are zero or more.", field="min_spend_cents")
    row = session.get(TierThreshold, tier) or TierThreshold(tier=tier, rank=TIERS.index(tier))
    row.min_spend_cents, row.min_frequency, row.min_points = min_spend_cents, min_frequency, min_points
    session.add(row)
    session.flush()
    record(session, action="tier.threshold_set", actor_id=by.id if by else None,
           actor_name=by.username if by else "system", object_type="tier", object_id=tier,
           details={"min_spend_cents": min_spend_cents, "min_frequency": min_frequency, "min_points": min_points})
    return next(t for t in thresholds(session) if t.tier == tier)


def tier_for(levels: list[Threshold], *, spend_cents: int, frequency: int, points: int) -> str:
    """The highest tier whose threshold is met (normal always is)."""
    best = TIERS[0]
    for level in levels:
        if level.met(spend_cents=spend_cents, frequency=frequency, points=points):
            best = level.tier
    return best


# Evaluation -------------------------------------------------------------------------------


def _figures(session: Session, customer_ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    spend_since = now - timedelta(days=SPEND_WINDOW_DAYS)
    frequency_since = now - timedelta(days=FREQUENCY_WINDOW_DAYS)
    spend = func.sum(case(((CustomerActivity.kind == "purchase") & (CustomerActivity.at >= spend_since),
                           CustomerActivity.amount_cents), else_=0))
    frequency = func.sum(case((CustomerActivity.at >= frequency_since, 1), else_=0))
    rows = session.execute(
        select(CustomerActivity.customer_id, spend, frequency)
        .where(CustomerActivity.customer_id.in_(customer_ids), CustomerActivity.at >= min(spend_since, frequency_since),
               CustomerActivity.at <= now)
        .group_by(CustomerActivity.customer_id))
    return {cid: (int(s or 0), int(f or 0)) for cid, s, f in rows}


def evaluate_tiers(session: Session, *, batch_size: int = 1000,
                   customer_ids: list[int] | None = None) -> list[TierChange]:
    """Evaluate every customer (or the given ones) and apply the changes: audit, a
    `customer.tier_changed` event and a notice SMS queued. Running it twice changes nothing more."""
    from tickets.care import queue_message  # care sends the notice; it imports nothing of ours back

    levels = thresholds(session)
    now = clock.now()
    changes: list[TierChange] = []
    last_id = 0
    while True:
        query = (select(Customer).where(Customer.erased_at.is_(None), Customer.id > last_id)
                 .order_by(Customer.id).limit(batch_size))
        if customer_ids is not None:
            query = query.where(Customer.id.in_(customer_ids))
        batch = list(session.scalars(query))
        if not batch:
            break
        last_id = batch[-1].id
        figures = _figures(session, [c.id for c in batch], now)
        for customer in batch:
            spend, frequency = figures.get(customer.id, (0, 0))
            new = tier_for(levels, spend_cents=spend, frequency=frequency, points=customer.points or 0)
            if new == customer.tier:
                continue
            change = TierChange(customer.id, customer.tier, new)
            customer.tier, customer.tier_changed_at = new, now
            record(session, action="customer.tier_changed", actor_name="system", object_type="customer",
                   object_id=customer.id, details={"from": change.old, "to": change.new})
            publish(session, "customer.tier_changed", {"customer_id": customer.id, "from": change.old, "to": new},
                    site_id=customer.site_id)
            queue_message(session, customer_id=customer.id, kind="tier_upgrade" if change.upgrade else "tier_downgrade",
                          params={"tier": new}, dedupe_key=f"tier:{customer.id}:{now.date().isoformat()}:{new}")
            changes.append(change)
        session.flush()
    return changes
