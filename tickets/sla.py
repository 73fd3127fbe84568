"""SLA policies as data (by category, priority and tier, in business minutes of the site calendar),
the deadlines of each ticket, its SLA state (ok, at_risk, breached) and the sweep that escalates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core import clock, tunables
from core.audit import record
from core.errors import ValidationFailed
from core.models import User
from tickets import access, calendar, timeline
from tickets.models.tickets import SlaPolicy, Ticket
from tickets.versioning import changing
from tickets.workflow import DONE, TIERS, Category, Level, Priority, Status

__all__ = [
    "DEFAULT_POLICIES", "SETTINGS", "SLA_STATES", "Policy", "between", "check", "due_for_sweep", "get_setting",
    "live_state", "pause", "policies", "policy_for", "refresh", "reapply_policy", "resume", "set_policy", "set_setting",
    "shift", "start_clock", "sweep",
]

SLA_STATES = ("ok", "at_risk", "breached")
# What a policy key that is none of the known values is answered with.
CHOOSE = {"category": "Choose a category from the list.", "priority": "Choose a priority from the list.",
          "tier": "Choose a tier from the list."}

# Whole-number settings (tunables an administrator changes, on the settings page or with set_setting).
tunables.namespace("tickets", title="Tickets and customers")
_MONTH_MINUTES = 31 * 24 * 60
for _key, _default, _low, _high, _label, _unit, _choices in (
    # wall clock: the customer hears back within a day
    ("complaint_response_minutes", 24 * 60, 1, _MONTH_MINUTES, "A complaint is answered within (wall clock)",
     "minutes", ()),
    ("key_customer_followup_minutes", 24 * 60, 1, _MONTH_MINUTES,
     "A key customer (gold and above) is phoned back after a complaint within", "minutes", ()),
    ("satisfaction_followup_minutes", 24 * 60, 1, _MONTH_MINUTES,
     "The satisfaction follow-up after a complaint is due within", "minutes", ()),
    # business minutes: when an IVR callback request is due by default
    ("callback_minutes", 120, 1, _MONTH_MINUTES, "A callback asked for in the menu is due within (business time)",
     "minutes", ()),
    ("at_risk_percent", 80, 1, 99, "A deadline is at risk once this share of its time is used", "percent", ()),
    ("tier_assessment_months", 3, 3, 12, "Tiers are assessed every (quarterly or yearly)", "months", (3, 12)),
    # points a purchase earns per whole yuan (100 cents) spent
    ("points_per_yuan", 1, 1, 1_000, "Points a purchase earns per yuan", "points", ()),
    ("quiet_customer_days", 90, 1, 3_650, "No contact and no purchase for this long: a quiet customer", "days", ()),
    ("key_customer_contact_days", 30, 1, 3_650, "Key customers (gold and above) are called at least every", "days",
     ()),
):
    tunables.declare("tickets", _key, default=_default, minimum=_low, maximum=_high, label=_label, unit=_unit,
                     choices=_choices)
SETTINGS: dict[str, int] = tunables.defaults("tickets")


@dataclass(frozen=True)
class Policy:
    category: str | None
    priority: str | None
    tier: str | None
    first_response_minutes: int
    resolution_minutes: int
    business_hours: bool = True

    @property
    def key(self) -> tuple[str | None, str | None, str | None]:
        return (self.category, self.priority, self.tier)

    def matches(self, category: str, priority: str, tier: str | None) -> bool:
        return ((self.category is None or self.category == category)
                and (self.priority is None or self.priority == priority)
                and (self.tier is None or self.tier == tier))

    @property
    def specificity(self) -> int:
        return sum(value is not None for value in self.key)


DEFAULT_POLICIES: tuple[Policy, ...] = (
    Policy(None, None, None, 240, 2 * 1440),
    Policy(None, Priority.low, None, 480, 4 * 1440),
    Policy(None, Priority.high, None, 60, 1440),
    Policy(None, Priority.urgent, None, 15, 240),
    Policy(Category.complaint, None, None, 120, 2 * 1440),
    Policy(None, None, "gold", 120, 1440),
    Policy(None, None, "platinum", 60, 960),
    Policy(None, None, "diamond", 30, 480),
)


# Settings and policies ----------------------------------------------------------------------

_CACHE = "tickets.sla"


def _cached(session: Session) -> dict[str, object]:
    """The policies, read once per unit of work (a sweep checks many tickets)."""
    cache: dict[str, object] | None = session.info.get(_CACHE)
    if cache is None:
        found = {p.key: p for p in DEFAULT_POLICIES}
        for row in session.scalars(select(SlaPolicy).order_by(SlaPolicy.id)):
            policy = Policy(row.category, row.priority, row.tier, row.first_response_minutes, row.resolution_minutes,
                            row.business_hours)
            found[policy.key] = policy
        cache = session.info[_CACHE] = {"policies": list(found.values())}
    return cache


def get_setting(session: Session, key: str) -> int:
    if key not in SETTINGS:
        raise KeyError(key)
    return tunables.get(session, tunables.find("tickets", key))


def set_setting(session: Session, *, key: str, value: int, by: User | None = None) -> int:
    """Change one setting (checked against its bounds, audited by the tunables store)."""
    return tunables.set_value(session, tunables.find("tickets", key), value, by=by)


def policies(session: Session) -> list[Policy]:
    """The built-in defaults, each replaced by an administrator's policy with the same keys."""
    return list(_cached(session)["policies"])  # type: ignore[call-overload]


