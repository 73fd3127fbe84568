"""Shift templates and shifts: local start times turned into UTC, and assigning or removing a
person's shift by hand with every rule re-checked."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, clock, directory
from core.errors import ValidationFailed
from core.models import Role, User
from core.organisation import get_site, list_skills
from core.users import get as get_user
from scheduling import access
from scheduling.errors import ShiftNotFound, ShiftRuleViolated
from scheduling.models import LeaveRequest, Shift, ShiftTemplate
from scheduling.rules import Violation, violation
from scheduling.rules.shifts import ShiftFacts, assignment_violations
from scheduling.settings import policy

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
KINDS = ("day", "night", "custom")


def site_zone(session: Session, site_id: int) -> ZoneInfo:
    return ZoneInfo(get_site(session, site_id=site_id).timezone)


def local_start(day: date, start_minute: int, zone: ZoneInfo) -> datetime:
    """The UTC moment of a local wall-clock time. A time inside a spring-forward gap does not exist
    and is read with the offset before the change, i.e. it lands an hour later on the wall clock."""
    local = datetime.combine(day, time(start_minute // 60, start_minute % 60), tzinfo=zone)
    return local.astimezone(UTC)


def shift_window(day: date, start_minute: int, length_minutes: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    # Length is real working time, so the end is start + length in UTC, not a wall-clock time.
    start = local_start(day, start_minute, zone)
    return start, start + timedelta(minutes=length_minutes)


def parse_hhmm(value: str, field: str = "start") -> int:
    match = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValidationFailed("Give the start as a time of day, like 08:00.", field=field, params={"value": value})
    return int(match.group(1)) * 60 + int(match.group(2))


# Templates -----------------------------------------------------------------------------------

def _template_fields(session: Session, *, kind: str, length_minutes: int,
                    skill_code: str | None) -> int | None:
    """Checks what a template is made of; the skill's id (None: any skill)."""
    if kind not in KINDS:
        raise ValidationFailed("Choose a kind of shift from the list.", field="kind", params={"known": list(KINDS)})
    if not 0 < length_minutes <= 24 * 60:
        raise ValidationFailed("A shift lasts more than 0 and at most 24 hours, like 8 or 7.5.", field="length_minutes")
    if not skill_code:
        return None
    skill_id = skill_ids(session).get(skill_code)
    if skill_id is None:
        raise ValidationFailed("Choose a skill from the list.", field="skill_code", params={"skill": skill_code})
    return skill_id


def create_template(session: Session, *, site_id: int, name: str, start: str, length_minutes: int,
                    kind: str = "day", skill_code: str | None = None, job_type: str = "hotline_agent",
                    by: User | None = None) -> ShiftTemplate:
    get_site(session, site_id=site_id)
    if by is not None:
        access.require_site(by, site_id, "define shifts")
    skill_id = _template_fields(session, kind=kind, length_minutes=length_minutes, skill_code=skill_code)
    template = ShiftTemplate(site_id=site_id, name=name.strip()[:100] or kind.title(), kind=kind,
                             start_minute=parse_hhmm(start), length_minutes=length_minutes, skill_id=skill_id,
                             job_type=job_type)
    session.add(template)
    session.flush()
    return template


def update_template(session: Session, *, template_id: int, name: str, start: str, length_minutes: int,
                    kind: str, skill_code: str | None, by: User) -> ShiftTemplate:
    """Change a template for the shifts assigned from now on; shifts already given keep the times
    they were given (a shift holds its own start and end)."""
    template = get_template(session, template_id=template_id)
    access.require_role(by, Role.team_leader, "define shifts")
    access.require_site(by, template.site_id, "define shifts")
    skill_id = _template_fields(session, kind=kind, length_minutes=length_minutes, skill_code=skill_code)
    before = {"name": template.name, "kind": template.kind, "start_minute": template.start_minute,
              "length_minutes": template.length_minutes, "skill_id": template.skill_id}
    template.name = name.strip()[:100] or kind.title()
    template.kind, template.start_minute, template.length_minutes = kind, parse_hhmm(start), length_minutes
    template.skill_id = skill_id
    session.flush()
    after = {key: getattr(template, key) for key in before}
    if after != before:
        audit.record(session, action="shift_template.updated", actor_id=by.id, object_type="shift_template",
                     object_id=template.id, details={"before": before, "after": after})
    return template


def set_template_active(session: Session, *, template_id: int, active: bool, by: User) -> ShiftTemplate:
    """Take a template out of use (it is offered for no new shift, and the solver no longer uses
    it; shifts already given keep it) or back into use."""
    template = get_template(session, template_id=template_id)
    access.require_role(by, Role.team_leader, "define shifts")
    access.require_site(by, template.site_id, "define shifts")
    if template.active != active:
        template.active = active
        session.flush()
        audit.record(session, action="shift_template.activated" if active else "shift_template.deactivated",
                     actor_id=by.id, object_type="shift_template", object_id=template.id,
                     details={"name": template.name})
    return template


def list_templates(session: Session, *, site_id: int, include_inactive: bool = False) -> list[ShiftTemplate]:
    """The site's templates in use, earliest start first (with those out of use, after them)."""
    query = select(ShiftTemplate).where(ShiftTemplate.site_id == site_id)
    if not include_inactive:
        query = query.where(ShiftTemplate.active.is_(True))
    return list(session.scalars(query.order_by(ShiftTemplate.active.desc(), ShiftTemplate.start_minute,
                                               ShiftTemplate.id)))


def get_template(session: Session, *, template_id: int) -> ShiftTemplate:
    template = session.get(ShiftTemplate, template_id)
    if template is None:
        raise ShiftNotFound("No such shift template.")
    return template


