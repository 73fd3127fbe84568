"""Tiers: the activity that feeds them (contacts, purchases, points), the thresholds as data, and
the periodic evaluation that upgrades and downgrades with a notice to the customer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock, organisation
from core.audit import record
from core.errors import PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from tickets import activity, care, sla
from tickets.models.customers import TIERS, Customer, CustomerActivity, TierAssessment, TierThreshold

CONTACT_CHANNELS, COUNTED_CHANNELS = activity.CONTACT_CHANNELS, activity.COUNTED_CHANNELS

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


def record_contact(session: Session, *, customer_id: int, at: datetime | None = None,
                   ref: str | None = None, channel: str = "call_in") -> CustomerActivity | None:
    """A contact with the customer: it moves last_contact_at and takes them off the quiet list.
    `channel` says which (CONTACT_CHANNELS); only the customer's own calls count towards the
    tier frequency, so an SMS or a follow-up the hub sends never earns an upgrade. `ref` (the
    CallSid, message or ticket event) makes recording it twice do nothing."""
    if channel not in CONTACT_CHANNELS:
        raise ValidationFailed("Choose a channel from the list.", field="channel",
                               params={"known": list(CONTACT_CHANNELS)})
    kind = "contact" if channel in COUNTED_CHANNELS else "outreach"
    row = activity.add(session, customer_id=customer_id, kind=kind, at=at, amount_cents=0, ref=ref)
    if row is not None and kind == "contact":
        check_upgrades(session, customer_ids=[customer_id])
    return row


def call_contact(session: Session, *, customer_id: int | None, call_sid: str, channel: str) -> None:
    """Telephony's one call when a call with a known customer is answered (in, out or a callback)."""
    if customer_id is not None:
        record_contact(session, customer_id=customer_id, ref=f"call:{call_sid}", channel=channel)


def record_purchase(session: Session, *, customer_id: int, amount_cents: int, at: datetime | None = None,
                    ref: str | None = None, earn_points: bool = False) -> CustomerActivity | None:
    """A purchase from the till or membership system (ref: its own id; the same ref again does
    nothing and returns None). With `earn_points` the points rule adds points. An upgrade the
    purchase earns happens now."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents < 0:
        raise ValidationFailed("An amount is a whole number of cents, zero or more.", field="amount_cents")
    row = activity.add(session, customer_id=customer_id, kind="purchase", at=at, amount_cents=amount_cents, ref=ref)
    if row is None:
        return None
    if earn_points:
        earned = amount_cents // 100 * sla.get_setting(session, "points_per_yuan")
        if earned:
            adjust_points(session, customer_id=customer_id, delta=earned, reason=f"purchase {ref or row.id}"[:100],
                          check=False)
    check_upgrades(session, customer_ids=[customer_id])
    return row


class NotEnoughPoints(ValidationFailed):
    """The balance does not cover the points to redeem."""


def adjust_points(session: Session, *, customer_id: int, delta: int, reason: str, by: User | None = None,
                  check: bool = True) -> int:
    """Add (or take away) points with a reason; never below zero. Returns the new balance."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.is_erased:
        raise ValidationFailed("No customer with this id.", field="customer_id")
    customer.points = max(0, (customer.points or 0) + delta)
    session.flush()
    record(session, action="customer.points_adjusted", actor_id=by.id if by else None,
           actor_name=by.username if by else "system", object_type="customer", object_id=customer_id,
           details={"delta": delta, "reason": reason[:100]})
    if check and delta > 0:
        check_upgrades(session, customer_ids=[customer_id])
    return customer.points


