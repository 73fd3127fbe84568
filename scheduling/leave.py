"""Leave requests: the rules checked on request (every broken rule listed), approval level by
level (each step by another person of at least its rank), refusal with its reason (a late
request refused counts as absence), and sick-leave certificates (an overdue one turns the leave
into absence until it arrives)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core import audit, clock, directory
from core.errors import ValidationFailed
from core.events import publish
from core.models import Role, User
from core.users import get as get_user
from scheduling import access, holidays
from scheduling import shifts as shift_service
from scheduling.errors import AlreadyDecided, LeaveRuleViolated, NotYourTurn, RequestNotFound, StepRefused
from scheduling.models import LeaveApproval, LeaveRequest, Shift
from scheduling.rules import leave as rules
from scheduling.settings import policy
from tickets import escalation

LIVE = ("pending", "approved")
CERTIFICATE_OVERDUE = "leave.certificate_overdue"


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
        person_role=str(user.role),
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


def _deciders(session: Session, leave_ids: list[int]) -> dict[int, set[int]]:
    """Who has approved a step of each of these requests."""
    found: dict[int, set[int]] = {leave_id: set() for leave_id in leave_ids}
    if leave_ids:
        for leave_id, approver_id in session.execute(select(LeaveApproval.leave_id, LeaveApproval.approver_id).where(
                LeaveApproval.leave_id.in_(leave_ids), LeaveApproval.decision == "approved")):
            found[leave_id].add(approver_id)
    return found


def _step_problems(leave: LeaveRequest, by: User, earlier: set[int]) -> list[rules.Violation]:
    return rules.approver_violations(person_id=leave.user_id, step=leave.steps[leave.step_index], approver_id=by.id,
                                     approver_role=by.role, earlier_approver_ids=sorted(earlier),
                                     later_steps=leave.steps[leave.step_index + 1:])


def _check_approver(session: Session, leave: LeaveRequest, by: User) -> str:
    if leave.status != "pending":
        raise AlreadyDecided()
    problems = _step_problems(leave, by, _deciders(session, [leave.id])[leave.id])
    if problems:
        raise StepRefused(problems)
    access.require_site(by, get_user(session, user_id=leave.user_id).site_id, "decide leave")
    return leave.steps[leave.step_index]


def waiting_for(session: Session, *, viewer: User, limit: int = 100) -> list[LeaveRequest]:
    """Pending requests of the viewer's site (every site's for a center head) whose current step
    the viewer may decide, the soonest first."""
    pending = [r for r in list_requests(session, viewer=viewer, status="pending", limit=limit)
               if r.user_id != viewer.id]
    earlier = _deciders(session, [r.id for r in pending])
    return sorted((r for r in pending if not _step_problems(r, viewer, earlier[r.id])), key=lambda r: r.start_at)


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


def refuse(session: Session, *, leave_id: int, by: User, reason: str = "other", note: str = "") -> LeaveRequest:
    """Refuse at the current step, saying why: one of `rules.REFUSAL_REASONS` (shown to the
    requester in their language) and a note, which "other" needs. A late request refused
    counts as absence."""
    if reason not in rules.REFUSAL_REASONS:
        raise ValidationFailed("Choose why the leave is refused.", field="reason",
                               params={"known": list(rules.REFUSAL_REASONS)})
    if reason == "other" and not note.strip():
        raise ValidationFailed("Say why the leave is refused.", field="note")
    leave = get(session, leave_id=leave_id, lock=True)
    step = _check_approver(session, leave, by)
    session.add(LeaveApproval(leave_id=leave.id, step=step, approver_id=by.id, decision="refused",
                              reason=f"leave.refused.{reason}", note=note.strip()))
    leave.status, leave.decided_at = "refused", clock.now()
    leave.counts_as_absence = leave.late
    leave.absence_rule = "leave.refused_late" if leave.late else None
    session.flush()
    audit.record(session, action="leave.refused", actor_id=by.id, object_type="leave", object_id=leave.id,
                 details={"step": step, "reason": reason, "absence": leave.counts_as_absence})
    publish(session, "leave.changed", {"leave_id": leave.id, "status": leave.status}, user_id=leave.user_id)
    return leave


def refusal_of(session: Session, *, leave_id: int) -> LeaveApproval | None:
    """The refusing decision of a refused request (its step, reason code and note)."""
    return session.scalar(select(LeaveApproval).where(LeaveApproval.leave_id == leave_id,
                                                      LeaveApproval.decision == "refused")
                          .order_by(LeaveApproval.id.desc()).limit(1))


def refusals_of(session: Session, leave_ids: list[int]) -> dict[int, LeaveApproval]:
    """`refusal_of` for many requests (a page's list), by leave id."""
    if not leave_ids:
        return {}
    rows = session.scalars(select(LeaveApproval).where(LeaveApproval.leave_id.in_(leave_ids),
                                                       LeaveApproval.decision == "refused")
                           .order_by(LeaveApproval.id))
    return {row.leave_id: row for row in rows}


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
    """A leader of the person's site marks the medical certificate as handed in (audited). A sick
    leave that counted as absence for want of it is leave again, and the person is told."""
    leave = get(session, leave_id=leave_id, lock=True)
    access.require_role(by, Role.team_leader, "record medical certificates")
    person = get_user(session, user_id=leave.user_id)
    access.require_site(by, person.site_id, "record medical certificates")
    if leave.certificate_due_on is None or leave.status in ("cancelled", "refused"):
        raise ValidationFailed("This leave needs no medical certificate.", field="leave_id")
    if leave.certificate_received_at is not None:
        raise AlreadyDecided("The medical certificate is already recorded as received.")
    leave.certificate_received_at = clock.now()
    withdrawn = leave.absence_rule == CERTIFICATE_OVERDUE
    if withdrawn:
        leave.counts_as_absence, leave.absence_rule = False, None
    session.flush()
    audit.record(session, action="leave.certificate_received", actor_id=by.id, object_type="leave",
                 object_id=leave.id, details={"user_id": leave.user_id, "absence_withdrawn": withdrawn,
                                              "due_on": leave.certificate_due_on.isoformat()})
    for kind in ("leave.certificate_due", CERTIFICATE_OVERDUE):
        escalation.settle(session, key_prefix=f"{kind}:{leave.id}:")
    if withdrawn:
        escalation.remind(session, user_ids=[person.id, *_leaders_of(session, person)], kind="leave.absence_withdrawn",
                          key=f"leave.absence_withdrawn:{leave.id}", params=_reminder_params(leave))
    publish(session, "leave.changed", {"leave_id": leave.id, "status": leave.status}, user_id=leave.user_id)
    return leave


def _leaders_of(session: Session, person: User) -> list[int]:
    """Who hears about a person's leave besides them: their team's leaders, else their site's
    supervisors."""
    leaders = directory.list_users(session, team_id=person.team_id, role=Role.team_leader) if person.team_id else []
    if not leaders and person.site_id is not None:
        leaders = directory.list_users(session, site_id=person.site_id, role=Role.supervisor)
    return [u.id for u in leaders if u.id != person.id]


def _reminder_params(leave: LeaveRequest) -> dict[str, object]:
    return {"leave_id": leave.id, "user_id": leave.user_id,
            "day": leave.certificate_due_on.isoformat() if leave.certificate_due_on else None}


def enforce_certificates(session: Session) -> int:
    """The sweep's work for medical certificates, on each person's site calendar: on the due day
    (the first day back) the person and their team leader are reminded; from the day after, the
    sick leave counts as absence (`absence_rule`), and both are told. Idempotent: a sweep may run
    any number of times. Returns how many leaves became absence."""
    now = clock.now()
    found = session.scalars(select(LeaveRequest).where(
        LeaveRequest.kind == "sick", LeaveRequest.status.in_(LIVE), LeaveRequest.certificate_due_on.is_not(None),
        LeaveRequest.certificate_received_at.is_(None),
        LeaveRequest.certificate_due_on <= (now + timedelta(days=1)).date(),
        or_(LeaveRequest.absence_rule.is_(None), LeaveRequest.absence_rule != CERTIFICATE_OVERDUE))
        .order_by(LeaveRequest.id).with_for_update()).all()
    changed = 0
    for leave in found:
        person = get_user(session, user_id=leave.user_id)
        today = now.astimezone(ZoneInfo(_zone(session, person))).date()
        audience = [person.id, *_leaders_of(session, person)]
        due = leave.certificate_due_on
        assert due is not None
        if due == today:
            escalation.remind(session, user_ids=audience, kind="leave.certificate_due",
                              key=f"leave.certificate_due:{leave.id}", params=_reminder_params(leave))
        elif due < today:
            leave.counts_as_absence, leave.absence_rule = True, CERTIFICATE_OVERDUE
            session.flush()
            audit.record(session, action="leave.absence", object_type="leave", object_id=leave.id,
                         details={"user_id": person.id, "rule": CERTIFICATE_OVERDUE, "due_on": due.isoformat()})
            escalation.remind(session, user_ids=audience, kind=CERTIFICATE_OVERDUE,
                              key=f"{CERTIFICATE_OVERDUE}:{leave.id}", params=_reminder_params(leave))
            publish(session, "leave.changed", {"leave_id": leave.id, "status": leave.status}, user_id=person.id)
            changed += 1
    return changed


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
