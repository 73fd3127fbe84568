"""Leave requests: the rules checked on request (every broken rule listed), approval level by
level, refusal (a late request refused counts as absence), and sick-leave certificates."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, clock, directory, permissions
from core.events import publish
from core.errors import ValidationFailed
from core.models import Role, User
from core.users import get as get_user
from scheduling import access, holidays
from scheduling import shifts as shift_service
from scheduling.errors import AlreadyDecided, LeaveRuleViolated, NotYourTurn, RequestNotFound
from scheduling.models import LeaveApproval, LeaveRequest, Shift
from scheduling.rules import leave as rules
from scheduling.settings import policy

LIVE = ("pending", "approved")


def _zone(session: Session, user: User) -> str:
    return shift_service.site_of(session, user.site_id).timezone if user.site_id else "UTC"


def facts_for(session: Session, *, user: User, kind: str, start: datetime, end: datetime, by: User,
              shift_id: int | None = None, holiday_special_case: bool = False,
              exclude_id: int | None = None) -> rules.LeaveFacts:
    zone = _zone(session, user)
    covered = shift_service.shifts_of(session, user_id=user.id, start=start, end=end) if end > start else []
    owner = None
    if shift_id is not None:
        named = shift_service.get(session, shift_id=shift_id)
        owner = named.user_id
        if named.user_id == user.id and named not in covered:
            covered.append(named)
    others = session.execute(select(LeaveRequest.start_at, LeaveRequest.end_at).where(
        LeaveRequest.user_id == user.id, LeaveRequest.status.in_(LIVE),
        LeaveRequest.id != (exclude_id or 0))).all()
    next_shift = session.scalar(select(Shift).where(Shift.user_id == user.id, Shift.start_at >= end)
                                .order_by(Shift.start_at).limit(1))
    first_day = min([s.day for s in covered] + [start.date() - timedelta(days=1)])
    last_day = max([s.day for s in covered] + [end.date() + timedelta(days=1)])
    days_off = holidays.public_holidays(session, site_id=user.site_id, first=first_day, last=last_day) \
        if user.site_id else frozenset()
    return rules.LeaveFacts(
        kind=kind, user_id=user.id, requested_by_id=by.id, start=start, end=end, requested_at=clock.now(), zone=zone,
        shifts=[rules.LeaveShift(s.start_at, s.end_at, s.day, s.kind, s.source) for s in covered],
        named_shift_owner_id=owner, other_leave=[(s, e) for s, e in others], holidays=days_off,
        holiday_special_case=holiday_special_case, next_shift_day=next_shift.day if next_shift else None,
    )


def request(session: Session, *, user_id: int, kind: str, start: datetime, end: datetime, by: User,
            reason: str = "", shift_id: int | None = None, holiday_special_case: bool = False) -> LeaveRequest:
    """Ask for leave for oneself, or report someone's sick leave (a team leader or above of their
    site). Refused with every broken rule; accepted requests wait for their approval steps."""
    user = get_user(session, user_id=user_id)
    if by.id != user.id:
        access.require_role(by, Role.team_leader, "report leave for someone else")
        access.require_site(by, user.site_id, "report leave")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("Times need a time zone (an offset such as +08:00 or Z).", field="start")
    facts = facts_for(session, user=user, kind=kind, start=start, end=end, by=by, shift_id=shift_id,
                      holiday_special_case=holiday_special_case)
    decision = rules.evaluate(facts, policy(session))
    if decision.violations:
        raise LeaveRuleViolated(decision.violations)
    leave = LeaveRequest(user_id=user.id, requested_by_id=by.id, kind=kind, start_at=start, end_at=end,
                         reason=reason.strip(), holiday_special_case=holiday_special_case, steps=decision.steps,
                         late=decision.late, conditions=[v.as_error() for v in decision.conditions],
                         certificate_due_on=decision.certificate_due_on)
    session.add(leave)
    session.flush()
    audit.record(session, action="leave.requested", actor_id=by.id, object_type="leave", object_id=leave.id,
                 details={"user_id": user.id, "kind": kind, "late": decision.late})
    publish(session, "leave.requested", {"leave_id": leave.id, "user_id": user.id}, site_id=user.site_id)
    return leave


def get(session: Session, *, leave_id: int, lock: bool = False) -> LeaveRequest:
    query = select(LeaveRequest).where(LeaveRequest.id == leave_id)
    leave = session.scalar(query.with_for_update() if lock else query)
    if leave is None:
        raise RequestNotFound("No such leave request.")
    return leave


def _check_approver(session: Session, leave: LeaveRequest, by: User) -> str:
    if leave.status != "pending":
        raise AlreadyDecided()
    step = leave.steps[leave.step_index]
    if by.id == leave.user_id:
        raise NotYourTurn("Nobody approves their own leave.")
    if permissions.rank(by.role) < permissions.rank(step):
        raise NotYourTurn(f"This step needs a {step.replace('_', ' ')} (or above); your role is {by.role}.")
    access.require_site(by, get_user(session, user_id=leave.user_id).site_id, "decide leave")
    return step


def approve(session: Session, *, leave_id: int, by: User, note: str = "") -> LeaveRequest:
    """Approve the current step; the last step approves the request."""
    leave = get(session, leave_id=leave_id, lock=True)
    step = _check_approver(session, leave, by)
    session.add(LeaveApproval(leave_id=leave.id, step=step, approver_id=by.id, decision="approved", note=note))
    leave.step_index += 1
    if leave.step_index >= len(leave.steps):
        leave.status, leave.decided_at = "approved", clock.now()
    session.flush()
    audit.record(session, action="leave.approved", actor_id=by.id, object_type="leave", object_id=leave.id,
                 details={"step": step, "final": leave.status == "approved"})
    publish(session, "leave.changed", {"leave_id": leave.id, "status": leave.status}, user_id=leave.user_id)
    return leave


def refuse(session: Session, *, leave_id: int, by: User, note: str = "") -> LeaveRequest:
    """Refuse at the current step. A late request refused counts as absence."""
    leave = get(session, leave_id=leave_id, lock=True)
    step = _check_approver(session, leave, by)
    session.add(LeaveApproval(leave_id=leave.id, step=step, approver_id=by.id, decision="refused", note=note))
    leave.status, leave.decided_at = "refused", clock.now()
    leave.counts_as_absence = leave.late
    session.flush()
    audit.record(session, action="leave.refused", actor_id=by.id, object_type="leave", object_id=leave.id,
                 details={"step": step, "absence": leave.counts_as_absence})
    publish(session, "leave.changed", {"leave_id": leave.id, "status": leave.status}, user_id=leave.user_id)
    return leave


def cancel(session: Session, *, leave_id: int, by: User) -> LeaveRequest:
    leave = get(session, leave_id=leave_id, lock=True)
    if by.id not in (leave.user_id, leave.requested_by_id):
        raise NotYourTurn("Only the person (or whoever reported it) can withdraw a leave request.")
    if leave.status != "pending":
        raise AlreadyDecided()
    leave.status, leave.decided_at = "cancelled", clock.now()
    session.flush()
    return leave


def record_certificate(session: Session, *, leave_id: int, by: User) -> LeaveRequest:
    """A leader of the person's site marks the medical certificate as handed in (audited)."""
    leave = get(session, leave_id=leave_id, lock=True)
    access.require_role(by, Role.team_leader, "record medical certificates")
    access.require_site(by, get_user(session, user_id=leave.user_id).site_id, "record medical certificates")
    if leave.certificate_due_on is None or leave.status in ("cancelled", "refused"):
        raise ValidationFailed("This leave needs no medical certificate.", field="leave_id")
    if leave.certificate_received_at is not None:
        raise AlreadyDecided("The medical certificate is already recorded as received.")
    leave.certificate_received_at = clock.now()
    session.flush()
    audit.record(session, action="leave.certificate_received", actor_id=by.id, object_type="leave",
                 object_id=leave.id, details={"user_id": leave.user_id,
                                              "due_on": leave.certificate_due_on.isoformat()})
    publish(session, "leave.changed", {"leave_id": leave.id, "status": leave.status}, user_id=leave.user_id)
    return leave


