"""Sites and their calendars (`/admin/sites`, `/admin/holidays`) and teams (`/admin/teams`): create
a site with its time zone, set its opening hours per weekday, close it on holidays (one site's
or the whole center's), name its managers and the QA inspectors who cover it (`core.assignments`
checks and audits each), and create the teams of each site."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from babel.dates import get_day_names
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from agent_ui import i18n
from agent_ui.i18n import N_
from agent_ui.navigation import ROLE_LABELS
from agent_ui.pages import admin_common as common
from core import assignments, clock
from core.audit import record
from core.auth import AdminUser, ClientIP, DbSession
from core.config import get_settings
from core.directory import find_users, staff_names
from core.errors import DomainError
from core.models import Role, User
from core.organisation import create_site, create_team, get_site, list_sites, list_teams
from tickets import calendar

router = APIRouter()

SITE_FIELDS: common.Fields = {"code": "code", "timezone": "timezone", "name": "name"}
NAME_NEEDED = N_("Give the site a name.")
CODE_RULE = N_("A code is 1 to 40 lower-case letters, digits or dashes, such as xuhui.")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
HOURS_FORMAT = N_("Write each range as 09:00-18:00, with commas between ranges; 24:00 means midnight.")
HOURS_ORDER = N_("A range must close after it opens.")
HOURS_OVERLAP = N_("The ranges of one day must not overlap.")
HOLIDAY_DAY = N_("Give the day as a date, such as 2026-10-01.")
HOLIDAY_NAME = N_("Give the holiday a name.")
TEAM_NAME = N_("Give the team a name.")
TEAM_SITE = N_("Choose the team's site from the list.")


_REGIONS = ("Africa/", "America/", "Antarctica/", "Arctic/", "Asia/", "Atlantic/", "Australia/", "Europe/",
            "Indian/", "Pacific/")


@lru_cache(maxsize=len(i18n.LANGUAGE_NAMES) + 1)
def time_zones(locale: str) -> list[str]:
    """The zones a site can be in (not the old aliases such as US/Eastern), in the order of their
    names in the reader's language, which is how the form lists them."""
    zones = (z for z in available_timezones() if z.startswith(_REGIONS))
    return sorted(zones, key=lambda zone: (i18n.zone_place(zone, locale), zone))


# Sites ------------------------------------------------------------------------------------

def _sites_page(request: Request, session: DbSession, *, status_code: int = 200,
                errors: common.Errors | None = None, typed: dict[str, str] | None = None) -> Response:
    teams = list_teams(session)
    context = {"sites": list_sites(session), "team_counts": Counter(t.site_id for t in teams),
               "time_zones": time_zones(i18n.locale_for(request)),
               "default_zone": get_settings().timezone, "errors": errors or {}, "typed": typed or {}}
    return common.page(request, "admin/sites.html", context, status_code=status_code, push_url="/admin/sites")


@router.get("/admin/sites", include_in_schema=False)
def sites_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _sites_page(request, session)


@router.post("/admin/sites", include_in_schema=False)
def add_site(request: Request, session: DbSession, user: AdminUser, name: Annotated[str, Form()] = "",
             code: Annotated[str, Form()] = "", timezone: Annotated[str, Form()] = "") -> Response:
    typed = {"name": name[:200], "code": code[:40], "timezone": timezone[:64]}
    errors: common.Errors = {}
    if not name.strip():
        errors |= common.refuse("name", NAME_NEEDED)
    if not _CODE.match(code.strip().lower()):
        errors |= common.refuse("code", CODE_RULE)

    def save() -> str:
        site = create_site(session, name=name[:200], code=code, timezone=timezone.strip() or None, by=user)
        return f"/admin/sites/{site.id}"

    return common.submit(session, refused=errors, save=save, fields=SITE_FIELDS, done_key="site_created",
                         again=lambda status, shown: _sites_page(request, session, status_code=status, errors=shown,
                                                                typed=typed))


# One site's calendar, or the whole center's holidays ---------------------------------------

def _holiday_range() -> tuple[date, date]:
    """This year and the next: past holidays of this year stay visible for reference."""
    today = clock.now().date()
    return date(today.year, 1, 1), date(today.year + 1, 12, 31)


