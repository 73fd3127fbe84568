"""The one way an error reaches a person or a script: JSON for the API (`detail` in the request's
language, the stable `code`, `errors` and `params`, as the API document declares) and the error
page for people, both from the same domain error. Also the sign-in redirect, the "not allowed"
page and the CSRF refusal."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from agent_ui import i18n
from agent_ui.i18n import N_
from agent_ui.security import BASE_HEADERS
from agent_ui.templating import is_htmx, render
from core.auth import Forbidden, SignInRequired, is_api_request
from core.errors import DomainError, PermissionDenied

log = logging.getLogger("hotline.errors")

#: The heading of an error page, by status.
TITLES = {
    400: N_("The request could not be done"),
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Changed in the meantime"),
    413: N_("Too large"),
    415: N_("Unsupported media type"),
    422: N_("Some fields need attention"),
    429: N_("Too many requests"),
    500: N_("Something went wrong on our side"),
    503: N_("Temporarily unavailable"),
}

#: What a status means to the reader, where the router answers it with no sentence of its own
#: (the page would otherwise repeat its heading).
EXPLANATIONS = {
    404: N_("There is nothing at this address. It may have been mistyped, or the link that led here is old."),
    405: N_("This address does not take that kind of request."),
}

CSRF_MESSAGES = {
    "missing": N_("The security token of this form is missing. Reload the page and try again."),
    "mismatch": N_("This form has expired or did not come from Hotline. Reload the page and try again; "
                   "if you were signed out, sign in again."),
    "too_large": N_("The upload is too large to check its security token."),
}
NO_ACCESS = N_("Your role does not give access to this. If you need it, ask an administrator.")


def respond(request: Request, status: int, error: DomainError, *, headers: Mapping[str, str] | None = None,
            show_signin: bool = False, as_json: bool | None = None) -> Response:
    """`error` answered with `status`: the API's JSON body or the error page, in the reader's
    language (`as_json` for a page's own data endpoint, which scripts read)."""
    locale = i18n.locale_for(request)
    gettext = i18n.translations(locale).gettext
    if is_api_request(request) if as_json is None else as_json:
        content: dict[str, object] = {"detail": error.text(gettext), "code": error.code}
        if getattr(error, "errors", None) is not None:
            content["errors"] = error.items(gettext)
        if error.params:
            content["params"] = error.params
        response: Response = JSONResponse(content, status_code=status, headers=dict(headers or {}))
    else:
        try:
            response = render(request, "error.html", {"title": TITLES.get(status, TITLES[400]), "error": error,
                                                      "show_signin": show_signin},
                              status_code=status, headers=dict(headers or {}))
        except Exception:  # the page shell itself failed: still answer, in plain words
            log.exception("error page could not be rendered", extra={"path": request.url.path})
            title = gettext(TITLES.get(status, TITLES[400]))
            response = HTMLResponse(f"<!doctype html><html lang=\"{i18n.HTML_LANG.get(locale, 'en')}\"><head>"
                                    f"<meta charset=\"utf-8\"><title>{html.escape(title)} · Hotline</title></head>"
                                    f"<body><h1>{html.escape(title)}</h1><p>{html.escape(error.text(gettext))}</p>"
                                    "<p><a href=\"/\">Hotline</a></p></body></html>",
                                    status_code=status, headers=dict(headers or {}))
    response.headers["Content-Language"] = i18n.HTML_LANG.get(locale, "en")
    return response


async def sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    location = exc.headers["Location"] if exc.headers else "/signin"
    if is_htmx(request):
        # An XHR would follow a 303 and swap the sign-in page into a fragment; htmx navigates instead.
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


async def forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    return respond(request, 403, PermissionDenied(NO_ACCESS, params={
        "role": exc.role, "allowed": sorted(role.value for role in exc.allowed)}))


def csrf_failure(request: Request, reason: str) -> Response:
    error = DomainError(CSRF_MESSAGES.get(reason, CSRF_MESSAGES["mismatch"]), code="csrf_failed")
    response = respond(request, 403, error, show_signin=True)
    # The CSRF middleware sits outside the security-headers middleware, so add them here.
    for name, value in BASE_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.state.csrf_failure_renderer = csrf_failure
