"""Each site's opening calendar (weekly hours in the site's time zone, and holidays), whether a
site is open, and business-minute arithmetic for SLA clocks. The IVR asks `is_open`/`next_open`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from core import clock
from core.cache import forget as forget_remembered
from core.cache import remembered
from core.db import affected_rows
from core.errors import ValidationFailed
from core.organisation import get_site
from tickets.models.tickets import SiteHoliday, SiteOpeningHours

__all__ = [
    "SiteCalendar", "add_business_minutes", "add_holiday", "business_minutes_between", "calendar_for",
    "holidays", "is_holiday", "is_open", "next_open", "opening_hours", "remove_holiday", "set_opening_hours",
]

# How far the walkers look for an open minute before deciding the site never opens.
_HORIZON_DAYS = 800
_CACHE = "tickets.calendars"
_WRITTEN = "tickets.calendars.written"
_HHMM = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class SiteCalendar:
    """A site's calendar, loaded once and used for many computations (pure, no database)."""

    zone: ZoneInfo
    hours: dict[int, tuple[tuple[int, int], ...]]  # weekday -> (opens_minute, closes_minute), sorted
    closed_days: frozenset[date]

    @property
    def always_open(self) -> bool:
        return not self.hours

    def ranges_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of a local day, as UTC datetimes."""
        if day in self.closed_days:
            return []
        spans = ((0, 1440),) if self.always_open else self.hours.get(day.weekday(), ())
        return [(self._at(day, start), self._at(day, end)) for start, end in spans]

    def _at(self, day: date, minute: int) -> datetime:
        if minute >= 1440:
            day, minute = day + timedelta(days=1), minute - 1440
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def _days_from(self, moment: datetime, step: int) -> Iterator[date]:
        day = moment.astimezone(self.zone).date() - timedelta(days=step)  # one day back covers DST edges
        for _ in range(_HORIZON_DAYS):
            yield day
            day += timedelta(days=step)
        raise ValueError("the site's calendar has no open time within two years; check its hours and holidays")

    def is_open(self, at: datetime) -> bool:
        return any(start <= at < end for start, end in self.ranges_on(at.astimezone(self.zone).date()))

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, otherwise the start of the next open interval."""
        for day in self._days_from(at, 1):
            for start, end in self.ranges_on(day):
                if end > at:
                    return max(start, at)
        raise AssertionError("unreachable")  # pragma: no cover

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` business minutes after `start` (before it, when negative)."""
        remaining = timedelta(minutes=abs(minutes))
        if minutes >= 0:
            for day in self._days_from(start, 1):
                for begin, end in self.ranges_on(day):
                    if end <= start:
                        continue
                    begin = max(begin, start)
                    if remaining <= end - begin:
                        return begin + remaining
                    remaining -= end - begin
        else:
            for day in self._days_from(start + timedelta(days=2), -1):
                for begin, end in reversed(self.ranges_on(day)):
                    if begin >= start:
                        continue
                    end = min(end, start)
                    if remaining <= end - begin:
                        return end - remaining
                    remaining -= end - begin
        raise AssertionError("unreachable")  # pragma: no cover

    def minutes_between(self, start: datetime, end: datetime) -> int:
        """Whole business minutes from `start` to `end` (negative when `end` is earlier)."""
        if end < start:
            return -self.minutes_between(end, start)
        total = timedelta()
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        while day <= last:
            for begin, finish in self.ranges_on(day):
                overlap = min(finish, end) - max(begin, start)
                if overlap > timedelta():
                    total += overlap
            day += timedelta(days=1)
        return int(total.total_seconds() // 60)


# Loading ------------------------------------------------------------------------------------

def calendar_for(session: Session, *, site_id: int) -> SiteCalendar:
    """The site's calendar. Every new ticket's SLA clock and every answered call's first response
    read it, and an administrator rarely changes it: it is remembered for a few seconds per
    process (core.cache; edits made here clear it at once, other processes see them within its
    TTL, as the IVR's open-hours check does). A unit of work that changed a calendar reads its
    own writes, never remembered for others before they are committed."""
    cache: dict[int, SiteCalendar] = session.info.setdefault(_CACHE, {})
    if site_id in cache:
        return cache[site_id]
    if session.info.get(_WRITTEN):
        calendar = _load(session, site_id)
    else:
        calendar = remembered(session, ("calendar", site_id), lambda: _load(session, site_id))
    cache[site_id] = calendar
    return calendar


def _load(session: Session, site_id: int) -> SiteCalendar:
    zone_name = get_site(session, site_id=site_id).timezone  # NotFound for an unknown site
    hours: dict[int, list[tuple[int, int]]] = {}
    for row in session.scalars(select(SiteOpeningHours).where(SiteOpeningHours.site_id == site_id)):
        hours.setdefault(row.weekday, []).append((row.opens_minute, row.closes_minute))
    days = session.scalars(
        select(SiteHoliday.day).where(or_(SiteHoliday.site_id == site_id, SiteHoliday.site_id.is_(None)))
    )
    return SiteCalendar(
        zone=ZoneInfo(zone_name or "UTC"),
        hours={weekday: tuple(sorted(spans)) for weekday, spans in hours.items()},
        closed_days=frozenset(days),
    )


def _forget(session: Session) -> None:
    session.info.pop(_CACHE, None)
    session.info[_WRITTEN] = True
    forget_remembered()


# Questions ----------------------------------------------------------------------------------

def is_open(session: Session, *, site_id: int, at: datetime | None = None) -> bool:
    """Whether the site is open at `at` (default now): within its hours and not on a holiday."""
    return calendar_for(session, site_id=site_id).is_open(at or clock.now())


def next_open(session: Session, *, site_id: int, at: datetime | None = None) -> datetime:
    """`at` (default now) if the site is open then, otherwise when it next opens (UTC)."""
    return calendar_for(session, site_id=site_id).next_open(at or clock.now())


def add_business_minutes(session: Session, *, site_id: int, start: datetime, minutes: float) -> datetime:
    return calendar_for(session, site_id=site_id).add_minutes(start, minutes)


def business_minutes_between(session: Session, *, site_id: int, start: datetime, end: datetime) -> int:
    return calendar_for(session, site_id=site_id).minutes_between(start, end)


def is_holiday(session: Session, *, site_id: int, day: date) -> bool:
    return day in calendar_for(session, site_id=site_id).closed_days


def holidays(session: Session, *, site_id: int | None, start: date, end: date) -> list[SiteHoliday]:
    """Holidays from `start` to `end` inclusive that apply to the site (or, with None, to every site)."""
    query = select(SiteHoliday).where(SiteHoliday.day >= start, SiteHoliday.day <= end).order_by(SiteHoliday.day)
    if site_id is None:
        query = query.where(SiteHoliday.site_id.is_(None))
    else:
        query = query.where(or_(SiteHoliday.site_id == site_id, SiteHoliday.site_id.is_(None)))
    return list(session.scalars(query))


def opening_hours(session: Session, *, site_id: int) -> dict[int, list[tuple[str, str]]]:
    """Weekday (0 = Monday) to its ranges as ("HH:MM", "HH:MM"); empty means always open."""
    calendar = calendar_for(session, site_id=site_id)
    return {day: [(_hhmm(a), _hhmm(b)) for a, b in spans] for day, spans in sorted(calendar.hours.items())}


# Changes ------------------------------------------------------------------------------------

def _minute(value: str, field: str) -> int:
    match = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if not match or (int(match.group(1)) == 24 and match.group(2) != "00"):
        raise ValidationFailed("Write each range as 09:00-18:00, with commas between ranges; 24:00 means midnight.",
                               field=field, params={"value": value})
    return int(match.group(1)) * 60 + int(match.group(2))


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def set_opening_hours(session: Session, *, site_id: int, weekday: int,
                      ranges: Sequence[tuple[str, str]]) -> list[SiteOpeningHours]:
    """Replace the site's ranges on one weekday (0 = Monday), for example
    `[("09:00", "12:00"), ("13:00", "18:00")]`; an empty list closes that weekday."""
    get_site(session, site_id=site_id)
    if not 0 <= weekday <= 6:
        raise ValidationFailed("A weekday is 0 (Monday) to 6 (Sunday).", field="weekday")
    spans = sorted((_minute(a, "opens"), _minute(b, "closes")) for a, b in ranges)
    for index, (start, end) in enumerate(spans):
        if start >= end:
            raise ValidationFailed("A range must close after it opens.", field="ranges", code="hours.order",
                                   params={"opens": _hhmm(start), "closes": _hhmm(end)})
        if index and start < spans[index - 1][1]:
            raise ValidationFailed("The ranges of one day must not overlap.", field="ranges", code="hours.overlap")
    session.execute(delete(SiteOpeningHours).where(SiteOpeningHours.site_id == site_id,
                                                   SiteOpeningHours.weekday == weekday))
    rows = [SiteOpeningHours(site_id=site_id, weekday=weekday, opens_minute=a, closes_minute=b) for a, b in spans]
    session.add_all(rows)
    session.flush()
    _forget(session)
    return rows


def add_holiday(session: Session, *, day: date, name: str, site_id: int | None = None) -> SiteHoliday:
    """Close a site (or, with no site, every site) for a day; adding the same day again renames it."""
    if site_id is not None:
        get_site(session, site_id=site_id)
    site_match = SiteHoliday.site_id.is_(None) if site_id is None else SiteHoliday.site_id == site_id
    row = session.scalar(select(SiteHoliday).where(site_match, SiteHoliday.day == day))
    if row is None:
        row = SiteHoliday(site_id=site_id, day=day, name=name.strip()[:100])
        session.add(row)
    else:
        row.name = name.strip()[:100]
    session.flush()
    _forget(session)
    return row


def remove_holiday(session: Session, *, day: date, site_id: int | None = None) -> bool:
    site_match = SiteHoliday.site_id.is_(None) if site_id is None else SiteHoliday.site_id == site_id
    removed = affected_rows(session.execute(delete(SiteHoliday).where(site_match, SiteHoliday.day == day)))
    _forget(session)
    return bool(removed)