def redeem_points(session: Session, *, customer_id: int, points: int, reason: str, by: User | None) -> int:
    """Spend points (a gift, a voucher): a reason is required and the balance must cover it."""
    if not isinstance(points, int) or isinstance(points, bool) or points < 1:
        raise ValidationFailed("Redeem a whole number of points, one or more.", field="points")
    if not reason or not reason.strip():
        raise ValidationFailed("Say what the points are redeemed for.", field="reason")
    customer = session.get(Customer, customer_id)
    if customer is None or customer.is_erased:
        raise ValidationFailed("No customer with this id.", field="customer_id")
    if (customer.points or 0) < points:
        raise NotEnoughPoints("The customer does not have that many points.", field="points",
                              params={"points": customer.points or 0, "asked": points})
    return adjust_points(session, customer_id=customer_id, delta=-points, reason=reason.strip(), by=by)


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
        raise ValidationFailed("Choose a tier from the list.", field="tier", params={"known": list(TIERS)})
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


# Assessment periods -----------------------------------------------------------------------
#
# Seed 004: tiers are assessed per period (quarterly by default, yearly as an option). An upgrade
# happens as soon as the customer's figures in the running period meet a higher threshold; a
# downgrade only when a period ends, and only for a customer whose tier was set before that
# period began (an imported or newly set tier holds until the first full period after it). So
# a fresh install or a restart never changes a tier.


def period_months(session: Session) -> int:
    return sla.get_setting(session, "tier_assessment_months")


