"""Who works where, for the other packages: lists of people, a person's site and team, and
selectables that other packages compose into their own statements (a locking pick, a count,
a report), so that no package outside `core` reads the people tables itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.models import Role, Skill, Team, User, UserSkill
from core.users import parse_role


def list_users(session: Session, *, site_id: int | None = None, team_id: int | None = None,
               role: Role | str | None = None, active_only: bool = True) -> list[User]:
    query = select(User).order_by(User.display_name, User.id)
    if site_id is not None:
        query = query.where(User.site_id == site_id)
    if team_id is not None:
        query = query.where(User.team_id == team_id)
    if role is not None:
        query = query.where(User.role == parse_role(role).value)
    if active_only:
        query = query.where(User.is_active.is_(True))
    return list(session.scalars(query))


class Place(NamedTuple):
    site_id: int | None
    team_id: int | None


def place_of(session: Session, *, user_id: int) -> Place:
    """The user's site and team as stored on the user (NoResultFound for no such user)."""
    row = session.execute(select(User.site_id, User.team_id).where(User.id == user_id)).one()
    return Place(row.site_id, row.team_id)


def working_place_of(session: Session, *, user_id: int) -> Place:
    """Where the user works: their team's site (else their own) and team; empty for no such user."""
    row = session.execute(select(func.coalesce(Team.site_id, User.site_id).label("site_id"), User.team_id)
                          .select_from(User).outerjoin(Team, Team.id == User.team_id)
                          .where(User.id == user_id)).first()
    return Place(row.site_id, row.team_id) if row is not None else Place(None, None)


# Selectables other packages compose into their own statements (a locking pick, a count), so
# that they need not read these tables. Arguments may be values or bind parameters.

def skilled_users(*, skill_code: Any, min_level: Any = None) -> Select[int, int]:
    """(user_id, level) of everyone with the skill, at `min_level` or above when given."""
    query = (select(UserSkill.user_id.label("user_id"), UserSkill.level.label("level"))
             .join(Skill, Skill.id == UserSkill.skill_id).where(Skill.code == skill_code))
    return query.where(UserSkill.level >= min_level) if min_level is not None else query


def user_places() -> Select[int, int | None, int | None]:
    """(user_id, site_id, team_id) of every user, as stored on the user."""
    return select(User.id.label("user_id"), User.site_id.label("site_id"), User.team_id.label("team_id"))


class StaffName(NamedTuple):
    display_name: str
    site_id: int | None


def staff_names(session: Session, user_ids: set[int] | list[int]) -> dict[int, StaffName]:
    """Display names and sites of staff (names of colleagues, not customer data), by user id."""
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.site_id).where(User.id.in_(list(user_ids))))
    return {row.id: StaffName(row.display_name, row.site_id) for row in rows}


def find_users(session: Session, *, site_id: int | None = None, team_id: int | None = None,
               role: Role | str | None = None, active: bool | None = None, limit: int = 500) -> list[User]:
    """People for the administration list: like `list_users`, but `active=False` finds only the
    deactivated accounts and `active=None` everyone; at most `limit`, by name."""
    query = select(User).order_by(User.display_name, User.id).limit(max(1, limit))
    if site_id is not None:
        query = query.where(User.site_id == site_id)
    if team_id is not None:
        query = query.where(User.team_id == team_id)
    if role is not None:
        query = query.where(User.role == parse_role(role).value)
    if active is not None:
        query = query.where(User.is_active.is_(active))
    return list(session.scalars(query))


# For qa (and any package that plans or reports per team): teams, people by id, and the staff
# and team selectables its set-based queries compose, so it never reads these tables itself.

def get_team(session: Session, *, team_id: int) -> Team | None:
    """The team (its `site` gives the time zone), or None when there is no such team."""
    return session.get(Team, team_id)


def users_by_id(session: Session, user_ids: set[int] | list[int]) -> dict[int, User]:
    """The users with these ids, active or not, by id; unknown ids are simply absent."""
    if not user_ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(user_ids))))}


def places_of(session: Session, user_ids: set[int] | list[int]) -> dict[int, Place]:
    """The stored site and team of each of these users, by id (`place_of` for many)."""
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.site_id, User.team_id).where(User.id.in_(list(user_ids))))
    return {row.id: Place(row.site_id, row.team_id) for row in rows}


def staff() -> Select[int, str, str, int | None, int | None, bool, datetime]:
    """(user_id, display_name, role, site_id, team_id, is_active, joined_at) of every user, as
    stored; `joined_at` is when the account was made (QA samples new agents more)."""
    return select(User.id.label("user_id"), User.display_name.label("display_name"), User.role.label("role"),
                  User.site_id.label("site_id"), User.team_id.label("team_id"), User.is_active.label("is_active"),
                  User.created_at.label("joined_at"))


def team_places() -> Select[int, int]:
    """(team_id, site_id) of every team."""
    return select(Team.id.label("team_id"), Team.site_id.label("site_id"))


def skill_levels(session: Session, *, user_id: int) -> dict[int, int]:
    """The user's skills as {skill id: level} (scheduling's rules compare levels by skill id)."""
    rows = session.execute(select(UserSkill.skill_id, UserSkill.level).where(UserSkill.user_id == user_id))
    return {row.skill_id: row.level for row in rows}


def find_user(session: Session, user_id: int) -> User | None:
    """The user, or None when there is no such user (for callers that treat absence as 'no longer')."""
    return session.get(User, user_id)
