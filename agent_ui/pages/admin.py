"""Administration (`/admin`, administrators only): the overview (locked accounts and sign-ins held
back, which an administrator can release), and the routers of its sections: IVR settings, sites
with their calendars, named people and teams, people, the customer lifecycle, and the settings
(every tunable number of routing, tickets, QA and scheduling), backups, and the audit trail
(which center heads read too)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_ui.pages import (
    admin_audit,
    admin_backups,
    admin_ivr,
    admin_lifecycle,
    admin_people,
    admin_scorecards,
    admin_settings,
    admin_sites,
    admin_skills,
    admin_sla,
)
from agent_ui.pages import admin_common as common
from core import clock, signin_throttle
from core.auth import AdminUser, ClientIP, DbSession
from core.directory import find_users
from core.organisation import list_sites, list_skills, list_teams

router = APIRouter()


@router.get("/admin", include_in_schema=False)
def overview(request: Request, session: DbSession, user: AdminUser) -> Response:
    now = clock.now()
    people = find_users(session, active=None, limit=100_000)
    context = {
        "sites": len(list_sites(session)), "teams": len(list_teams(session)), "skills": len(list_skills(session)),
        "active": sum(1 for p in people if p.is_active), "inactive": sum(1 for p in people if not p.is_active),
        "locked": [p for p in people if p.is_locked(now)],
        "held_back": signin_throttle.held_back(session, now=now),
    }
    return common.page(request, "admin/index.html", context)


@router.post("/admin/signin-holds/{key}/release", include_in_schema=False)
def release_signin_hold(session: DbSession, user: AdminUser, ip: ClientIP, key: str) -> Response:
    """Let a held-back address (or username at an address) try again now; audited."""
    released = signin_throttle.release(session, key=key[:64], by=user, source_ip=ip)
    return common.done("/admin", "released" if released else "nothing")


router.include_router(admin_ivr.router)
router.include_router(admin_sites.router)
router.include_router(admin_people.router)
router.include_router(admin_skills.router)
router.include_router(admin_sla.router)
router.include_router(admin_scorecards.router)
router.include_router(admin_lifecycle.router)
router.include_router(admin_settings.router)
router.include_router(admin_backups.router)
router.include_router(admin_audit.router)