def period_of(day: date, months: int) -> tuple[date, date]:
    """The assessment period holding `day`: [first day, first day of the next)."""
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + months
    end = date(day.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return start, end


def _utc(day: date, zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _set_at(customer: Customer) -> datetime:
    return customer.tier_changed_at or customer.created_at


def _figures(session: Session, customer_ids: list[int], start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
    """(spend in cents, contacts + purchases) of each customer in [start, end)."""
    spend = func.sum(case((CustomerActivity.kind == "purchase", CustomerActivity.amount_cents), else_=0))
    rows = session.execute(
        select(CustomerActivity.customer_id, spend, func.count())
        .where(CustomerActivity.customer_id.in_(customer_ids), CustomerActivity.kind.in_(("contact", "purchase")),
               CustomerActivity.at >= start, CustomerActivity.at < end)
        .group_by(CustomerActivity.customer_id))
    return {cid: (int(s or 0), int(n or 0)) for cid, s, n in rows}


def _apply(session: Session, customer: Customer, new: str, now: datetime) -> TierChange:
    change = TierChange(customer.id, customer.tier, new)
    customer.tier, customer.tier_changed_at = new, now
    record(session, action="customer.tier_changed", actor_name="system", object_type="customer",
           object_id=customer.id, details={"from": change.old, "to": change.new})
    publish(session, "customer.tier_changed", {"customer_id": customer.id, "from": change.old, "to": new},
            site_id=customer.site_id)
    care.queue_tier_notice(session, customer=customer, upgrade=change.upgrade, tier=new,
                      dedupe_key=f"tier:{customer.id}:{now.date().isoformat()}:{new}")
    return change


def _customers(session: Session, *, site_id: int | None, customer_ids: list[int] | None,
               batch_size: int) -> Iterator[list[Customer]]:
    last_id = 0
    while True:
        query = (select(Customer).where(Customer.erased_at.is_(None), Customer.id > last_id)
                 .order_by(Customer.id).limit(batch_size))
        if site_id is not None:
            query = query.where(Customer.site_id == site_id)
        if customer_ids is not None:
            query = query.where(Customer.id.in_(customer_ids))
        batch = list(session.scalars(query))
        if not batch:
            return
        last_id = batch[-1].id
        yield batch


def check_upgrades(session: Session, *, customer_ids: list[int] | None = None, site_id: int | None = None,
                   batch_size: int = 1000) -> list[TierChange]:
    """Upgrade the customers whose figures in the running period (and points) meet a higher tier.
    Never lowers a tier. Called on each purchase, contact and points change, and by the sweep."""
    levels = thresholds(session)
    months = period_months(session)
    now = clock.now()
    changes: list[TierChange] = []
    zones = {s.id: s.timezone for s in organisation.list_sites(session)}
    for batch in _customers(session, site_id=site_id, customer_ids=customer_ids, batch_size=batch_size):
        by_zone: dict[str, list[Customer]] = {}
        for customer in batch:
            by_zone.setdefault(zones.get(customer.site_id) or organisation.site_timezone(session, None), []).append(
                customer)
        for zone, customers in by_zone.items():
            start, _ = period_of(clock.to_zone(now, zone).date(), months)
            figures = _figures(session, [c.id for c in customers], _utc(start, zone), now + timedelta(microseconds=1))
            for customer in customers:
                spend, frequency = figures.get(customer.id, (0, 0))
                new = tier_for(levels, spend_cents=spend, frequency=frequency, points=customer.points or 0)
                if TIERS.index(new) > TIERS.index(customer.tier):
                    changes.append(_apply(session, customer, new, now))
        session.flush()
    return changes


def _assess(session: Session, *, site_id: int, zone: str, start: date, end: date, apply: bool,
            batch_size: int = 1000) -> list[TierChange]:
    levels = thresholds(session)
    start_at, end_at = _utc(start, zone), _utc(end, zone)
    now = clock.now()
    changes: list[TierChange] = []
    for batch in _customers(session, site_id=site_id, customer_ids=None, batch_size=batch_size):
        figures = _figures(session, [c.id for c in batch], start_at, end_at)
        for customer in batch:
            spend, frequency = figures.get(customer.id, (0, 0))
            new = tier_for(levels, spend_cents=spend, frequency=frequency, points=customer.points or 0)
            if new == customer.tier:
                continue
            if TIERS.index(new) < TIERS.index(customer.tier) and _set_at(customer) > start_at:
                continue  # set during this period: it holds until the first full period after
            change = _apply(session, customer, new, now) if apply else TierChange(customer.id, customer.tier, new)
            changes.append(change)
        if apply:
            session.flush()
    return changes


def assess_due_periods(session: Session) -> list[TierChange]:
    """For each site, assess the last period that has ended, once (a TierAssessment row marks it)."""
    months = period_months(session)
    now = clock.now()
    changes: list[TierChange] = []
    for site in sorted(organisation.list_sites(session), key=lambda s: s.id):
        zone = site.timezone or organisation.site_timezone(session, None)
        current, _ = period_of(clock.to_zone(now, zone).date(), months)
        start, end = period_of(current - timedelta(days=1), months)
        if session.scalar(select(TierAssessment.id).where(TierAssessment.site_id == site.id,
                                                          TierAssessment.period_start == start)) is not None:
            continue
        mark = TierAssessment(site_id=site.id, period_start=start, period_end=end, assessed_at=now)
        try:
            with session.begin_nested():
                session.add(mark)
        except IntegrityError:
            continue  # a concurrent sweep took it
        found = _assess(session, site_id=site.id, zone=zone, start=start, end=end, apply=True)
        mark.upgraded = sum(1 for c in found if c.upgrade)
        mark.downgraded = len(found) - mark.upgraded
        record(session, action="tier.period_assessed", actor_name="system", object_type="site", object_id=site.id,
               details={"period_start": start.isoformat(), "period_end": end.isoformat(),
                        "upgraded": mark.upgraded, "downgraded": mark.downgraded})
        changes += found
    session.flush()
    return changes


def preview_assessment(session: Session, *, site_id: int | None = None) -> list[TierChange]:
    """Who would move if the running period ended now (nothing is changed): the admin's look
    before an assessment runs."""
    months = period_months(session)
    now = clock.now()
    changes: list[TierChange] = []
    for site in sorted(organisation.list_sites(session), key=lambda s: s.id):
        if site_id is not None and site.id != site_id:
            continue
        zone = site.timezone or organisation.site_timezone(session, None)
        start, _ = period_of(clock.to_zone(now, zone).date(), months)
        end_local = clock.to_zone(now, zone).date() + timedelta(days=1)
        changes += _assess(session, site_id=site.id, zone=zone, start=start, end=end_local, apply=False)
    return changes


def evaluate_tiers(session: Session) -> list[TierChange]:
    """The periodic sweep: assessments of periods that ended, then upgrades earned in the running
    period (each customer's upgrade normally happened already, at the purchase). Idempotent."""
    return assess_due_periods(session) + check_upgrades(session)