def _calendar_page(request: Request, session: DbSession, site_id: int | None, *, status_code: int = 200,
                   errors: common.Errors | None = None, typed: dict[str, str] | None = None) -> Response:
    site = get_site(session, site_id=site_id) if site_id is not None else None
    hours = calendar.opening_hours(session, site_id=site_id) if site_id is not None else {}
    day_names = get_day_names("wide", locale=i18n.babel_locale(i18n.locale_for(request)))
    first, last = _holiday_range()
    here = f"/admin/sites/{site_id}" if site_id is not None else "/admin/holidays"
    context = {
        # A site's holidays are posted under its page; the whole center's to its holiday page itself.
        "site": site, "here": here, "holidays_url": f"{here}/holidays" if site_id is not None else here,
        "weekdays": [(day, day_names[day], ", ".join(f"{a}-{b}" for a, b in hours.get(day, []))) for day in range(7)],
        "always_open": site is not None and not hours,
        "holidays": calendar.holidays(session, site_id=site_id, start=first, end=last),
        "teams": list_teams(session, site_id=site_id) if site_id is not None else [],
        "errors": errors or {}, "typed": typed or {},
        **(_named_people(session, site_id) if site_id is not None else {}),
    }
    return common.page(request, "admin/calendar.html", context, status_code=status_code, push_url=here)


@router.get("/admin/sites/{site_id}", include_in_schema=False)
def site_page(request: Request, session: DbSession, user: AdminUser, site_id: int) -> Response:
    return _calendar_page(request, session, site_id)


@router.get("/admin/holidays", include_in_schema=False)
def center_holidays_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _calendar_page(request, session, None)


def parse_ranges(text: str) -> list[tuple[str, str]]:
    """"09:00-12:00, 13:00-18:00" (any dash, or a Chinese comma) as pairs; ValueError if malformed.
    The times themselves are checked by `tickets.calendar`."""
    ranges = []
    for part in re.split(r"[,，;；]", text):
        if not part.strip():
            continue
        bounds = re.split(r"\s*(?:-|–|—|~|～|至|to)\s*", part.strip())
        if len(bounds) != 2 or not all(bounds):
            raise ValueError(part)
        ranges.append((bounds[0], bounds[1]))
    return ranges


def _hours_error(field: str, exc: DomainError) -> common.Errors:
    return common.explain(exc, {}, fallback_field=field)


@router.post("/admin/sites/{site_id}/hours", include_in_schema=False)
def set_hours(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, site_id: int,
              form: Annotated[dict[str, str], Depends(common.whole_form)]) -> Response:
    """Every weekday at once (`hours-0` is Monday); a weekday left empty is closed, and every
    weekday empty means always open. Only the weekdays that changed are written."""
    get_site(session, site_id=site_id)
    current = calendar.opening_hours(session, site_id=site_id)
    errors: common.Errors = {}
    changed = []
    for day in range(7):
        field = f"hours-{day}"
        try:
            ranges = parse_ranges(form.get(field, ""))
        except ValueError:
            errors |= common.refuse(field, HOURS_FORMAT)
            continue
        try:
            rows = calendar.set_opening_hours(session, site_id=site_id, weekday=day, ranges=ranges)
        except DomainError as exc:
            errors |= _hours_error(field, exc)
            continue
        if [(calendar_hhmm(r.opens_minute), calendar_hhmm(r.closes_minute)) for r in rows] != current.get(day, []):
            changed.append(day)
    if errors:
        session.rollback()
        return _calendar_page(request, session, site_id, status_code=422, errors=errors, typed=form)
    if not changed:
        return common.done(f"/admin/sites/{site_id}", "nothing")
    # tickets.calendar does not audit its changes; the administrator's edit is recorded here.
    record(session, action="site.opening_hours_changed", actor_id=user.id, actor_name=user.username,
           object_type="site", object_id=site_id, source_ip=ip, details={"weekdays": changed})
    return common.done(f"/admin/sites/{site_id}", "hours_saved")


