"""Settings (`/admin/settings`): every tunable the packages declare (routing, tickets and customers,
QA, shifts and leave), grouped by namespace, each with its default, its bounds and who last changed
it. `core.tunables` checks the bounds and audits each change; the page says a refused value beside
its field before anything is saved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from agent_ui.form_errors import FormError
from agent_ui.i18n import N_
from agent_ui.pages import admin_common as common
from core import tunables
from core.auth import AdminUser, DbSession
from core.errors import NotFound, ValidationFailed

router = APIRouter()

HERE = "/admin/settings"
# The order on the page; a namespace declared later still shows, after these.
ORDER = ("routing", "tickets", "qa", "scheduling")
# The store's messages (OutOfBounds), for the catalogue.
MESSAGES = (N_("Give a whole number from %(minimum)s to %(maximum)s."), N_("Choose one of %(choices)s."))
common.DONE.update({"settings_saved": N_("The settings were saved; they apply from the next call, ticket or "
                                         "check on."),
                    "setting_reset": N_("The setting is back to its default.")})


def _namespaces() -> list[tunables.Namespace]:
    names = sorted(tunables.NAMESPACES, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return [tunables.NAMESPACES[n] for n in names if tunables.declared(n)]


def field_name(tunable: tunables.Tunable) -> str:
    return f"{tunable.namespace}-{tunable.key}"


def _page(request: Request, session: DbSession, *, status_code: int = 200, errors: common.Errors | None = None,
          typed: dict[str, str] | None = None) -> Response:
    sections = [{"namespace": ns, "tunables": [(t, tunables.get(session, t)) for t in tunables.declared(ns.name)]}
                for ns in _namespaces()]
    context = {"sections": sections, "overrides": tunables.overrides(session), "field_name": field_name,
               "errors": errors or {}, "typed": typed or {}}
    return common.page(request, "admin/settings.html", context, status_code=status_code, push_url=HERE)


@router.get("/admin/settings", include_in_schema=False)
def settings_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _page(request, session)


def _refusal(tunable: tunables.Tunable) -> FormError:
    refused = tunables.OutOfBounds(tunable)
    return FormError(field_name(tunable), refused.message_id, dict(refused.params))


# Before the namespace's route, which would take "reset" for a namespace.
@router.post("/admin/settings/reset", include_in_schema=False)
def reset_setting(session: DbSession, user: AdminUser, tunable: Annotated[str, Form()] = "") -> Response:
    """Back to the declared default (the override is forgotten; audited)."""
    namespace, _, key = tunable.partition(".")
    try:
        found = tunables.find(namespace, key)
    except ValidationFailed:
        return common.done(HERE, "nothing")
    tunables.reset(session, found, by=user)
    return common.done(f"{HERE}#{namespace}", "setting_reset")


@router.post("/admin/settings/{namespace}", include_in_schema=False)
def save_settings(request: Request, session: DbSession, user: AdminUser, namespace: str,
                  form: Annotated[dict[str, str], Depends(common.whole_form)]) -> Response:
    """Every value of one namespace's form; only the changed ones are stored (each audited)."""
    if namespace not in tunables.NAMESPACES:
        raise NotFound("There is no such group of settings.")
    declared = tunables.declared(namespace)
    typed = {field_name(t): form.get(t.key, "").strip()[:12] for t in declared}
    reason = form.get("reason", "").strip()[:200] or None
    errors: common.Errors = {}
    wanted: dict[str, int] = {}
    for tunable in declared:
        text = typed[field_name(tunable)]
        number = int(text) if text.lstrip("-").isdigit() else None
        if number is None or not tunable.allows(number):
            errors[field_name(tunable)] = _refusal(tunable)
        else:
            wanted[tunable.key] = number
    if errors:
        return _page(request, session, status_code=422, errors=errors, typed=typed)
    changed = [(t, wanted[t.key]) for t in declared if wanted[t.key] != tunables.get(session, t)]
    for tunable, value in changed:
        tunables.set_value(session, tunable, value, by=user, reason=reason)
    return common.done(f"{HERE}#{namespace}", "settings_saved" if changed else "nothing")