def set_policy(session: Session, *, category: str | None = None, priority: str | None = None, tier: str | None = None,
               first_response_minutes: int, resolution_minutes: int, business_hours: bool = True,
               by: User | None = None) -> SlaPolicy:
    """Add or change the policy for these keys (None matches any value). Applies to tickets opened after."""
    errors: list[dict[str, object]] = []
    for field, value, known in (("category", category, [c.value for c in Category]),
                                ("priority", priority, [p.value for p in Priority]), ("tier", tier, list(TIERS))):
        if value is not None and value not in known:
            errors.append({"loc": [field], "msg": CHOOSE[field], "params": {"value": value, "known": known}})
    if first_response_minutes < 1 or resolution_minutes < 1:
        errors.append({"loc": ["resolution_minutes"], "msg": "Give a whole number of minutes, at least 1."})
    if errors:
        raise ValidationFailed(errors)
    row = session.scalar(select(SlaPolicy).where(
        SlaPolicy.category.is_(None) if category is None else SlaPolicy.category == category,
        SlaPolicy.priority.is_(None) if priority is None else SlaPolicy.priority == priority,
        SlaPolicy.tier.is_(None) if tier is None else SlaPolicy.tier == tier))
    if row is None:
        row = SlaPolicy(category=category, priority=priority, tier=tier)
        session.add(row)
    row.first_response_minutes, row.resolution_minutes = first_response_minutes, resolution_minutes
    row.business_hours = business_hours
    session.flush()
    session.info.pop(_CACHE, None)
    if by is not None:
        record(session, action="sla.policy_set", actor_id=by.id, actor_name=by.username, object_type="sla_policy",
               object_id=row.id, details={"category": category, "priority": priority, "tier": tier,
                                          "first_response_minutes": first_response_minutes,
                                          "resolution_minutes": resolution_minutes, "business_hours": business_hours})
    return row


def policy_for(session: Session, *, category: str, priority: str, tier: str | None) -> Policy:
    """The most specific matching policy; among equally specific ones, the strictest."""
    matching = [p for p in policies(session) if p.matches(category, priority, tier)]
    top = max(p.specificity for p in matching)
    return min((p for p in matching if p.specificity == top),
               key=lambda p: (p.resolution_minutes, p.first_response_minutes))


# Deadlines ----------------------------------------------------------------------------------

def shift(session: Session, ticket: Ticket, start: datetime, minutes: float) -> datetime:
    if ticket.sla_business_hours:
        return calendar.add_business_minutes(session, site_id=ticket.site_id, start=start, minutes=minutes)
    return start + timedelta(minutes=minutes)


