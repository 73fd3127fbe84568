"""Requested days off: a day a person asks not to be rostered. It is a wish the roster solver
keeps (see roster.build_problem), not leave: nobody approves it and it excuses no shift already
given. Asked by the person, or entered by a leader of their site, for a coming day."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, clock
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Role, User
from core.organisation import site_timezone
from core.users import get as get_user
from scheduling import access
from scheduling.models import DayOffRequest

# How far ahead a wish may reach: the longest roster (scheduling.roster.MAX_DAYS) twice over.
MAX_DAYS_AHEAD = 124


def _check_actor(session: Session, user: User, by: User, action: str) -> None:
    if by.id != user.id:
        access.require_role(by, Role.team_leader, action)
        access.require_site(by, user.site_id, action)


def request(session: Session, *, user_id: int, day: date, by: User, reason: str = "") -> DayOffRequest:
    """Ask not to be rostered on a local day after today (at the person's site)."""
    user = get_user(session, user_id=user_id)
    _check_actor(session, user, by, "ask days off for someone else")
    today = clock.now().astimezone(ZoneInfo(site_timezone(session, user.site_id))).date()
    if day <= today:
        raise ValidationFailed("A day off is asked for a day after today.", field="day")
    if (day - today).days > MAX_DAYS_AHEAD:
        raise ValidationFailed("A day off is asked at most %(days)s days ahead.", field="day",
                               params={"days": MAX_DAYS_AHEAD})
    if session.scalar(select(DayOffRequest.id).where(DayOffRequest.user_id == user.id,
                                                     DayOffRequest.day == day)) is not None:
        raise Conflict("That day is already asked off.", field="day")
    wish = DayOffRequest(user_id=user.id, day=day, reason=reason.strip()[:200] or None)
    session.add(wish)
    session.flush()
    audit.record(session, action="day_off.requested", actor_id=by.id, object_type="day_off", object_id=wish.id,
                 details={"user_id": user.id, "day": day.isoformat()})
    return wish


def withdraw(session: Session, *, day_off_id: int, by: User) -> None:
    wish = session.get(DayOffRequest, day_off_id)
    if wish is None:
        raise NotFound("No such day off.")
    _check_actor(session, get_user(session, user_id=wish.user_id), by, "withdraw someone's day off")
    audit.record(session, action="day_off.withdrawn", actor_id=by.id, object_type="day_off", object_id=wish.id,
                 details={"user_id": wish.user_id, "day": wish.day.isoformat()})
    session.delete(wish)
    session.flush()


def days_off_of(session: Session, *, user_id: int, first: date, last: date) -> list[DayOffRequest]:
    """The person's requested days off from `first` to `last`, earliest first."""
    return list(session.scalars(select(DayOffRequest).where(DayOffRequest.user_id == user_id,
                                                            DayOffRequest.day >= first, DayOffRequest.day <= last)
                                .order_by(DayOffRequest.day)))
