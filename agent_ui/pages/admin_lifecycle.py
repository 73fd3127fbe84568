"""The customer lifecycle's settings (`/admin/lifecycle`): how tiers are assessed (quarterly or
yearly, the thresholds of each tier), the points rule, when a customer counts as quiet, a
preview of who would move at the end of the running period, and the holidays whose greetings
go out on the eve. Saved by `tickets.sla`, `tickets.tiers` and `tickets.care`; the three numbers
are tunables, also on `/admin/settings`."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from agent_ui.i18n import N_
from agent_ui.pages import admin_common as common
from core import clock, jobs, tunables
from core.auth import AdminUser, DbSession
from core.errors import DomainError
from tickets import care, purchases, sla, tiers
from tickets.workflow import TIERS

router = APIRouter()

PAGE = "admin/lifecycle.html"
HERE = "/admin/lifecycle"
SETTING_KEYS = ("tier_assessment_months", "points_per_yuan", "quiet_customer_days")
FIELDS: common.Fields = {"on_date": "on_date", "name": "name", "body": "body"}
WHOLE = N_("Give a whole number, 0 or more.")
POSITIVE = N_("Give a whole number, 1 or more.")


def _page(request: Request, session: DbSession, *, status_code: int = 200, errors: common.Errors | None = None,
          typed: dict[str, str] | None = None) -> Response:
    moves = Counter((c.old, c.new) for c in tiers.preview_assessment(session))
    context = {
        "settings": {key: sla.get_setting(session, key) for key in SETTING_KEYS},
        "thresholds": [t for t in tiers.thresholds(session) if t.tier != TIERS[0]],
        "moves": sorted(moves.items(), key=lambda item: (TIERS.index(item[0][0]), TIERS.index(item[0][1]))),
        "greeting_days": care.list_greeting_days(session, since=clock.now().date()),
        "errors": errors or {}, "typed": typed or {},
        # The latest purchase file's import, followed as it goes (core.jobs).
        "import_job": jobs.latest(session, kind=purchases.IMPORT_KIND),
    }
    return common.page(request, PAGE, context, status_code=status_code, push_url=HERE)


@router.get("/admin/lifecycle", include_in_schema=False)
def lifecycle_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _page(request, session)


def _number(form: dict[str, str], field: str, errors: common.Errors, *, minimum: int) -> int:
    typed = form.get(field, "").strip()
    if not typed.isdigit() or int(typed) < minimum:
        errors.update(common.refuse(field, POSITIVE if minimum else WHOLE))
        return 0
    return int(typed)


@router.post("/admin/lifecycle/settings", include_in_schema=False)
def save_settings(request: Request, session: DbSession, user: AdminUser,
                  form: Annotated[dict[str, str], Depends(common.whole_form)]) -> Response:
    errors: common.Errors = {}
    values = {key: _number(form, key, errors, minimum=1) for key in SETTING_KEYS}
    if values["tier_assessment_months"] not in (3, 12) and "tier_assessment_months" not in errors:
        errors.update(common.refuse("tier_assessment_months", N_("Choose quarterly or yearly.")))
    for key in SETTING_KEYS:  # the bounds the tunables store holds them to (`/admin/settings`)
        tunable = tunables.find("tickets", key)
        if key not in errors and not tunable.allows(values[key]):
            refused = tunables.OutOfBounds(tunable)
            errors.update(common.refuse(key, refused.message_id, **refused.params))
    if errors:
        return _page(request, session, status_code=422, errors=errors, typed=form)
    for key, value in values.items():
        if value != sla.get_setting(session, key):
            sla.set_setting(session, key=key, value=value, by=user)
    return common.done(HERE, "lifecycle_saved")


@router.post("/admin/lifecycle/thresholds", include_in_schema=False)
def save_thresholds(request: Request, session: DbSession, user: AdminUser,
                    form: Annotated[dict[str, str], Depends(common.whole_form)]) -> Response:
    errors: common.Errors = {}
    wanted = {}
    for level in tiers.thresholds(session):
        if level.tier == TIERS[0]:
            continue
        wanted[level.tier] = (_number(form, f"{level.tier}-spend", errors, minimum=0) * 100,
                              _number(form, f"{level.tier}-frequency", errors, minimum=0),
                              _number(form, f"{level.tier}-points", errors, minimum=0))
    if errors:
        return _page(request, session, status_code=422, errors=errors, typed=form)
    current = {t.tier: (t.min_spend_cents, t.min_frequency, t.min_points) for t in tiers.thresholds(session)}
    for tier, (spend, frequency, points) in wanted.items():
        if current[tier] != (spend, frequency, points):
            tiers.set_threshold(session, tier=tier, min_spend_cents=spend, min_frequency=frequency,
                                min_points=points, by=user)
    return common.done(HERE, "thresholds_saved")


@router.post("/admin/lifecycle/greetings", include_in_schema=False)
def add_greeting(request: Request, session: DbSession, user: AdminUser, on_date: Annotated[str, Form()] = "",
                 name: Annotated[str, Form()] = "", body: Annotated[str, Form()] = "") -> Response:
    typed = {"on_date": on_date[:20], "name": name[:100], "body": body[:300]}
    try:
        day = date.fromisoformat(on_date.strip())
    except ValueError:
        return _page(request, session, status_code=422, typed=typed,
                     errors=common.refuse("on_date", N_("Type the date as YYYY-MM-DD.")))
    try:
        care.add_greeting_day(session, on_date=day, name=name, body=body, by=user)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, status_code=common.status_for(exc), typed=typed,
                     errors=common.explain(exc, FIELDS))
    return common.done(HERE, "greeting_added")


@router.post("/admin/lifecycle/greetings/remove", include_in_schema=False)
def remove_greeting(session: DbSession, user: AdminUser, greeting_day_id: Annotated[str, Form()] = "") -> Response:
    if not greeting_day_id.isdigit():
        return common.done(HERE, "nothing")
    try:
        care.remove_greeting_day(session, greeting_day_id=int(greeting_day_id), by=user)
    except DomainError:
        session.rollback()
        return common.done(HERE, "nothing")
    return common.done(HERE, "greeting_removed")


MAX_CSV_BYTES = 5_000_000


@router.post("/admin/lifecycle/purchases", include_in_schema=False)
def import_purchases(request: Request, session: DbSession, user: AdminUser,
                     file: Annotated[UploadFile | None, File()] = None) -> Response:
    """Purchases from the till or membership system as a CSV, imported in the background (the
    same rows as POST /api/v1/customers/purchases/import): the page follows its progress and
    then shows the report per rejected row, or why the file could not be imported."""
    raw = file.file.read(MAX_CSV_BYTES + 1) if file is not None else b""
    if not raw:
        return _page(request, session, status_code=422,
                     errors=common.refuse("file", N_("Choose a CSV file of purchases.")))
    if len(raw) > MAX_CSV_BYTES:
        return _page(request, session, status_code=422,
                     errors=common.refuse("file", N_("The file is too large; send at most 5 MB at a time.")))
    purchases.start_import(session, data=raw, by=user)
    return common.done(HERE, "purchases_queued")
