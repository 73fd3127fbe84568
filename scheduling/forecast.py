"""Staffing forecast: call history (plain rows) to a weekday × interval profile, and per interval
the agents needed, service level, ASA and occupancy by Erlang C or, with patience, Erlang A."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from core.errors import NOT_ALLOWED_VALUE, ValidationFailed
from scheduling import erlang
from scheduling.erlang_a_many import required_agents_a_many

__all__ = [
    "CallRecord", "HistoryProfile", "IntervalStaffing", "Targets", "estimate_patience", "forecast",
    "interval_starts", "profile_from_history", "staff_interval", "staff_many",
]

INTERVALS = (15, 30, 60)
MAX_TRAFFIC = 2_000  # erlangs in one interval: two thousand calls at once is beyond any hotline


@dataclass(frozen=True)
class CallRecord:
    """One call of the history. `waited_seconds` is the time in queue, answered or not."""

    start: datetime
    handle_seconds: float
    answered: bool
    waited_seconds: float = 0.0


@dataclass(frozen=True)
class Targets:
    """Service level target (e.g. 80 % in 20 s), maximum occupancy and shrinkage as fractions;
    `patience_seconds` switches to Erlang A."""

    level: float = 0.8
    seconds: float = 20.0
    max_occupancy: float = 1.0
    shrinkage: float = 0.0
    patience_seconds: float | None = None

    def __post_init__(self) -> None:
        problems: list[dict[str, object]] = []
        if not 0 < self.level < 1:
            problems.append({"loc": ["target_percent"], "msg": "The service level target is between 0 and 100 %."})
        if self.seconds < 0:
            problems.append({"loc": ["target_seconds"], "msg": "The answer-time target cannot be negative."})
        if not 0 < self.max_occupancy <= 1:
            problems.append({"loc": ["max_occupancy"], "msg": "Maximum occupancy is above 0 and at most 100 %."})
        if not 0 <= self.shrinkage < 1:
            problems.append({"loc": ["shrinkage"], "msg": "Shrinkage is at least 0 and below 100 %."})
        if self.patience_seconds is not None and self.patience_seconds <= 0:
            problems.append({"loc": ["patience_seconds"], "msg": "Patience must be a positive number of seconds."})
        if problems:
            raise ValidationFailed(problems)


@dataclass(frozen=True)
class IntervalStaffing:
    start: datetime | None
    calls: float
    aht_seconds: float
    traffic: float
    agents: int  # on the phones at once
    scheduled_agents: int  # agents to schedule once shrinkage is added
    service_level: float
    asa_seconds: float
    occupancy: float
    wait_probability: float
    abandon_probability: float | None = None

    def as_dict(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["start"] = self.start.isoformat() if self.start else None
        return data


def _check_interval(minutes: int) -> None:
    if minutes not in INTERVALS:
        raise ValidationFailed(NOT_ALLOWED_VALUE, field="interval_minutes",
                               params={"value": minutes, "known": list(INTERVALS)})


def _scheduled(agents: int, shrinkage: float) -> int:
    # Shrinkage is the share of paid time off the phones, so the roster needs agents / (1 - s).
    return math.ceil(agents / (1.0 - shrinkage) - 1e-9)


def staff_interval(calls: float, *, interval_minutes: int, aht_seconds: float, targets: Targets,
                   start: datetime | None = None) -> IntervalStaffing:
    """The staffing of one interval: Erlang C, or Erlang A when the targets carry a patience."""
    if calls < 0 or aht_seconds <= 0 or interval_minutes <= 0:
        raise ValidationFailed("Calls cannot be negative; handle time and interval must be positive.")
    traffic = calls * aht_seconds / (interval_minutes * 60)
    if traffic > MAX_TRAFFIC:
        raise ValidationFailed("An interval's traffic (calls × handle time over the interval) is at most "
                               "%(limit)s erlangs; check the calls and the handle time.", field="calls",
                               params={"limit": f"{MAX_TRAFFIC:,}"})
    if targets.patience_seconds is None:
        c = erlang.required_agents_c(traffic, aht_seconds=aht_seconds, target_level=targets.level,
                                     target_seconds=targets.seconds, max_occupancy=targets.max_occupancy)
        return IntervalStaffing(start, calls, aht_seconds, traffic, c.agents, _scheduled(c.agents, targets.shrinkage),
                                c.service_level, c.asa_seconds, c.occupancy, c.wait_probability)
    a = _erlang_a_cached(round(traffic, 9), float(aht_seconds), float(targets.patience_seconds), targets.level,
                         float(targets.seconds), targets.max_occupancy)
    return IntervalStaffing(start, calls, aht_seconds, traffic, a.agents, _scheduled(a.agents, targets.shrinkage),
                            a.service_level, a.asa_seconds, a.occupancy, a.wait_probability, a.abandon_probability)


@lru_cache(maxsize=65536)
def _erlang_a_cached(traffic: float, aht: float, patience: float, level: float, seconds: float,
                     max_occupancy: float) -> erlang.ErlangAResult:
    return erlang.required_agents_a(traffic, aht_seconds=aht, patience_seconds=patience, target_level=level,
                                    target_seconds=seconds, max_occupancy=max_occupancy)


def staff_many(calls: Sequence[float] | np.ndarray, aht_seconds: Sequence[float] | np.ndarray | float, *,
               interval_minutes: int, targets: Targets) -> dict[str, np.ndarray]:
    """Staffing for many intervals as arrays (agents, scheduled_agents, service_level, asa_seconds,
    occupancy, wait_probability, and abandon_probability for Erlang A), vectorised for both models."""
    calls_arr = np.asarray(calls, dtype=float)
    aht_arr = np.broadcast_to(np.asarray(aht_seconds, dtype=float), calls_arr.shape)
    traffic = calls_arr * aht_arr / (interval_minutes * 60)
    if targets.patience_seconds is None:
        out = erlang.required_agents_c_many(traffic, aht_arr, target_level=targets.level,
                                            target_seconds=targets.seconds, max_occupancy=targets.max_occupancy)
    else:
        out = required_agents_a_many(traffic, aht_arr, patience_seconds=targets.patience_seconds,
                                     target_level=targets.level, target_seconds=targets.seconds,
                                     max_occupancy=targets.max_occupancy)
    out["scheduled_agents"] = np.ceil(out["agents"] / (1.0 - targets.shrinkage) - 1e-9).astype(np.int64)
    out["traffic"] = traffic
    return out


# History -------------------------------------------------------------------------------------

def _record(row: CallRecord | Sequence[object]) -> CallRecord:
    if isinstance(row, CallRecord):
        return row
    start, handle, outcome, waited = (list(row) + [0.0])[:4]
    answered = outcome if isinstance(outcome, bool) else str(outcome).lower() == "answered"
    return CallRecord(start, float(handle), answered, float(waited or 0.0))  # type: ignore[arg-type]


def estimate_patience(rows: Iterable[CallRecord | Sequence[object]]) -> float | None:
    """Mean patience (seconds) of exponentially impatient callers, by maximum likelihood with
    censoring: all time spent waiting, by answered and abandoned callers alike, divided by the
    number of abandons. None when nobody abandoned (the data cannot tell)."""
    waited, abandons = 0.0, 0
    for row in map(_record, rows):
        waited += row.waited_seconds
        abandons += not row.answered
    return waited / abandons if abandons else None


@dataclass(frozen=True)
class HistoryProfile:
    """Average calls and handle time per (weekday, interval of the local day)."""

    interval_minutes: int
    zone: str
    calls: dict[tuple[int, int], float]
    aht_seconds: dict[tuple[int, int], float]
    default_aht_seconds: float
    patience_seconds: float | None

    def at(self, weekday: int, slot: int) -> tuple[float, float]:
        key = (weekday, slot)
        return self.calls.get(key, 0.0), self.aht_seconds.get(key, self.default_aht_seconds)


def _slot(local: datetime, interval_minutes: int) -> int:
    return (local.hour * 60 + local.minute) // interval_minutes


def profile_from_history(rows: Iterable[CallRecord | Sequence[object]], *, interval_minutes: int,
                         zone: str = "UTC") -> HistoryProfile:
    """Volume per weekday and interval is the mean over every such weekday in the history's span
    (days without calls count as zero); handle time is the mean of answered calls in that cell,
    or of all answered calls when the cell has none."""
    _check_interval(interval_minutes)
    tz = ZoneInfo(zone)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    handle: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0])
    days: set[date] = set()
    records = [_record(r) for r in rows]
    for row in records:
        local = row.start.astimezone(tz)
        key = (local.weekday(), _slot(local, interval_minutes))
        days.add(local.date())
        counts[key] += 1
        if row.answered and row.handle_seconds > 0:
            cell = handle[key]
            cell[0] += row.handle_seconds
            cell[1] += 1
    answered = [r.handle_seconds for r in records if r.answered and r.handle_seconds > 0]
    default_aht = sum(answered) / len(answered) if answered else 180.0
    per_weekday = [0] * 7
    if days:
        day = min(days)
        while day <= max(days):
            per_weekday[day.weekday()] += 1
            day += timedelta(days=1)
    return HistoryProfile(
        interval_minutes=interval_minutes, zone=zone,
        calls={key: n / per_weekday[key[0]] for key, n in counts.items()},
        aht_seconds={key: total / n for key, (total, n) in handle.items() if n},
        default_aht_seconds=default_aht, patience_seconds=estimate_patience(records),
    )


def interval_starts(day: date, *, interval_minutes: int, zone: str) -> list[datetime]:
    """The UTC starts of a local day's intervals: 92 quarter-hours on a spring-forward day in
    Europe/Berlin, 100 on a fall-back day, 96 otherwise."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    step = timedelta(minutes=interval_minutes)
    starts, moment = [], start
    while moment < end:
        starts.append(moment)
        moment += step
    return starts


