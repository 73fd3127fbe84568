"""Named assignments of people to sites, made by an administrator: a site's managers (the seed's
store managers, who see that site's customers in full) and the sites or teams a QA inspector
covers (whose recordings they hear). An assignment names a person; it is not a role, so a
supervisor of a site is not its manager unless named."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.audit import record
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import Role, Site, StaffAssignment, Team, User

SITE_MANAGER = "site_manager"
QA_COVERAGE = "qa_coverage"
KINDS = (SITE_MANAGER, QA_COVERAGE)
# Who may be named a site's manager: the managers on the ladder who work at that site. Never an
# administrator (who configures, and would otherwise name themselves) or a QA inspector.
MANAGER_ROLES = frozenset({Role.team_leader.value, Role.supervisor.value, Role.center_head.value})


class AssignmentNotFound(NotFound):
    """No such assignment."""


class NotAssignable(ValidationFailed):
    """This person cannot be given this assignment."""

    code = "invalid"


class AlreadyAssigned(Conflict):
    """This person already has this assignment."""

    code = "already_assigned"


def working_site(session: Session, user: User) -> int | None:
    """Where the person works: their team's site, else their own site."""
    if user.team_id is not None:
        return session.scalar(select(Team.site_id).where(Team.id == user.team_id))
    return user.site_id


def _require_admin(by: User | None) -> None:
    if by is not None and by.role != Role.admin.value:
        raise PermissionDenied("Only an administrator names site managers and QA coverage.")


def _person(session: Session, user_id: int) -> User:
    person = session.get(User, user_id)
    if person is None or not person.is_active:
        raise NotAssignable("Choose an active person from the list.", field="user_id")
    return person


def _audit(session: Session, action: str, assignment: StaffAssignment, by: User | None,
           source_ip: str | None, **details: object) -> None:
    record(session, action=action, actor_id=by.id if by else None, actor_name=by.username if by else "system",
           object_type="site", object_id=assignment.site_id, source_ip=source_ip,
           details={"assignment_id": assignment.id, "kind": assignment.kind, "user_id": assignment.user_id,
                    "team_id": assignment.team_id, **details})


def _existing(session: Session, *, kind: str, user_id: int, site_id: int, team_id: int | None) -> bool:
    query = select(StaffAssignment.id).where(StaffAssignment.kind == kind, StaffAssignment.user_id == user_id,
                                             StaffAssignment.site_id == site_id)
    query = query.where(StaffAssignment.team_id.is_(None) if team_id is None else StaffAssignment.team_id == team_id)
    return session.scalar(query.limit(1)) is not None


def _add(session: Session, *, kind: str, user_id: int, site_id: int, team_id: int | None, by: User | None,
         source_ip: str | None) -> StaffAssignment:
    if _existing(session, kind=kind, user_id=user_id, site_id=site_id, team_id=team_id):
        raise AlreadyAssigned(field="user_id")
    assignment = StaffAssignment(kind=kind, user_id=user_id, site_id=site_id, team_id=team_id,
                                 assigned_by_id=by.id if by else None)
    session.add(assignment)
    session.flush()
    _audit(session, "site.assignment_added", assignment, by, source_ip)
    return assignment


def assign_site_manager(session: Session, *, site_id: int, user_id: int, by: User | None,
                        source_ip: str | None = None) -> StaffAssignment:
    """Name `user_id` a manager of `site_id`: a team leader, supervisor or center head who works
    at that site, named by an administrator who is not that person (`by=None`: the command line)."""
    _require_admin(by)
    if session.get(Site, site_id) is None:
        raise NotFound("No such site.")
    if by is not None and by.id == user_id:
        raise NotAssignable("Nobody names themselves a site manager; ask another administrator.", field="user_id")
    person = _person(session, user_id)
    if person.role not in MANAGER_ROLES:
        raise NotAssignable("A site manager is a team leader, supervisor or center head.", field="user_id")
    if working_site(session, person) != site_id:
        raise NotAssignable("A site manager works at the site: move the person to the site first.", field="user_id")
    return _add(session, kind=SITE_MANAGER, user_id=person.id, site_id=site_id, team_id=None, by=by,
                source_ip=source_ip)


