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

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.config import get_settings
from core.errors import ValidationFailed
from telephony.models.routing import QueueEntry, RoutingSetting

TIERS = ("normal", "silver", "gold", "platinum", "diamond")
# Whose own agent is tried first (DOMAIN.md: "a top-tier customer's dedicated agent").
PREFERRED_AGENT_TIERS = frozenset({"platinum", "diamond"})
CATEGORY_POINTS: dict[str, int] = {"complaint": 30}
TIER_POINTS: dict[str, int] = {"normal": 0, "silver": 5, "gold": 10, "platinum": 20, "diamond": 30}


@dataclass(frozen=True)
class RoutingSettings:
    """Seconds and points. Each comes from, in order: a `routing_settings` row an administrator
    wrote, a field of the same name on core.config.Settings (HOTLINE_<NAME>) once one is
    added there, and these defaults."""

    offer_timeout_seconds: int = 15
    wrap_up_seconds: int = 30
    aging_seconds_per_point: int = 6
    # Handle time assumed for the estimated wait before a queue has any history.
    default_handle_seconds: int = 180
    # How many recent calls of a queue the estimated wait averages over.
    handle_time_sample: int = 50
    # Pending offers with this little time left are "about to time out" on the wallboard.
    expiring_within_seconds: int = 5


DEFAULTS = RoutingSettings()
_NAMES = frozenset(f.name for f in fields(RoutingSettings))
_SESSION_KEY = "telephony.routing_settings"
_OVERRIDES = select(RoutingSetting.name, RoutingSetting.value)


def routing_settings(session: Session) -> RoutingSettings:
    """The settings in force, read once per session: a session lives for one request or task,
    and the router asks for them on every decision."""
    cached = session.info.get(_SESSION_KEY)
    if cached is not None:
        return cached
    values: dict[str, int] = {}
    config = get_settings()
    for name in _NAMES:
        if isinstance(getattr(config, name, None), int):
            values[name] = getattr(config, name)
    for name, value in session.execute(_OVERRIDES):
        if name in _NAMES:
            values[name] = value
    result = replace(DEFAULTS, **values)
    session.info[_SESSION_KEY] = result
    return result


def forget_cached_settings(session: Session) -> None:
    session.info.pop(_SESSION_KEY, None)


def set_routing_setting(session: Session, *, name: str, value: int) -> RoutingSettings:
    """Override one setting; a new aging rate re-sorts the calls already queued."""
    if name not in _NAMES:
        raise ValidationFailed("Unknown setting; choose one from the list.", field="name",
                               params={"key": name, "known": sorted(_NAMES)})
    if not isinstance(value, int) or value < 0 or (name == "aging_seconds_per_point" and value < 1):
        raise ValidationFailed("A routing setting is a whole number of seconds (at least 1 for aging).", field="value")
    row = session.scalar(select(RoutingSetting).where(RoutingSetting.name == name))
    if row is None:
        session.add(RoutingSetting(name=name, value=value))
    else:
        row.value = value
    session.flush()
    forget_cached_settings(session)
    current = routing_settings(session)
    if name == "aging_seconds_per_point":
        _resort(session, current.aging_seconds_per_point)
    return current


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


def _resort(session: Session, aging: int) -> None:
    # Only live entries are ordered; finished ones keep the key they ended with.
    entries = session.scalars(select(QueueEntry).where(QueueEntry.state.in_(("waiting", "offered"))))
    for entry in entries:
        entry.sort_key = sort_key(enqueued_at=entry.enqueued_at, base=entry.base_priority, aging_seconds_per_point=aging)
    session.flush()


__all__ = [
    "CATEGORY_POINTS", "DEFAULTS", "PREFERRED_AGENT_TIERS", "TIERS", "TIER_POINTS", "RoutingSettings",
    "base_priority", "effective_priority", "forget_cached_settings", "routing_settings", "set_routing_setting",
    "sort_key",
]
