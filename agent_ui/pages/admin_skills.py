"""Skills (`/admin/skills`): the skills calls are routed by, how many active people hold each,
and a new skill (its code is the queue's name in routing; `core.organisation` audits it). Before
this page only the demo made skills, so a fresh hub had none to give anyone."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from agent_ui.i18n import N_
from agent_ui.pages import admin_common as common
from core.auth import AdminUser, DbSession
from core.directory import find_users
from core.organisation import create_skill, list_skills

router = APIRouter()

CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
CODE_RULE = N_("A code is 2 to 40 lower-case letters, digits or underscores, starting with a letter.")
NAME_RULE = N_("Give the skill a name.")
FIELDS: common.Fields = {"code": "code", "name": "name"}


def _skills_page(request: Request, session: DbSession, *, status_code: int = 200,
                 errors: common.Errors | None = None, typed: dict[str, str] | None = None) -> Response:
    holders: dict[str, int] = {}
    for person in find_users(session, active=True, limit=100_000):
        for link in person.skills:
            holders[link.skill.code] = holders.get(link.skill.code, 0) + 1
    context = {"skills": list_skills(session), "holders": holders, "errors": errors or {}, "typed": typed or {}}
    return common.page(request, "admin/skills.html", context, status_code=status_code, push_url="/admin/skills")


@router.get("/admin/skills", include_in_schema=False)
def skills_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _skills_page(request, session)


@router.post("/admin/skills", include_in_schema=False)
def add_skill(request: Request, session: DbSession, user: AdminUser, code: Annotated[str, Form()] = "",
              name: Annotated[str, Form()] = "") -> Response:
    typed = {"code": code[:40], "name": name[:200]}
    errors: common.Errors = {}
    if not CODE.match(code.strip().lower()):
        errors |= common.refuse("code", CODE_RULE)
    if not name.strip():
        errors |= common.refuse("name", NAME_RULE)

    def save() -> str:
        create_skill(session, code=code, name=name[:200], by=user)
        return "/admin/skills"

    return common.submit(session, refused=errors, save=save, fields=FIELDS, fallback_field="code",
                         done_key="skill_created",
                         again=lambda status, shown: _skills_page(request, session, status_code=status, errors=shown,
                                                                 typed=typed))