def calendar_hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _holiday_typed(day: str, name: str) -> tuple[dict[str, str], common.Errors, date | None]:
    typed = {"day": day[:20], "holiday_name": name[:100]}
    errors: common.Errors = {}
    parsed = None
    try:
        parsed = date.fromisoformat(day.strip())
    except ValueError:
        errors |= common.refuse("day", HOLIDAY_DAY)
    if not name.strip():
        errors |= common.refuse("holiday_name", HOLIDAY_NAME)
    return typed, errors, parsed


def _add_holiday(request: Request, session: DbSession, user: User, ip: str | None, site_id: int | None,
                 day: str, name: str) -> Response:
    here = f"/admin/sites/{site_id}" if site_id is not None else "/admin/holidays"
    if site_id is not None:
        get_site(session, site_id=site_id)
    typed, errors, parsed = _holiday_typed(day, name)
    if errors or parsed is None:
        return _calendar_page(request, session, site_id, status_code=422, errors=errors, typed=typed)
    calendar.add_holiday(session, day=parsed, name=name, site_id=site_id)
    record(session, action="holiday.added", actor_id=user.id, actor_name=user.username, object_type="site",
           object_id=site_id, source_ip=ip, details={"site_id": site_id, "day": parsed.isoformat()})
    return common.done(here, "holiday_added")


def _remove_holiday(session: DbSession, user: User, ip: str | None, site_id: int | None, day: str) -> Response:
    here = f"/admin/sites/{site_id}" if site_id is not None else "/admin/holidays"
    try:
        parsed = date.fromisoformat(day.strip())
    except ValueError:
        return common.done(here, "nothing")  # only a hand-made request sends no date; nothing to remove
    if calendar.remove_holiday(session, day=parsed, site_id=site_id):
        record(session, action="holiday.removed", actor_id=user.id, actor_name=user.username, object_type="site",
               object_id=site_id, source_ip=ip, details={"site_id": site_id, "day": parsed.isoformat()})
        return common.done(here, "holiday_removed")
    return common.done(here, "nothing")


@router.post("/admin/sites/{site_id}/holidays", include_in_schema=False)
def add_site_holiday(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, site_id: int,
                     day: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "") -> Response:
    return _add_holiday(request, session, user, ip, site_id, day, name)


@router.post("/admin/holidays", include_in_schema=False)
def add_center_holiday(request: Request, session: DbSession, user: AdminUser, ip: ClientIP,
                       day: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "") -> Response:
    return _add_holiday(request, session, user, ip, None, day, name)


@router.post("/admin/sites/{site_id}/holidays/remove", include_in_schema=False)
def remove_site_holiday(session: DbSession, user: AdminUser, ip: ClientIP, site_id: int,
                        day: Annotated[str, Form()] = "") -> Response:
    get_site(session, site_id=site_id)
    return _remove_holiday(session, user, ip, site_id, day)


@router.post("/admin/holidays/remove", include_in_schema=False)
def remove_center_holiday(session: DbSession, user: AdminUser, ip: ClientIP,
                          day: Annotated[str, Form()] = "") -> Response:
    return _remove_holiday(session, user, ip, None, day)


# A site's named people: managers and QA coverage --------------------------------------------

MANAGER_FIELDS: common.Fields = {"user_id": "user_id"}
QA_FIELDS: common.Fields = {"user_id": "qa_user_id", "team_id": "qa_team_id"}


def _named_people(session: DbSession, site_id: int) -> dict[str, object]:
    """The site's named managers and QA coverage, and whom the forms offer."""
    named = assignments.for_site(session, site_id=site_id)
    names = {uid: s.display_name for uid, s in staff_names(session, {a.user_id for a in named}).items()}
    teams = {t.id: t.name for t in list_teams(session, site_id=site_id)}
    people = find_users(session, active=True, limit=100_000)
    return {
        "managers": [(a, names.get(a.user_id, "?")) for a in named if a.kind == assignments.SITE_MANAGER],
        "qa_coverage": [(a, names.get(a.user_id, "?"), teams.get(a.team_id) if a.team_id is not None else None)
                        for a in named if a.kind == assignments.QA_COVERAGE],
        "manager_candidates": [p for p in people if p.role in assignments.MANAGER_ROLES
                               and (p.team_id in teams if p.team_id is not None else p.site_id == site_id)],
        "qa_candidates": [p for p in people if p.role == Role.qa_inspector.value],
        "role_names": {r.value: ROLE_LABELS[r] for r in Role},
    }


