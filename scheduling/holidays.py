"""Public holidays come from the sites' calendar owned by tickets (tickets.calendar), read through
its service functions so there is one list for the IVR, SLA clocks and scheduling."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from tickets import calendar


def public_holidays(session: Session, *, site_id: int, first: date, last: date) -> frozenset[date]:
    return frozenset(h.day for h in calendar.holidays(session, site_id=site_id, start=first, end=last))


def add(session: Session, *, site_id: int | None, day: date, name: str) -> None:
    calendar.add_holiday(session, day=day, name=name, site_id=site_id)
