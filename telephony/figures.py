"""Today's call figures for the floor: calls offered, answered and abandoned per hour, service
level per interval, answer and handle times, from the queue's entries and their answered offers.
"Today" runs from midnight in the viewer's time zone; figures are counts and seconds only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from core import clock
from telephony.models import Call, Offer, QueueEntry

__all__ = ["SERVICE_LEVEL_SECONDS", "HourFigures", "IntervalFigures", "TodayFigures", "today_figures"]

# The usual 80/20 target: the share of calls answered within this many seconds of queuing.
SERVICE_LEVEL_SECONDS = 20
LEFT_UNANSWERED = ("abandoned", "voicemail", "callback")


@dataclass
class HourFigures:
    start: datetime  # local time
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    handle_seconds: list[int] = field(default_factory=list)

    @property
    def average_handle_seconds(self) -> int | None:
        return round(sum(self.handle_seconds) / len(self.handle_seconds)) if self.handle_seconds else None


@dataclass
class IntervalFigures:
    start: datetime  # local time
    within_target: int = 0
    counted: int = 0  # answered + abandoned

    @property
    def service_level(self) -> float | None:
        return self.within_target / self.counted if self.counted else None


@dataclass(frozen=True)
class TodayFigures:
    day: date
    zone: str
    target_seconds: int
    offered: int
    answered: int
    abandoned: int
    left_message: int  # chose voicemail or a callback
    answered_within_target: int
    average_answer_seconds: int | None
    average_handle_seconds: int | None
    hours: list[HourFigures]
    intervals: list[IntervalFigures]

    @property
    def service_level(self) -> float | None:
        counted = self.answered + self.abandoned
        return self.answered_within_target / counted if counted else None

    @property
    def abandonment_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None


def today_figures(session: Session, *, zone: str, site_id: int | None = None, now: datetime | None = None,
                  target_seconds: int = SERVICE_LEVEL_SECONDS, interval_minutes: int = 30) -> TodayFigures:
    """Figures for calls that joined the queue since local midnight, for one site's callers (or all).
    Service level = answered within the target / (answered + abandoned); handle time is the talk
    time of answered calls that have ended."""
    tz = ZoneInfo(zone)
    now = now or clock.now()
    local_now = now.astimezone(tz)
    midnight = datetime.combine(local_now.date(), time(0), tzinfo=tz)
    # The first answer of each entry (a re-queued call may be answered twice; the first counts).
    answered = (select(Offer.entry_id, Offer.resolved_at, Offer.ended_at)
                .where(Offer.state == "accepted").subquery())
    query = (select(QueueEntry.id, QueueEntry.enqueued_at, QueueEntry.state, answered.c.resolved_at,
                    answered.c.ended_at)
             .outerjoin(answered, answered.c.entry_id == QueueEntry.id)
             .where(QueueEntry.enqueued_at >= midnight.astimezone(now.tzinfo), QueueEntry.enqueued_at <= now)
             .order_by(QueueEntry.id, answered.c.resolved_at))
    if site_id is not None:
        query = query.join(Call, and_(Call.id == QueueEntry.call_id, Call.site_id == site_id))
    hours = [HourFigures(midnight + timedelta(hours=h)) for h in range(local_now.hour + 1)]
    slots = (local_now.hour * 60 + local_now.minute) // interval_minutes + 1
    intervals = [IntervalFigures(midnight + timedelta(minutes=interval_minutes * i)) for i in range(slots)]
    seen: set[int] = set()
    totals = {"offered": 0, "answered": 0, "abandoned": 0, "left": 0, "within": 0}
    answer_times: list[float] = []
    handle_times: list[int] = []
    for entry_id, enqueued_at, state, resolved_at, ended_at in session.execute(query):
        if entry_id in seen:
            continue
        seen.add(entry_id)
        local = enqueued_at.astimezone(tz)
        hour = hours[min(local.hour, len(hours) - 1)]
        interval = intervals[min((local.hour * 60 + local.minute) // interval_minutes, len(intervals) - 1)]
        totals["offered"] += 1
        hour.offered += 1
        if resolved_at is not None:
            wait = (resolved_at - enqueued_at).total_seconds()
            totals["answered"] += 1
            hour.answered += 1
            answer_times.append(wait)
            interval.counted += 1
            if wait <= target_seconds:
                totals["within"] += 1
                interval.within_target += 1
            if ended_at is not None:
                talk = max(0, int((ended_at - resolved_at).total_seconds()))
                hour.handle_seconds.append(talk)
                handle_times.append(talk)
        elif state == "abandoned":
            totals["abandoned"] += 1
            hour.abandoned += 1
            interval.counted += 1
        elif state in LEFT_UNANSWERED:
            totals["left"] += 1
    return TodayFigures(
        day=local_now.date(), zone=zone, target_seconds=target_seconds, offered=totals["offered"],
        answered=totals["answered"], abandoned=totals["abandoned"], left_message=totals["left"],
        answered_within_target=totals["within"],
        average_answer_seconds=round(sum(answer_times) / len(answer_times)) if answer_times else None,
        average_handle_seconds=round(sum(handle_times) / len(handle_times)) if handle_times else None,
        hours=hours, intervals=intervals)
