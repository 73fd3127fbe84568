"""How urgent a queued call is, and the router's tunable settings.

Effective priority of a waiting call at time `now`::

    priority = base + waited_seconds / aging_seconds_per_point
    base     = CATEGORY_POINTS[category] + TIER_POINTS[tier]

Rewriting it as ``(now - (enqueued_at - base * aging_seconds_per_point)) / aging_seconds_per_point``
shows that the order of calls by priority never changes while they wait: it is the order of
``sort_key = enqueued_at - base * aging_seconds_per_point`` ascending. A call's base points are
a head start in seconds, so a new complaint (30 points, 3 minutes at the default 6 s a point)
is overtaken by a normal call that has waited over 3 minutes: nobody starves. The router keeps
`sort_key` in an index and recomputes it only when `aging_seconds_per_point` changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock, tunables
from core.config import get_settings
from core.errors import ValidationFailed
from core.models import User
from telephony.models.routing import QueueEntry

TIERS = ("normal", "silver", "gold", "platinum", "diamond")
# Whose own agent is tried first (DOMAIN.md: "a top-tier customer's dedicated agent").
PREFERRED_AGENT_TIERS = frozenset({"platinum", "diamond"})
CATEGORY_POINTS: dict[str, int] = {"complaint": 30}
TIER_POINTS: dict[str, int] = {"normal": 0, "silver": 5, "gold": 10, "platinum": 20, "diamond": 30}


def alive_since(now: datetime | None = None) -> datetime:
    """A queued caller heard of since this moment may be offered without asking Twilio whether
    they are still there (HOTLINE_QUEUE_ALIVE_SECONDS; docs/reconcile.md, "No ghost offers")."""
    return (now or clock.now()) - timedelta(seconds=get_settings().queue_alive_seconds)


def _resort(session: Session, aging: int) -> None:
    # Only live entries are ordered; finished ones keep the key they ended with.
    entries = session.scalars(select(QueueEntry).where(QueueEntry.state.in_(("waiting", "offered"))))
    for entry in entries:
        entry.sort_key = sort_key(enqueued_at=entry.enqueued_at, base=entry.base_priority,
                                  aging_seconds_per_point=aging)
    session.flush()


tunables.namespace("routing", title="Call routing")
_HOUR = 3_600
OFFER_TIMEOUT = tunables.declare(
    "routing", "offer_timeout_seconds", default=15, minimum=5, maximum=300, unit="seconds",
    label="An offered call not accepted within this sets the agent away and goes to the next agent")
tunables.declare("routing", "wrap_up_seconds", default=30, minimum=0, maximum=_HOUR, unit="seconds",
                 label="Wrap-up after a call before the next offer")
# A new aging rate re-sorts the calls already queued.
tunables.declare("routing", "aging_seconds_per_point", default=6, minimum=1, maximum=_HOUR, unit="seconds",
                 label="A waiting call gains one priority point every", on_change=_resort,
                 help="A complaint starts 30 points ahead, a diamond customer 30, a gold one 10.")
# Handle time assumed for the estimated wait before a queue has any history.
tunables.declare("routing", "default_handle_seconds", default=180, minimum=1, maximum=4 * _HOUR, unit="seconds",
                 label="Handle time assumed for the estimated wait before a queue has any history")
# How many recent calls of a queue the estimated wait averages over.
tunables.declare("routing", "handle_time_sample", default=50, minimum=1, maximum=10_000, unit="calls",
                 label="Recent calls the estimated wait averages over")
# Pending offers with this little time left are "about to time out" on the wallboard.
tunables.declare("routing", "expiring_within_seconds", default=5, minimum=0, maximum=300, unit="seconds",
                 label="An offer with this little time left shows as about to time out on the wallboard")


@dataclass(frozen=True)
class RoutingSettings:
    """Seconds and points in force (see the declarations above for their meaning and bounds);
    its fields are the declared keys: one missing or extra fails at import."""

    offer_timeout_seconds: int
    wrap_up_seconds: int
    aging_seconds_per_point: int
    default_handle_seconds: int
    handle_time_sample: int
    expiring_within_seconds: int


DEFAULTS = RoutingSettings(**tunables.defaults("routing"))


def routing_settings(session: Session) -> RoutingSettings:
    """The settings in force (the store reads them once per transaction; the router asks for
    them on every decision)."""
    return RoutingSettings(**tunables.values(session, "routing"))


def set_routing_setting(session: Session, *, name: str, value: int, by: User | None = None) -> RoutingSettings:
    """Override one setting; a new aging rate re-sorts the calls already queued."""
    tunables.set_value(session, tunables.find("routing", name), value, by=by)
    return routing_settings(session)


def base_priority(*, category: str, tier: str | None) -> int:
    tier = tier or "normal"
    if tier not in TIER_POINTS:
        raise ValidationFailed("Choose a tier from the list.", field="tier",
                               params={"value": tier, "known": list(TIERS)})
    return CATEGORY_POINTS.get(category, 0) + TIER_POINTS[tier]


def sort_key(*, enqueued_at: datetime, base: int, aging_seconds_per_point: int) -> datetime:
    return enqueued_at - timedelta(seconds=base * aging_seconds_per_point)


def effective_priority(entry: QueueEntry, *, aging_seconds_per_point: int, at: datetime | None = None) -> float:
    waited = ((at or clock.now()) - entry.enqueued_at).total_seconds()
    return entry.base_priority + max(0.0, waited) / aging_seconds_per_point


__all__ = [
    "CATEGORY_POINTS", "DEFAULTS", "PREFERRED_AGENT_TIERS", "TIERS", "TIER_POINTS", "RoutingSettings",
    "OFFER_TIMEOUT", "alive_since", "base_priority", "effective_priority", "routing_settings", "set_routing_setting",
    "sort_key",
]
