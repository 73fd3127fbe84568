"""Shift templates (`/shifts/templates`): the kinds of shift a site works (day, night, others:
a local start time and a length, maybe a skill), which rosters and the solver assign. Before
this page only the API made them, so a roster had nothing to offer. Team leaders define their
own site's; the center head and administrators choose the site."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from agent_ui.i18n import N_
from agent_ui.pages import admin_common
from agent_ui.pages import scheduling as common
from agent_ui.templating import is_htmx, render
from core.auth import DbSession, TeamLeaderUser
from core.errors import DomainError
from core.models import Role, User
from core.organisation import list_sites, list_skills
from scheduling import access
from scheduling import shifts as shift_service

router = APIRouter()

PAGE = "scheduling/templates.html"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_HOURS = re.compile(r"^\d{1,2}([.,]\d{1,2})?$")
NAME_RULE = N_("Give the shift a name, like Early or Night.")
START_RULE = N_("Give the start as a time of day, like 08:00.")
LENGTH_RULE = N_("A shift lasts more than 0 and at most 24 hours, like 8 or 7.5.")
FIELDS: admin_common.Fields = {"kind": "kind", "length_minutes": "length", "start": "start", "skill_code": "skill",
                               "name": "name"}


def _site_id(request: Request, user: User) -> int | None:
    """The leader's own site; the center head and administrators choose one (`?site=`)."""
    asked = request.query_params.get("site", "")
    if access.at_least(user, Role.center_head) and asked.isdigit():
        return int(asked)
    return user.site_id


def _page(request: Request, session: DbSession, user: User, site_id: int | None, *, status_code: int = 200,
          errors: admin_common.Errors | None = None, typed: dict[str, str] | None = None,
          note_now: str | None = None, editing: int | None = None) -> Response:
    """The page; `editing` names the template whose edit form `errors` and `typed` belong to
    (None: the new-template form's)."""
    sites = list_sites(session)
    if site_id is None and access.at_least(user, Role.center_head) and sites:
        site_id = sites[0].id
    templates = (shift_service.list_templates(session, site_id=site_id, include_inactive=True)
                 if site_id is not None else [])
    skills = list_skills(session)
    context: dict[str, Any] = {
        "templates": templates, "skills": skills, "skill_codes": {s.id: s.code for s in skills},
        "sites": sites if access.at_least(user, Role.center_head) else [], "site_id": site_id,
        "shift_kinds": common.SHIFT_KINDS, "errors": errors or {}, "typed": typed or {},
        "note": note_now or common.take_flash(request), "editing": editing,
    }
    response = render(request, PAGE, context, status_code=status_code,
                      block="templates_main" if is_htmx(request) else None)
    return common.finish(request, response)


@router.get("/shifts/templates", include_in_schema=False)
def templates_page(request: Request, session: DbSession, user: TeamLeaderUser) -> Response:
    return _page(request, session, user, _site_id(request, user))


def _minutes(hours: str) -> int | None:
    text = hours.strip().replace(",", ".")
    if not _HOURS.match(text):
        return None
    minutes = round(float(text) * 60)
    return minutes if 0 < minutes <= 24 * 60 else None


def _site(user: User, site_id: str) -> int | None:
    return int(site_id) if site_id.isdigit() and access.at_least(user, Role.center_head) else user.site_id


def _checked(name: str, start: str, length: str) -> tuple[int | None, admin_common.Errors]:
    """The length in minutes, and what the page itself refuses of the typed fields."""
    errors: admin_common.Errors = {}
    if not name.strip():
        errors |= admin_common.refuse("name", NAME_RULE)
    if not _HHMM.match(start.strip()):
        errors |= admin_common.refuse("start", START_RULE)
    minutes = _minutes(length)
    if minutes is None:
        errors |= admin_common.refuse("length", LENGTH_RULE)
    return minutes, errors


def _typed(name: str, kind: str, start: str, length: str, skill: str) -> dict[str, str]:
    return {"name": name[:100], "kind": kind[:16], "start": start[:5], "length": length[:6], "skill": skill[:40]}


def _saved(request: Request, session: DbSession, user: User, site: int | None, key: str) -> Response:
    if is_htmx(request):
        return _page(request, session, user, site, note_now=common.DONE[key])
    return common.done(request, "/shifts/templates" + (f"?site={site}" if site != user.site_id else ""), key)


@router.post("/shifts/templates", include_in_schema=False)
def create_template(request: Request, session: DbSession, user: TeamLeaderUser,
                    name: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "day",
                    start: Annotated[str, Form()] = "", length: Annotated[str, Form()] = "",
                    skill: Annotated[str, Form()] = "", site_id: Annotated[str, Form()] = "") -> Response:
    typed = _typed(name, kind, start, length, skill)
    site = _site(user, site_id)
    minutes, errors = _checked(name, start, length)
    if site is None:
        errors |= admin_common.refuse("", N_("Your account has no site: ask an administrator to place you at one."))
    if errors or minutes is None or site is None:
        return _page(request, session, user, site, status_code=422, errors=errors, typed=typed)
    try:
        shift_service.create_template(session, site_id=site, name=name[:100], start=start.strip(),
                                      length_minutes=minutes, kind=kind, skill_code=skill or None, by=user)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, user, site, status_code=admin_common.status_for(exc),
                     errors=admin_common.explain(exc, FIELDS), typed=typed)
    return _saved(request, session, user, site, "template")


@router.post("/shifts/templates/{template_id}", include_in_schema=False)
def update_template(request: Request, session: DbSession, user: TeamLeaderUser, template_id: int,
                    name: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "day",
                    start: Annotated[str, Form()] = "", length: Annotated[str, Form()] = "",
                    skill: Annotated[str, Form()] = "", site_id: Annotated[str, Form()] = "") -> Response:
    """A template's new times or skill, for shifts assigned from now on."""
    typed = _typed(name, kind, start, length, skill)
    site = _site(user, site_id)
    minutes, errors = _checked(name, start, length)
    if errors or minutes is None:
        return _page(request, session, user, site, status_code=422, errors=errors, typed=typed, editing=template_id)
    try:
        shift_service.update_template(session, template_id=template_id, name=name[:100], start=start.strip(),
                                      length_minutes=minutes, kind=kind, skill_code=skill or None, by=user)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, user, site, status_code=admin_common.status_for(exc),
                     errors=admin_common.explain(exc, FIELDS), typed=typed, editing=template_id)
    return _saved(request, session, user, site, "template_changed")


@router.post("/shifts/templates/{template_id}/active", include_in_schema=False)
def set_template_active(request: Request, session: DbSession, user: TeamLeaderUser, template_id: int,
                        active: Annotated[str, Form()] = "0", site_id: Annotated[str, Form()] = "") -> Response:
    """Take a template out of use (rosters no longer offer it; shifts already given keep it), or
    back into use."""
    site = _site(user, site_id)
    try:
        shift_service.set_template_active(session, template_id=template_id, active=active == "1", by=user)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, user, site, status_code=admin_common.status_for(exc),
                     errors=admin_common.explain(exc, FIELDS))
    return _saved(request, session, user, site, "template_in_use" if active == "1" else "template_retired")
