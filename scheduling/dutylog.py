"""Duty logs: one per team leader's shift, figures prefilled from the hub (tickets by category)
and editable, closed only once the handover to the next shift is accepted; weekly roll-ups."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, clock, directory
from core.errors import NOT_ALLOWED_VALUE, Conflict, NotFound, ValidationFailed
from core.models import Role, User
from scheduling import access, handover_sources
from scheduling import shifts as shift_service
from scheduling.models import DutyLog, Handover, Shift
from scheduling.texts import check_length
from telephony import history as call_history
from tickets import facts as ticket_facts

TEXT_FIELDS = ("system_problems", "difficult_issues", "notes")
COUNT_FIELDS = ("inquiry_count", "lookup_count", "proactive_count")


def window(session: Session, log: DutyLog) -> tuple[datetime, datetime]:
    """The logged shift's time: the leader's own shift of that kind that day, else the local day."""
    shift = session.scalar(select(Shift).where(Shift.user_id == log.leader_id, Shift.day == log.day,
                                               Shift.kind == log.shift_kind).limit(1))
    if shift is not None:
        return shift.start_at, shift.end_at
    zone = ZoneInfo(shift_service.site_of(session, log.site_id).timezone)
    start = datetime.combine(log.day, time(0), tzinfo=zone).astimezone(UTC)
    return start, datetime.combine(log.day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def open_log(session: Session, *, site_id: int, day: date, shift_kind: str, by: User,
             team_id: int | None = None) -> DutyLog:
    """The log of this shift, created (and prefilled) on first open."""
    access.require_role(by, Role.team_leader, "keep the duty log")
    access.require_site(by, site_id, "keep the duty log")
    if shift_kind not in shift_service.KINDS:
        raise ValidationFailed(NOT_ALLOWED_VALUE, field="shift_kind",
                               params={"value": shift_kind, "known": list(shift_service.KINDS)})
    log = session.scalar(select(DutyLog).where(DutyLog.site_id == site_id, DutyLog.day == day,
                                               DutyLog.shift_kind == shift_kind, DutyLog.team_id.is_(None)
                                               if team_id is None else DutyLog.team_id == team_id))
    if log is not None:
        return log
    log = DutyLog(site_id=site_id, team_id=team_id, day=day, shift_kind=shift_kind, leader_id=by.id)
    session.add(log)
    session.flush()
    prefill(session, log=log, by=by)
    return log


def prefill(session: Session, *, log: DutyLog, by: User) -> DutyLog:
    """The shift's workload from the hub's own records, which the leader may then correct:
    inquiries are the inquiry tickets opened during the shift; lookups the customer cards the
    site's (or team's) staff opened in full, from the audit trail; proactive service the
    callbacks the hub dialled to the site's customers."""
    start, end = window(session, log)
    counts = handover_sources.ticket_counts(session, site_id=log.site_id, viewer=by, start=start, end=end)
    staff = [u.id for u in (directory.list_users(session, team_id=log.team_id) if log.team_id is not None
                            else directory.list_users(session, site_id=log.site_id))]
    log.inquiry_count = counts.get("inquiry", 0)
    log.lookup_count = audit.count_actions(session, action="customer.viewed", actor_ids=staff, start=start, end=end)
    log.proactive_count = call_history.callbacks_dialled(session, site_id=log.site_id, start=start, end=end)
    log.figures_source = {"inquiry_count": "tickets", "tickets_by_category": counts,
                          "lookup_count": "audit", "proactive_count": "callbacks"}
    session.flush()
    return log


def get(session: Session, *, log_id: int) -> DutyLog:
    log = session.get(DutyLog, log_id)
    if log is None:
        raise NotFound("No such duty log.")
    return log


def update(session: Session, *, log_id: int, by: User, changes: dict[str, Any]) -> DutyLog:
    log = get(session, log_id=log_id)
    access.require_role(by, Role.team_leader, "edit the duty log")
    access.require_site(by, log.site_id, "edit the duty log")
    if log.closed_at is not None:
        raise Conflict("The shift is closed; its duty log can no longer be edited.")
    unknown = set(changes) - set(TEXT_FIELDS) - set(COUNT_FIELDS)
    if unknown:
        raise ValidationFailed("Some fields are not part of the duty log.", params={"unknown": sorted(unknown)})
    for name in TEXT_FIELDS:
        if name in changes:
            check_length(name, str(changes[name]))
    for name, value in changes.items():
        if name in COUNT_FIELDS:
            if not isinstance(value, int) or value < 0:
                raise ValidationFailed("Counts are whole numbers of at least 0.", field=name)
            sources = dict(log.figures_source or {})
            sources[name] = "edited"
            log.figures_source = sources
        setattr(log, name, value if name in COUNT_FIELDS else str(value))
    session.flush()
    return log


def close(session: Session, *, log_id: int, by: User) -> DutyLog:
    """The outgoing shift closes only when the incoming lead has accepted its handover."""
    log = get(session, log_id=log_id)
    access.require_site(by, log.site_id, "close shifts")
    handover = session.scalar(select(Handover).where(Handover.duty_log_id == log.id))
    if handover is None or handover.status != "accepted":
        raise Conflict("The shift cannot close until the incoming lead accepts its handover.")
    log.closed_at = log.closed_at or clock.now()
    session.flush()
    return log


def weekly(session: Session, *, site_id: int, week_start: date, by: User) -> dict[str, Any]:
    """The week's figures from `week_start` (7 days): the duty logs' totals, per day, and the
    problems noted; and the supervisor's totals of the site's tickets accepted, supervised,
    answered and followed up that week (the site's calendar), from the tickets themselves."""
    access.require_role(by, Role.team_leader, "read duty logs")
    access.require_site(by, site_id, "read duty logs")
    logs = list(session.scalars(select(DutyLog).where(DutyLog.site_id == site_id, DutyLog.day >= week_start,
                                                      DutyLog.day < week_start + timedelta(days=7))
                                .order_by(DutyLog.day, DutyLog.shift_kind)))
    per_day: dict[str, dict[str, int]] = {}
    for log in logs:
        day = per_day.setdefault(log.day.isoformat(), dict.fromkeys(COUNT_FIELDS, 0))
        for name in COUNT_FIELDS:
            day[name] += getattr(log, name)
    return {
        "site_id": site_id, "week_start": week_start.isoformat(),
        "totals": {name: sum(getattr(log, name) for log in logs) for name in COUNT_FIELDS},
        "days": per_day,
        "system_problems": [{"day": log.day.isoformat(), "shift_kind": log.shift_kind, "text": log.system_problems}
                            for log in logs if log.system_problems.strip()],
        "difficult_issues": [{"day": log.day.isoformat(), "shift_kind": log.shift_kind, "text": log.difficult_issues}
                             for log in logs if log.difficult_issues.strip()],
        "logs": len(logs),
        "tickets": ticket_facts.ticket_totals(
            session, site_id=site_id, start=_local_midnight(session, site_id, week_start),
            end=_local_midnight(session, site_id, week_start + timedelta(days=7))),
    }


def _local_midnight(session: Session, site_id: int, day: date) -> datetime:
    zone = ZoneInfo(shift_service.site_of(session, site_id).timezone)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
