"""Who may see and work which tickets: agents their own and their team's, team leaders their team
and site, supervisors their site, the center head and admins all. Checked in the services."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from core import directory, listening, permissions, users
from core.errors import NotFound, PermissionDenied
from core.models import Role, User
from tickets.models.tickets import Ticket


class TicketNotFound(NotFound):
    """No such ticket, or it is not one you may see."""

    default_field = "ticket_number"


def visibility(user: User) -> ColumnElement[bool] | None:
    """A filter on tickets for what `user` may see; None when they see every ticket."""
    role = user.role
    if role in (Role.center_head.value, Role.admin.value):
        return None
    if role in (Role.supervisor.value, Role.qa_inspector.value):
        return None if user.site_id is None else Ticket.site_id == user.site_id
    mine = or_(Ticket.assignee_id == user.id, Ticket.created_by_id == user.id)
    if role == Role.team_leader.value:
        clauses = [mine]
        if user.site_id is not None:
            clauses.append(Ticket.site_id == user.site_id)
        if user.team_id is not None:
            clauses.append(Ticket.team_id == user.team_id)
        return or_(*clauses)
    if role == Role.agent.value:
        return mine if user.team_id is None else or_(mine, Ticket.team_id == user.team_id)
    return false()


def can_see(user: User, ticket: Ticket) -> bool:
    role = user.role
    if role in (Role.center_head.value, Role.admin.value):
        return True
    if role in (Role.supervisor.value, Role.qa_inspector.value):
        return user.site_id is None or ticket.site_id == user.site_id
    if user.id in (ticket.assignee_id, ticket.created_by_id):
        return True
    on_team = user.team_id is not None and ticket.team_id == user.team_id
    if on_team and role in (Role.agent.value, Role.team_leader.value):
        return True
    return role == Role.team_leader.value and user.site_id is not None and ticket.site_id == user.site_id


def staff_member(session: Session, user_id: int) -> User | None:
    """A user by id through `core.users` (None for no such user): tickets never read people tables."""
    try:
        return users.get(session, user_id=user_id)
    except users.UserNotFound:
        return None


def staff_place(session: Session, user_id: int) -> directory.Place | None:
    """A user's site and team by id through `core.directory` (None for no such user): one narrow
    read, for a system step that needs only where they work, not the person with their skills."""
    try:
        return directory.place_of(session, user_id=user_id)
    except NoResultFound:
        return None


def require_worker(user: User) -> None:
    """Only people on the escalation ladder work tickets; QA inspectors read them."""
    if not permissions.allowed(user.role, permissions.AGENTS):
        raise PermissionDenied("Your role can read tickets but not change them.", params={"role": user.role})


def is_leader(user: User | None) -> bool:
    return user is None or permissions.allowed(user.role, permissions.TEAM_LEADERS)


def handed_voicemail(session: Session, user: User, recorded: listening.Recorded) -> bool:
    """`core.listening`'s check for a voicemail (no agent took the call): the person its ticket is
    assigned to hears it, to call back (wired by the composition root)."""
    if recorded.agent_id is not None or recorded.ticket_id is None:
        return False
    ticket = session.get(Ticket, recorded.ticket_id)
    return ticket is not None and ticket.assignee_id == user.id


def get_visible(session: Session, *, ticket_id: int, user: User | None) -> Ticket:
    """The ticket if it exists and `user` may see it (None: the system itself); TicketNotFound otherwise,
    so a ticket of another team is indistinguishable from a missing one."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or (user is not None and not can_see(user, ticket)):
        raise TicketNotFound()
    return ticket