def between(session: Session, ticket: Ticket, start: datetime, end: datetime) -> int:
    if ticket.sla_business_hours:
        return calendar.business_minutes_between(session, site_id=ticket.site_id, start=start, end=end)
    return int((end - start).total_seconds() // 60)


def start_clock(session: Session, ticket: Ticket, *, now: datetime | None = None) -> None:
    """Apply the policy to a new ticket: its first-response and resolution deadlines. A callback
    request's first response is the callback itself, due at `callback_due_at`."""
    now = now or clock.now()
    policy = policy_for(session, category=ticket.category, priority=ticket.priority, tier=ticket.tier)
    ticket.sla_business_hours = policy.business_hours
    ticket.first_response_minutes = policy.first_response_minutes
    ticket.resolution_minutes = policy.resolution_minutes
    if ticket.callback_due_at is not None:
        ticket.first_response_due_at = ticket.callback_due_at
        ticket.first_response_minutes = max(1, between(session, ticket, now, ticket.callback_due_at))
    elif ticket.first_response_at is None:
        ticket.first_response_due_at = shift(session, ticket, now, policy.first_response_minutes)
    ticket.resolution_due_at = max(shift(session, ticket, now, policy.resolution_minutes),
                                   ticket.first_response_due_at or now)
    ticket.sla_state = "ok"
    refresh(session, ticket, now=now)


def reapply_policy(session: Session, ticket: Ticket, *, now: datetime | None = None) -> None:
    """After a change of category, priority or tier: the new policy's targets, counted from the opening."""
    if Status(ticket.status) in DONE:
        return
    start = ticket.created_at
    policy = policy_for(session, category=ticket.category, priority=ticket.priority, tier=ticket.tier)
    ticket.first_response_minutes, ticket.resolution_minutes = policy.first_response_minutes, policy.resolution_minutes
    if ticket.callback_due_at is None and ticket.first_response_at is None:
        ticket.first_response_due_at = shift(session, ticket, start, policy.first_response_minutes)
    ticket.resolution_due_at = shift(session, ticket, start, policy.resolution_minutes)
    refresh(session, ticket, now=now)


def refresh(session: Session, ticket: Ticket, *, now: datetime | None = None) -> None:
    """Recompute the running deadline and its at-risk moment. Marking at_risk or breached (and
    escalating) is the sweep's job, so it happens exactly once; a deadline that moved into the
    future clears a mark that no longer holds."""
    now = now or clock.now()
    if Status(ticket.status) in DONE:
        if ticket.sla_due_at is not None and now >= ticket.sla_due_at:
            ticket.sla_state = "breached"
        elif ticket.sla_state == "at_risk":
            ticket.sla_state = "ok"
        ticket.sla_due_at = ticket.sla_at_risk_at = None
        return
    if ticket.sla_paused_at is not None:
        ticket.sla_due_at = ticket.sla_at_risk_at = None
        return
    due: datetime | None
    if ticket.first_response_at is None and ticket.first_response_due_at is not None:
        target, due, minutes = "first_response", ticket.first_response_due_at, ticket.first_response_minutes or 0
    else:
        target, due, minutes = "resolution", ticket.resolution_due_at, ticket.resolution_minutes or 0
    if due is None:
        ticket.sla_target = ticket.sla_due_at = ticket.sla_at_risk_at = None
        return
    spare = minutes * (100 - get_setting(session, "at_risk_percent")) / 100
    ticket.sla_target, ticket.sla_due_at = target, due
    ticket.sla_at_risk_at = shift(session, ticket, due, -spare) if spare else due
    if ticket.sla_state == "breached" and due > now:
        ticket.sla_state = "ok"
    if ticket.sla_state == "at_risk" and ticket.sla_at_risk_at > now:
        ticket.sla_state = "ok"


def live_state(ticket: Ticket, *, now: datetime | None = None) -> str:
    """The SLA state right now, from the deadlines (what search filters on)."""
    now = now or clock.now()
    if ticket.sla_due_at is None:
        return ticket.sla_state
    if now >= ticket.sla_due_at:
        return "breached"
    if ticket.sla_at_risk_at is not None and now >= ticket.sla_at_risk_at:
        return "at_risk"
    return "ok"


def pause(session: Session, ticket: Ticket, *, now: datetime | None = None) -> None:
    """Waiting on the customer stops the clock."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now or clock.now()
    refresh(session, ticket, now=now)


def resume(session: Session, ticket: Ticket, *, now: datetime | None = None) -> None:
    """The clock runs again; pending deadlines move on by the (business) time spent paused."""
    now = now or clock.now()
    if ticket.sla_paused_at is not None:
        paused = between(session, ticket, ticket.sla_paused_at, now)
        if paused > 0:
            if ticket.first_response_at is None and ticket.first_response_due_at is not None:
                ticket.first_response_due_at = shift(session, ticket, ticket.first_response_due_at, paused)
            if ticket.resolution_due_at is not None:
                ticket.resolution_due_at = shift(session, ticket, ticket.resolution_due_at, paused)
        ticket.sla_paused_at = None
    refresh(session, ticket, now=now)


# The sweep ----------------------------------------------------------------------------------

# The hub's own reason for an escalation: a msgid of the pages' catalogue, shown translated in
# the ticket's timeline (an escalation without a person is the hub's).
BREACH_REASONS = {"first_response": "The first response deadline passed.",
                  "resolution": "The resolution deadline passed."}


def due_for_sweep(session: Session, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Tickets whose running deadline has passed or come at risk without being marked yet."""
    now = now or clock.now()
    # Each branch matches one of the partial indexes the sweep has (ix_tickets_sla_sweep_*).
    query = (select(Ticket.id)
             .where(or_(and_(Ticket.sla_due_at.is_not(None), Ticket.sla_state != "breached", Ticket.sla_due_at <= now),
                        and_(Ticket.sla_at_risk_at.is_not(None), Ticket.sla_state == "ok",
                             Ticket.sla_at_risk_at <= now)))
             .order_by(Ticket.sla_due_at).limit(limit))
    return list(session.scalars(query))


def check(session: Session, *, ticket_id: int, now: datetime | None = None) -> str | None:
    """Mark one ticket at risk (its assignee, or else the team leaders, are told) or breached (it
    escalates one level; at the top the center head is told). Idempotent: returns the new mark or None."""
    from tickets.escalation import escalate, level_users, notify

    now = now or clock.now()
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.sla_due_at is None:
        return None
    if now >= ticket.sla_due_at and ticket.sla_state != "breached":
        target = ticket.sla_target or "resolution"
        with changing(session, ticket):
            ticket.sla_state = "breached"
            timeline.record(session, ticket, kind="sla_breached", field=target, to_value=ticket.sla_due_at.isoformat())
            if ticket.escalation_level < Level.center_head:
                escalate(session, ticket_id=ticket.id, by=None,
                         reason=BREACH_REASONS.get(target, BREACH_REASONS["resolution"]))
            else:
                notify(session, users=level_users(session, ticket=ticket, level=Level.center_head),
                       kind="sla_breached", ticket=ticket)
        timeline.announce(session, "ticket.sla_breached", ticket, target=target)
        return "breached"
    if ticket.sla_at_risk_at is not None and now >= ticket.sla_at_risk_at and ticket.sla_state == "ok":
        with changing(session, ticket):
            ticket.sla_state = "at_risk"
            timeline.record(session, ticket, kind="sla_at_risk", field=ticket.sla_target,
                            to_value=ticket.sla_due_at.isoformat())
            assignee = access.staff_member(session, ticket.assignee_id) if ticket.assignee_id is not None else None
            users = [assignee] if assignee is not None else level_users(session, ticket=ticket, level=Level.team_leader)
            notify(session, users=users, kind="sla_at_risk", ticket=ticket)
        timeline.announce(session, "ticket.sla_at_risk", ticket, target=ticket.sla_target)
        return "at_risk"
    return None


def sweep(session: Session, *, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Check every ticket due for it in this session (the task does one ticket per transaction)."""
    counts = {"at_risk": 0, "breached": 0}
    for ticket_id in due_for_sweep(session, now=now, limit=limit):
        mark = check(session, ticket_id=ticket_id, now=now)
        if mark:
            counts[mark] += 1
    return counts