def _assignment_refused(request: Request, session: DbSession, site_id: int, exc: DomainError,
                        fields: common.Fields, typed: dict[str, str]) -> Response:
    session.rollback()
    return _calendar_page(request, session, site_id, status_code=common.status_for(exc),
                          errors=common.explain(exc, fields, fallback_field="user_id"), typed=typed)


@router.post("/admin/sites/{site_id}/managers", include_in_schema=False)
def name_manager(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, site_id: int,
                 user_id: Annotated[str, Form()] = "") -> Response:
    get_site(session, site_id=site_id)
    try:
        assignments.assign_site_manager(session, site_id=site_id, user_id=common.optional_id(user_id) or 0, by=user,
                                        source_ip=ip)
    except DomainError as exc:
        return _assignment_refused(request, session, site_id, exc, MANAGER_FIELDS, {"user_id": user_id[:20]})
    return common.done(f"/admin/sites/{site_id}", "manager_named")


@router.post("/admin/sites/{site_id}/qa-coverage", include_in_schema=False)
def cover_with_qa(request: Request, session: DbSession, user: AdminUser, ip: ClientIP, site_id: int,
                  user_id: Annotated[str, Form()] = "", team_id: Annotated[str, Form()] = "") -> Response:
    get_site(session, site_id=site_id)
    try:
        assignments.assign_qa_coverage(session, site_id=site_id, user_id=common.optional_id(user_id) or 0,
                                       team_id=common.optional_id(team_id), by=user, source_ip=ip)
    except DomainError as exc:
        return _assignment_refused(request, session, site_id, exc, QA_FIELDS,
                                   {"qa_user_id": user_id[:20], "qa_team_id": team_id[:20]})
    return common.done(f"/admin/sites/{site_id}", "qa_covered")


@router.post("/admin/sites/{site_id}/assignments/{assignment_id}/remove", include_in_schema=False)
def remove_assignment(session: DbSession, user: AdminUser, ip: ClientIP, site_id: int,
                      assignment_id: int) -> Response:
    get_site(session, site_id=site_id)
    assignments.remove(session, assignment_id=assignment_id, site_id=site_id, by=user, source_ip=ip)
    return common.done(f"/admin/sites/{site_id}", "assignment_removed")


# Teams ------------------------------------------------------------------------------------

def _teams_page(request: Request, session: DbSession, *, status_code: int = 200,
                errors: common.Errors | None = None, typed: dict[str, str] | None = None) -> Response:
    sites = list_sites(session)
    teams = list_teams(session)
    members: dict[int, int] = {}
    for person in find_users(session, active=True, limit=100_000):
        if person.team_id is not None:
            members[person.team_id] = members.get(person.team_id, 0) + 1
    context = {"sites": sites, "teams_by_site": {s.id: [t for t in teams if t.site_id == s.id] for s in sites},
               "members": members, "errors": errors or {}, "typed": typed or {}}
    return common.page(request, "admin/teams.html", context, status_code=status_code, push_url="/admin/teams")


@router.get("/admin/teams", include_in_schema=False)
def teams_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _teams_page(request, session)


@router.post("/admin/teams", include_in_schema=False)
def add_team(request: Request, session: DbSession, user: AdminUser, name: Annotated[str, Form()] = "",
             site_id: Annotated[str, Form()] = "") -> Response:
    typed = {"name": name[:200], "site_id": site_id[:20]}
    errors: common.Errors = {}
    if not name.strip():
        errors |= common.refuse("name", TEAM_NAME)
    site = common.optional_id(site_id)
    if site is None or site not in {s.id for s in list_sites(session)}:
        errors |= common.refuse("site_id", TEAM_SITE)
    if errors or site is None:
        return _teams_page(request, session, status_code=422, errors=errors, typed=typed)
    create_team(session, name=name[:200], site_id=site, by=user)
    return common.done("/admin/teams", "team_created")
