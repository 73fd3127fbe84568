"""Call history for the staffing forecast: calls offered, answered and their mean handle time per
(local weekday, interval of the day), and the time callers waited before being answered or
giving up, from which the forecast measures their patience (Erlang A). Counts and seconds only:
no caller, number or agent leaves this module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from core import clock
from core.errors import NOT_ALLOWED_VALUE, ValidationFailed
from telephony.models import Call, Offer, QueueEntry
from telephony.priority import routing_settings

__all__ = ["INTERVALS", "CallHistory", "HistoryCell", "call_history", "callbacks_dialled"]

INTERVALS = (15, 30, 60)
MAX_DAYS = 366


@dataclass(frozen=True)
class HistoryCell:
    """One (weekday, interval) of the history, summed over every such weekday in the span."""

    offered: int
    answered: int  # answered calls that have ended (those whose handle time is known)
    handle_seconds: float  # their total handle time

    @property
    def mean_handle_seconds(self) -> float | None:
        return self.handle_seconds / self.answered if self.answered else None


@dataclass(frozen=True)
class CallHistory:
    """What the forecast needs, aggregated. `cells` maps (weekday 0 = Monday, interval index of
    the local day) to its sums; `weekdays` counts how often each weekday occurs in the span, so
    the mean volume of a cell is offered / weekdays[weekday] (days without calls count as 0)."""

    zone: str
    interval_minutes: int
    first_day: date
    last_day: date
    cells: dict[tuple[int, int], HistoryCell]
    weekdays: tuple[int, ...]
    offered: int
    answered: int  # answered calls that have ended
    abandoned: int  # hung up while waiting (choosing voicemail or a callback is not counted here)
    waited_seconds: float  # time every caller spent waiting: answered, abandoned, or still waiting
    handle_seconds: float  # talk time plus the wrap-up each answered call gives its agent
    wrap_up_seconds: int

    @property
    def mean_handle_seconds(self) -> float | None:
        return self.handle_seconds / self.answered if self.answered else None

    @property
    def patience_seconds(self) -> float | None:
        """Mean patience of exponentially impatient callers, by maximum likelihood with censoring:
        all time waited divided by the number who gave up; None when nobody did."""
        return self.waited_seconds / self.abandoned if self.abandoned else None


def _slot(local: datetime, interval_minutes: int) -> int:
    return (local.hour * 60 + local.minute) // interval_minutes


def call_history(session: Session, *, zone: str, first_day: date, last_day: date, interval_minutes: int = 30,
                 site_id: int | None = None) -> CallHistory:
    """The calls that joined the queue on the local days `first_day` to `last_day` (a site's
    callers, or everyone's). Handle time is the agent's talk time (answer to hang-up) plus the
    configured wrap-up, the time the agent is kept from the next call; a call answered twice
    (a transfer back to the queue) counts its first answer."""
    if interval_minutes not in INTERVALS:
        raise ValidationFailed(NOT_ALLOWED_VALUE, field="interval_minutes",
                               params={"value": interval_minutes, "known": list(INTERVALS)})
    if last_day < first_day or (last_day - first_day).days >= MAX_DAYS:
        raise ValidationFailed("The history covers 1 to %(days)s days, first day before last.", field="first_day",
                               params={"days": MAX_DAYS})
    try:
        tz = ZoneInfo(zone)
    except Exception as exc:  # noqa: BLE001 - any lookup failure means the name is wrong
        raise ValidationFailed("Unknown time zone; choose one of the list, such as Asia/Shanghai.", field="zone",
                               params={"zone": zone}) from exc
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    now = clock.now()
    wrap_up = routing_settings(session).wrap_up_seconds
    answered = (select(Offer.entry_id, Offer.resolved_at, Offer.ended_at)
                .where(Offer.state == "accepted").subquery())
    query = (select(QueueEntry.id, QueueEntry.enqueued_at, QueueEntry.state, QueueEntry.ended_at,
                    answered.c.resolved_at, answered.c.ended_at.label("talk_ended_at"))
             .outerjoin(answered, answered.c.entry_id == QueueEntry.id)
             .where(QueueEntry.enqueued_at >= start, QueueEntry.enqueued_at < end)
             .order_by(QueueEntry.id, answered.c.resolved_at))
    if site_id is not None:
        query = query.join(Call, and_(Call.id == QueueEntry.call_id, Call.site_id == site_id))
    sums: dict[tuple[int, int], list[float]] = {}
    totals = {"offered": 0, "answered": 0, "abandoned": 0, "waited": 0.0, "handle": 0.0}
    seen: set[int] = set()
    for row in session.execute(query.execution_options(yield_per=2000)):
        if row.id in seen:
            continue  # a later answer of a transferred call
        seen.add(row.id)
        local = row.enqueued_at.astimezone(tz)
        cell = sums.setdefault((local.weekday(), _slot(local, interval_minutes)), [0, 0, 0.0])
        cell[0] += 1
        totals["offered"] += 1
        if row.resolved_at is not None:
            totals["waited"] += max(0.0, (row.resolved_at - row.enqueued_at).total_seconds())
            if row.talk_ended_at is not None:
                handle = max(0.0, (row.talk_ended_at - row.resolved_at).total_seconds()) + wrap_up
                cell[1] += 1
                cell[2] += handle
                totals["answered"] += 1
                totals["handle"] += handle
            continue
        left = row.ended_at if row.ended_at is not None else now
        totals["waited"] += max(0.0, (left - row.enqueued_at).total_seconds())
        totals["abandoned"] += row.state == "abandoned"
    weekdays = [0] * 7
    for offset in range((last_day - first_day).days + 1):
        weekdays[(first_day + timedelta(days=offset)).weekday()] += 1
    return CallHistory(
        zone=zone, interval_minutes=interval_minutes, first_day=first_day, last_day=last_day,
        cells={key: HistoryCell(int(n), int(done), float(seconds)) for key, (n, done, seconds) in sums.items()},
        weekdays=tuple(weekdays), offered=int(totals["offered"]), answered=int(totals["answered"]),
        abandoned=int(totals["abandoned"]), waited_seconds=totals["waited"], handle_seconds=totals["handle"],
        wrap_up_seconds=wrap_up,
    )


def callbacks_dialled(session: Session, *, site_id: int, start: datetime, end: datetime) -> int:
    """Server-dialled callbacks to customers of the site started in [start, end): the proactive
    service a shift did (a count; every attempt counts, answered or not)."""
    return session.scalar(select(func.count()).select_from(Call).where(
        Call.leg == "customer", Call.site_id == site_id, Call.started_at >= start, Call.started_at < end)) or 0