def certificates_due(session: Session, *, viewer: User) -> list[LeaveRequest]:
    """Sick leave whose medical certificate has not been handed in, for the leaders who collect
    them (their site's; every site's for a center head), the longest overdue first."""
    access.require_role(viewer, Role.team_leader, "see medical certificates")
    places = directory.user_places().subquery()
    query = (select(LeaveRequest).join(places, places.c.user_id == LeaveRequest.user_id)
             .where(LeaveRequest.kind == "sick", LeaveRequest.status.in_(LIVE),
                    LeaveRequest.certificate_due_on.is_not(None), LeaveRequest.certificate_received_at.is_(None))
             .order_by(LeaveRequest.certificate_due_on, LeaveRequest.id))
    if not access.at_least(viewer, Role.center_head):
        query = query.where(places.c.site_id == viewer.site_id)
    return list(session.scalars(query.limit(500)))


def certificate_overdue(leave: LeaveRequest, *, today: date) -> bool:
    """Past the first day back (the due day, in the site's calendar) with no certificate."""
    return (leave.certificate_due_on is not None and leave.certificate_received_at is None
            and leave.certificate_due_on < today)


def certificates_overdue(session: Session, *, site_id: int | None = None) -> list[LeaveRequest]:
    today = clock.now().date()
    query = select(LeaveRequest).where(LeaveRequest.kind == "sick", LeaveRequest.status.in_(LIVE),
                                       LeaveRequest.certificate_due_on.is_not(None),
                                       LeaveRequest.certificate_due_on < today,
                                       LeaveRequest.certificate_received_at.is_(None))
    if site_id is not None:
        places = directory.user_places().subquery()
        query = query.join(places, places.c.user_id == LeaveRequest.user_id).where(places.c.site_id == site_id)
    return list(session.scalars(query))


def list_requests(session: Session, *, viewer: User, user_id: int | None = None, status: str | None = None,
                  limit: int = 200) -> list[LeaveRequest]:
    """Agents see their own requests; leaders see their site's (center heads every site's)."""
    places = directory.user_places().subquery()
    query = (select(LeaveRequest).join(places, places.c.user_id == LeaveRequest.user_id)
             .order_by(LeaveRequest.start_at.desc()))
    if not access.at_least(viewer, Role.team_leader):
        query = query.where(LeaveRequest.user_id == viewer.id)
    elif not access.at_least(viewer, Role.center_head):
        query = query.where(places.c.site_id == viewer.site_id)
    if user_id is not None:
        query = query.where(LeaveRequest.user_id == user_id)
    if status is not None:
        query = query.where(LeaveRequest.status == status)
    return list(session.scalars(query.limit(min(limit, 1000))))