def assign_qa_coverage(session: Session, *, site_id: int, user_id: int, by: User | None, team_id: int | None = None,
                       source_ip: str | None = None) -> StaffAssignment:
    """Let a QA inspector hear the recordings of a whole site, or of one of its teams."""
    _require_admin(by)
    if session.get(Site, site_id) is None:
        raise NotFound("No such site.")
    person = _person(session, user_id)
    if person.role != Role.qa_inspector.value:
        raise NotAssignable("QA coverage is for QA inspectors.", field="user_id")
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is None or team.site_id != site_id:
            raise NotAssignable("Choose one of the site's teams, or the whole site.", field="team_id")
    return _add(session, kind=QA_COVERAGE, user_id=person.id, site_id=site_id, team_id=team_id, by=by,
                source_ip=source_ip)


def remove(session: Session, *, assignment_id: int, by: User | None, site_id: int | None = None,
           source_ip: str | None = None) -> StaffAssignment:
    """End an assignment (of `site_id`, when given: a form of one site cannot remove another's)."""
    _require_admin(by)
    assignment = session.get(StaffAssignment, assignment_id)
    if assignment is None or (site_id is not None and assignment.site_id != site_id):
        raise AssignmentNotFound()
    _audit(session, "site.assignment_removed", assignment, by, source_ip)
    session.delete(assignment)
    session.flush()
    return assignment


def for_site(session: Session, *, site_id: int) -> list[StaffAssignment]:
    return list(session.scalars(select(StaffAssignment).where(StaffAssignment.site_id == site_id)
                                .order_by(StaffAssignment.kind, StaffAssignment.id)))


def is_site_manager(session: Session, *, user_id: int, site_id: int | None) -> bool:
    if site_id is None:
        return False
    return session.scalar(select(func.count()).select_from(StaffAssignment).where(
        StaffAssignment.kind == SITE_MANAGER, StaffAssignment.user_id == user_id,
        StaffAssignment.site_id == site_id)) != 0


def managed_site_ids(session: Session, *, user_id: int) -> frozenset[int]:
    return frozenset(session.scalars(select(StaffAssignment.site_id).where(
        StaffAssignment.kind == SITE_MANAGER, StaffAssignment.user_id == user_id)))


def qa_coverage(session: Session, *, user_id: int) -> tuple[frozenset[int], frozenset[int]]:
    """The sites (whole) and the teams a QA inspector is assigned to cover."""
    rows = session.execute(select(StaffAssignment.site_id, StaffAssignment.team_id).where(
        StaffAssignment.kind == QA_COVERAGE, StaffAssignment.user_id == user_id)).all()
    return (frozenset(r.site_id for r in rows if r.team_id is None),
            frozenset(r.team_id for r in rows if r.team_id is not None))


def drop_ineligible(session: Session, *, user: User, by: User | None, source_ip: str | None = None) -> int:
    """After a person moved or changed role: end the assignments they no longer qualify for (a
    manager of a site they left, coverage held by someone no longer an inspector). Audited."""
    site = working_site(session, user)
    stale = [a for a in session.scalars(select(StaffAssignment).where(StaffAssignment.user_id == user.id))
             if (a.kind == SITE_MANAGER and (user.role not in MANAGER_ROLES or a.site_id != site))
             or (a.kind == QA_COVERAGE and user.role != Role.qa_inspector.value)]
    for assignment in stale:
        _audit(session, "site.assignment_removed", assignment, by, source_ip, because="no_longer_eligible")
    if stale:
        session.execute(delete(StaffAssignment).where(StaffAssignment.id.in_([a.id for a in stale])))
        session.flush()
    return len(stale)
