"""What the administration pages share: the one-time note a post-redirect-get leaves, the
refusal status codes, and turning a service's refusal into messages beside the right fields in
the reader's language. Forms are boosted by htmx (`hx-boost`) and work without JavaScript."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.requests import Request

from agent_ui import flash
from agent_ui.form_errors import FormError, describe_all
from agent_ui.i18n import N_
from agent_ui.templating import is_htmx, render
from core.errors import DomainError

# What a finished change says on the next page (English msgids, translated there).
DONE = {
    "ivr_saved": N_("The IVR settings were saved."),
    "ivr_reset": N_("The text is back to its default."),
    "site_created": N_("The site was created."),
    "hours_saved": N_("The opening hours were saved."),
    "holiday_added": N_("The holiday was added."),
    "holiday_removed": N_("The holiday was removed."),
    "team_created": N_("The team was created."),
    "skill_created": N_("The skill was created: give it to people on their page."),
    "manager_named": N_("The site manager was named."),
    "qa_covered": N_("The QA coverage was saved."),
    "assignment_removed": N_("The assignment was removed."),
    "user_created": N_("The account was created. Give the person their password in person; it is not shown again."),
    "role_changed": N_("The role was changed."),
    "moved": N_("The site and team were saved."),
    "skill_set": N_("The skill was saved."),
    "skill_removed": N_("The skill was removed."),
    "unlocked": N_("The account was unlocked."),
    "released": N_("The sign-in hold was released."),
    "deactivated": N_("The account was deactivated: its sessions and API tokens stop working."),
    "activated": N_("The account was reactivated."),
    "password_set": N_("The new password was set."),
    "nothing": N_("Nothing was changed."),
    "lifecycle_saved": N_("The customer settings were saved."),
    "thresholds_saved": N_("The tier thresholds were saved; the next assessment applies them."),
    "greeting_added": N_("The greeting day was added."),
    "greeting_removed": N_("The greeting day was removed."),
    "purchases_queued": N_("The file is being imported; its progress shows below."),
    "backup_started": N_("The backup has started; its progress shows below."),
    "backup_running": N_("A backup is being made already; its progress shows below."),
}

Errors = dict[str, FormError]
# The service's name of a field -> the form's name of it; see `explain`.
Fields = dict[str, str]


def note(request: Request) -> str | None:
    """The note the previous redirect left, shown once."""
    return DONE.get(str(flash.read_flash(request).get("done")))


def page(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200,
         push_url: str | None = None) -> Response:
    """A whole administration page (htmx takes the body it needs from it). A refused form is
    answered at the form's own address; `push_url` tells htmx the page's real address."""
    response = render(request, template, {"note": note(request), "errors": {}, "typed": {}, **context},
                      status_code=status_code)
    flash.clear_flash(request, response)
    if push_url is not None and is_htmx(request):
        response.headers["HX-Push-Url"] = push_url
    return response


def done(location: str, key: str) -> Response:
    """Post-redirect-get with a one-time note; htmx follows the redirect and shows the page."""
    response = RedirectResponse(location, status_code=303)
    flash.set_flash(response, {"done": key})
    return response


def status_for(exc: DomainError | None = None) -> int:
    """422 for bad input (the page's own checks too), 409 for a refusal of the current state."""
    if exc is not None and exc.code not in ("invalid", "weak_password"):
        return 409
    return 422


def explain(exc: DomainError, fields: Fields, *, fallback_field: str = "") -> Errors:
    """Every refused field of `exc` with the service's own message, beside the page's field:
    `fields` maps the service's name of each field the form shows (its whole `loc` joined by
    dots, or just the last part) to the form's name; any other refusal goes to `fallback_field`."""
    return describe_all(exc, fields=fields, fallback_field=fallback_field)


def submit(session: Session, *, refused: Errors, save: Callable[[], str], again: Callable[[int, Errors], Response],
           fields: Fields, done_key: str, fallback_field: str = "") -> Response:
    """How a form that makes something ends: what the page itself refused (422), else `save()`
    calls the service, whose refusal is rolled back (409, or 422 for bad input); either is shown
    by `again(status, errors)`, the page with what was typed and each message beside its field.
    Saved, it is post-redirect-get to the address `save` returns, with the note `done_key`."""
    if refused:
        return again(422, refused)
    try:
        location = save()
    except DomainError as exc:
        session.rollback()
        return again(status_for(exc), explain(exc, fields, fallback_field=fallback_field))
    return done(location, done_key)


def refuse(field: str, message: str, **params: Any) -> Errors:
    """One page-level refusal (bad input the page itself catches before calling a service)."""
    return {field: FormError(field, message, params)}


class Refused(Exception):
    """Bad input found by the page before any service is called; carries the field errors."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def optional_id(value: str) -> int | None:
    """A select's value: an id, or None for the empty choice (anything else is treated as empty)."""
    text = value.strip()
    return int(text) if text.isdigit() else None



async def whole_form(request: Request) -> dict[str, str]:
    """Every text field of a posted form, for forms whose fields are named by data (the IVR
    texts by language and key, the opening hours by weekday). A dependency: the route stays `def`."""
    return {name: value for name, value in (await request.form()).items() if isinstance(value, str)}