# Shifts ----------------------------------------------------------------------------------------

def get(session: Session, *, shift_id: int, lock: bool = False) -> Shift:
    query = select(Shift).where(Shift.id == shift_id)
    if lock:
        query = query.with_for_update()
    shift = session.scalar(query)
    if shift is None:
        raise ShiftNotFound()
    return shift


def facts(shift: Shift, *, user_id: int | None = None) -> ShiftFacts:
    return ShiftFacts(shift.id, user_id if user_id is not None else shift.user_id, shift.start_at, shift.end_at,
                      shift.day)


def shifts_of(session: Session, *, user_id: int, start: datetime, end: datetime) -> list[Shift]:
    """The person's shifts that overlap [start, end), earliest first."""
    return list(session.scalars(select(Shift).where(Shift.user_id == user_id, Shift.start_at < end,
                                                    Shift.end_at > start).order_by(Shift.start_at)))


def shifts_at_site(session: Session, *, site_id: int, first_day: date, last_day: date) -> list[Shift]:
    return list(session.scalars(select(Shift).where(Shift.site_id == site_id, Shift.day >= first_day,
                                                    Shift.day <= last_day).order_by(Shift.start_at, Shift.user_id)))


def neighbours(session: Session, *, user_id: int, start: datetime, end: datetime) -> list[ShiftFacts]:
    """The person's shifts near a window: enough to check rest and the two ISO weeks it touches."""
    return [facts(s) for s in shifts_of(session, user_id=user_id, start=start - timedelta(days=8),
                                        end=end + timedelta(days=8))]


def skill_levels(session: Session, *, user_id: int) -> dict[int, int]:
    return directory.skill_levels(session, user_id=user_id)


def skill_ids(session: Session) -> dict[str, int]:
    """Every skill's id by its code (core.organisation's list)."""
    return {skill.code: skill.id for skill in list_skills(session)}


def skill_code(session: Session, skill_id: int | None) -> str | None:
    return next((code for code, known in skill_ids(session).items() if known == skill_id), None)


def has_approved_leave(session: Session, *, user_id: int, start: datetime, end: datetime) -> bool:
    return session.scalar(select(LeaveRequest.id).where(
        LeaveRequest.user_id == user_id, LeaveRequest.status == "approved",
        LeaveRequest.start_at < end, LeaveRequest.end_at > start).limit(1)) is not None


def assignment_problems(session: Session, *, user: User, start: datetime, end: datetime, day: date,
                        skill_id: int | None, job_type: str, shift_id: int | None = None) -> list[Violation]:
    """Every rule broken by `user` working [start, end): timing rules against their other shifts,
    skill, job type, leave, and whether the shift has begun."""
    rules = policy(session)
    found: list[Violation] = []
    if start <= clock.now():
        found.append(violation("shift.in_past"))
    candidate = ShiftFacts(shift_id, user.id, start, end, day)
    found += assignment_violations(neighbours(session, user_id=user.id, start=start, end=end), candidate, rules)
    if skill_id is not None and skill_id not in skill_levels(session, user_id=user.id):
        found.append(violation("shift.skill", skill=skill_code(session, skill_id) or skill_id))
    if job_type and user.job_type != job_type:
        found.append(violation("shift.job_type", shift_job_type=job_type, person_job_type=user.job_type))
    if has_approved_leave(session, user_id=user.id, start=start, end=end):
        found.append(violation("shift.on_leave"))
    return found


def assign(session: Session, *, user_id: int, day: date, template_id: int, by: User,
           roster_id: int | None = None) -> Shift:
    """Give a person a shift of a template on a local day, refusing with every broken rule."""
    access.require_role(by, Role.team_leader, "assign shifts")
    template = get_template(session, template_id=template_id)
    access.require_site(by, template.site_id, "assign shifts")
    if not template.active:
        raise ValidationFailed("That shift template is no longer in use; choose another.", field="template_id")
    user = get_user(session, user_id=user_id)
    start, end = shift_window(day, template.start_minute, template.length_minutes, site_zone(session, template.site_id))
    problems = assignment_problems(session, user=user, start=start, end=end, day=day, skill_id=template.skill_id,
                                   job_type=template.job_type)
    if problems:
        raise ShiftRuleViolated(problems)
    shift = Shift(roster_id=roster_id, template_id=template.id, site_id=template.site_id, user_id=user.id, day=day,
                  kind=template.kind, start_at=start, end_at=end, skill_id=template.skill_id,
                  job_type=template.job_type, source="manual")
    session.add(shift)
    session.flush()
    audit.record(session, action="shift.assigned", actor_id=by.id, object_type="shift", object_id=shift.id,
                 details={"user_id": user.id, "day": day.isoformat(), "template_id": template.id})
    return shift


def unassign(session: Session, *, shift_id: int, by: User) -> None:
    shift = get(session, shift_id=shift_id, lock=True)
    access.require_role(by, Role.team_leader, "remove shifts")
    access.require_site(by, shift.site_id, "remove shifts")
    if shift.start_at <= clock.now():
        raise ShiftRuleViolated([violation("shift.in_past")])
    audit.record(session, action="shift.unassigned", actor_id=by.id, object_type="shift", object_id=shift.id,
                 details={"user_id": shift.user_id, "day": shift.day.isoformat()})
    session.delete(shift)
    session.flush()


def site_of(session: Session, site_id: int) -> Any:
    """The site (core.organisation's): its time zone places shifts on the wall clock."""
    return get_site(session, site_id=site_id)
