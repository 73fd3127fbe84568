"""People (`/admin/people`): the list by site, team, role and state, a new account (its first
password typed by the administrator, never shown or logged again), and one person's role, place,
skills, lock, activity and password. `core.users` checks and audits every change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from agent_ui.i18n import N_
from agent_ui.navigation import ROLE_LABELS
from agent_ui.pages import admin_common as common
from core import clock, users
from core.auth import AdminUser, ClientIP, DbSession
from core.directory import find_users
from core.errors import DomainError
from core.models import LOCALES, Role
from core.organisation import list_sites, list_skills, list_teams

router = APIRouter()

STATES = {"active": N_("Active"), "inactive": N_("Deactivated"), "all": N_("Everyone")}
LEVELS = (1, 2, 3, 4, 5)
LOCALE_NAMES = {"en": "English", "zh_Hans": "简体中文"}
# The fields of the forms, by the services' names of them.
FIELDS: common.Fields = {name: name for name in ("username", "role", "locale", "team_id", "site_id", "level",
                                                 "password", "skill")}
LEVEL_RULE = N_("A skill level is from 1 to 5.")


def _refusals(exc: DomainError, *, fallback_field: str = "") -> common.Errors:
    return common.explain(exc, FIELDS, fallback_field=fallback_field)


def _choices(session: DbSession) -> dict[str, Any]:
    return {"sites": list_sites(session), "teams": list_teams(session),
            "roles": [(r.value, ROLE_LABELS[r]) for r in Role],
            "role_names": {r.value: ROLE_LABELS[r] for r in Role},
            "locales": [(code, LOCALE_NAMES.get(code, code)) for code in LOCALES], "levels": LEVELS}


# The list ---------------------------------------------------------------------------------

@router.get("/admin/people", include_in_schema=False)
def people_page(request: Request, session: DbSession, user: AdminUser, site: str = "", team: str = "",
                role: str = "", state: str = "active") -> Response:
    filters: dict[str, Any] = {"site": common.optional_id(site), "team": common.optional_id(team),
                               "role": role if role in {r.value for r in Role} else "",
                               "state": state if state in STATES else "active"}
    active = {"active": True, "inactive": False, "all": None}[filters["state"]]
    people = find_users(session, site_id=filters["site"], team_id=filters["team"], role=filters["role"] or None,
                        active=active)
    context = {"people": people, "filters": filters, "states": STATES, "now": clock.now(), **_choices(session)}
    return common.page(request, "admin/people.html", context)


# A new account ----------------------------------------------------------------------------

def _new_page(request: Request, session: DbSession, *, status_code: int = 200, errors: common.Errors | None = None,
              typed: dict[str, str] | None = None) -> Response:
    context = {"errors": errors or {}, "typed": typed or {}, **_choices(session)}
    return common.page(request, "admin/new_person.html", context, status_code=status_code, push_url="/admin/people/new")


@router.get("/admin/people/new", include_in_schema=False)
def new_person_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _new_page(request, session)


@router.post("/admin/people", include_in_schema=False)
def create_person(request: Request, session: DbSession, user: AdminUser, ip: ClientIP,
                  username: Annotated[str, Form()] = "", display_name: Annotated[str, Form()] = "",
                  role: Annotated[str, Form()] = "", site_id: Annotated[str, Form()] = "",
                  team_id: Annotated[str, Form()] = "", locale: Annotated[str, Form()] = "",
                  password: Annotated[str, Form()] = "") -> Response:
    # What was typed comes back on a refusal, except the password: it is never echoed or kept.
    typed = {"username": username[:80], "display_name": display_name[:200], "role": role[:32],
             "site_id": site_id[:20], "team_id": team_id[:20], "locale": locale[:16]}
    try:
        person = users.create_user(session, username=username, password=password, role=role or "",
                                   display_name=display_name[:200], locale=locale or None, by=user, source_ip=ip)
        site, team = common.optional_id(site_id), common.optional_id(team_id)
        if site is not None or team is not None:
            users.move(session, user_id=person.id, site_id=site, team_id=team, by=user, source_ip=ip)
    except DomainError as exc:
        session.rollback()
        return _new_page(request, session, status_code=common.status_for(exc), errors=_refusals(exc), typed=typed)
    return common.done(f"/admin/people/{person.id}", "user_created")


# One person -------------------------------------------------------------------------------

def _person_page(request: Request, session: DbSession, user_id: int, *, status_code: int = 200,
                 errors: common.Errors | None = None, typed: dict[str, str] | None = None) -> Response:
    person = users.get(session, user_id=user_id)
    held = {link.skill.code for link in person.skills}
    context = {"person": person, "now": clock.now(), "errors": errors or {}, "typed": typed or {},
               "skills": sorted(person.skills, key=lambda link: link.skill.code),
               "addable_skills": [s for s in list_skills(session) if s.code not in held], **_choices(session)}
    return common.page(request, "admin/person.html", context, status_code=status_code,
                       push_url=f"/admin/people/{user_id}")


@router.get("/admin/people/{user_id}", include_in_schema=False)
def person_page(request: Request, session: DbSession, user: AdminUser, user_id: int) -> Response:
    return _person_page(request, session, user_id)


def _refused(request: Request, session: DbSession, user_id: int, exc: DomainError, fallback_field: str,
             typed: dict[str, str] | None = None) -> Response:
    session.rollback()
    return _person_page(request, session, user_id, status_code=common.status_for(exc),
                        errors=_refusals(exc, fallback_field=fallback_field), typed=typed)


@router.post("/admin/people/{user_id}/role", include_in_schema=False)
def change_role(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, user_id: int,
                role: Annotated[str, Form()] = "") -> Response:
    try:
        users.change_role(session, user_id=user_id, role=role, by=user, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user_id, exc, "role", {"role": role[:32]})
    return common.done(f"/admin/people/{user_id}", "role_changed")


@router.post("/admin/people/{user_id}/place", include_in_schema=False)
def move(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, user_id: int,
         site_id: Annotated[str, Form()] = "", team_id: Annotated[str, Form()] = "") -> Response:
    try:
        users.move(session, user_id=user_id, site_id=common.optional_id(site_id),
                   team_id=common.optional_id(team_id), by=user, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user_id, exc, "team_id", {"site_id": site_id[:20], "team_id": team_id[:20]})
    return common.done(f"/admin/people/{user_id}", "moved")


@router.post("/admin/people/{user_id}/skills", include_in_schema=False)
def set_skill(request: Request, session: DbSession, user: AdminUser, user_id: int,
              skill: Annotated[str, Form()] = "", level: Annotated[str, Form()] = "",
              row: Annotated[str, Form()] = "") -> Response:
    """Add a skill (`skill` and `level` chosen), or change a held one's level (`row` set: the
    error then goes beside that row's level)."""
    level_field = f"level-{skill[:40]}" if row else "level"
    try:
        if not level.strip().isdigit():
            raise common.Refused(common.refuse(level_field, LEVEL_RULE))
        users.set_skill(session, user_id=user_id, skill_code=skill, level=int(level), by=user)
    except common.Refused as refused:
        return _person_page(request, session, user_id, status_code=422, errors=refused.errors,
                            typed={"skill": skill[:40]})
    except DomainError as exc:
        session.rollback()
        errors = {level_field if name == "level" else name: error
                  for name, error in _refusals(exc, fallback_field="skill").items()}
        return _person_page(request, session, user_id, status_code=common.status_for(exc), errors=errors,
                            typed={"skill": skill[:40]})
    return common.done(f"/admin/people/{user_id}", "skill_set")


