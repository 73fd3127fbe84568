"""Adherence and conformance per agent and day, from the presence log against the shifts.
Adherence: share of scheduled minutes spent at the post. Conformance: minutes at the post that
day (scheduled or not) over scheduled minutes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core import clock
from core.users import get as get_user
from scheduling import shifts as shift_service
from scheduling.presence_source import AT_POST, BREAK, Spell, spells


@dataclass(frozen=True)
class DayAdherence:
    user_id: int
    day: date
    scheduled_minutes: int
    adherent_minutes: int
    at_post_minutes: int
    break_minutes: int

    @property
    def adherence(self) -> float | None:
        return self.adherent_minutes / self.scheduled_minutes if self.scheduled_minutes else None

    @property
    def conformance(self) -> float | None:
        return self.at_post_minutes / self.scheduled_minutes if self.scheduled_minutes else None

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "day": self.day.isoformat(), "adherence": self.adherence,
                "conformance": self.conformance}


def _overlap(spell: Spell, start: datetime, end: datetime) -> float:
    return max(0.0, (min(spell.end, end) - max(spell.start, start)).total_seconds() / 60)


def compute(scheduled: list[tuple[datetime, datetime]], presence: list[Spell], *, day_start: datetime,
            day_end: datetime) -> tuple[int, int, int, int]:
    """(scheduled, adherent, at post, break) minutes: plain arithmetic over the spells."""
    sched = sum((min(e, day_end) - max(s, day_start)).total_seconds() / 60 for s, e in scheduled if e > s)
    adherent = sum(_overlap(sp, s, e) for s, e in scheduled for sp in presence if sp.state in AT_POST)
    at_post = sum(_overlap(sp, day_start, day_end) for sp in presence if sp.state in AT_POST)
    breaks = sum(_overlap(sp, s, e) for s, e in scheduled for sp in presence if sp.state == BREAK)
    return round(sched), round(adherent), round(at_post), round(breaks)


def for_day(session: Session, *, user_id: int, day: date) -> DayAdherence:
    """The agent's local day at their site; a shift belongs to the day it starts on."""
    user = get_user(session, user_id=user_id)
    zone = ZoneInfo(shift_service.site_of(session, user.site_id).timezone if user.site_id else "UTC")
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    worked = [s for s in shift_service.shifts_of(session, user_id=user_id, start=start - timedelta(days=1), end=end)
              if s.day == day]
    # Presence after now is unknown, not "still in the last state": the day is counted up to now.
    window_end = min(max([end] + [s.end_at for s in worked]), max(clock.now(), start + timedelta(seconds=1)))
    presence = spells(session, user_id=user_id, start=start, end=window_end)
    scheduled, adherent, at_post, breaks = compute([(s.start_at, s.end_at) for s in worked], presence,
                                                   day_start=start, day_end=max([end] + [s.end_at for s in worked]))
    return DayAdherence(user_id, day, scheduled, adherent, at_post, breaks)


def for_team(session: Session, *, user_ids: list[int], first: date, last: date) -> list[DayAdherence]:
    out = []
    for user_id in user_ids:
        day = first
        while day <= last:
            out.append(for_day(session, user_id=user_id, day=day))
            day += timedelta(days=1)
    return out