def forecast(profile: HistoryProfile, *, start: date, days: int, targets: Targets,
             growth: float = 1.0) -> list[IntervalStaffing]:
    """Staffing for each interval of `days` local days from `start`, the profile's volume scaled by
    `growth` (1.05 for 5 % more calls than the history)."""
    if days <= 0:
        raise ValidationFailed("A forecast covers at least one day.", field="days")
    tz = ZoneInfo(profile.zone)
    moments: list[datetime] = []
    for offset in range(days):
        moments += interval_starts(start + timedelta(days=offset), interval_minutes=profile.interval_minutes,
                                   zone=profile.zone)
    cells = [profile.at(m.astimezone(tz).weekday(), _slot(m.astimezone(tz), profile.interval_minutes))
             for m in moments]
    calls = np.array([c for c, _ in cells]) * growth
    aht = np.array([h for _, h in cells])
    out = staff_many(calls, aht, interval_minutes=profile.interval_minutes, targets=targets)
    return [
        IntervalStaffing(m, float(calls[i]), float(aht[i]), float(out["traffic"][i]), int(out["agents"][i]),
                         int(out["scheduled_agents"][i]), float(out["service_level"][i]),
                         float(out["asa_seconds"][i]), float(out["occupancy"][i]),
                         float(out["wait_probability"][i]),
                         float(out["abandon_probability"][i]) if "abandon_probability" in out else None)
        for i, m in enumerate(moments)
    ]