@router.post("/admin/people/{user_id}/skills/remove", include_in_schema=False)
def remove_skill(session: DbSession, user: AdminUser, user_id: int, skill: Annotated[str, Form()] = "") -> Response:
    users.remove_skill(session, user_id=user_id, skill_code=skill, by=user)
    return common.done(f"/admin/people/{user_id}", "skill_removed")


@router.post("/admin/people/{user_id}/unlock", include_in_schema=False)
def unlock(session: DbSession, user: AdminUser, ip: ClientIP, user_id: int) -> Response:
    users.unlock(session, user_id=user_id, by=user, source_ip=ip)
    return common.done(f"/admin/people/{user_id}", "unlocked")


@router.post("/admin/people/{user_id}/active", include_in_schema=False)
def set_active(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, user_id: int,
               active: Annotated[str, Form()] = "") -> Response:
    try:
        users.set_active(session, user_id=user_id, active=active == "1", by=user, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user_id, exc, "account")
    return common.done(f"/admin/people/{user_id}", "activated" if active == "1" else "deactivated")


@router.post("/admin/people/{user_id}/password", include_in_schema=False)
def set_password(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, user_id: int,
                 password: Annotated[str, Form()] = "") -> Response:
    try:
        users.set_password(session, user_id=user_id, password=password, by=user, source_ip=ip)
    except DomainError as exc:
        return _refused(request, session, user_id, exc, "password")
    return common.done(f"/admin/people/{user_id}", "password_set")

