"""The sign-in redirect, the "not allowed" page and the CSRF refusal, in the reader's language.
API and script callers keep getting JSON."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from agent_ui import i18n
from agent_ui.i18n import N_
from agent_ui.security import BASE_HEADERS
from agent_ui.templating import is_htmx, render
from core.auth import Forbidden, SignInRequired, is_api_request
from core.csrf import default_failure

CSRF_MESSAGES = {
    "missing": N_("The security token of this form is missing. Reload the page and try again."),
    "mismatch": N_("This form has expired or did not come from Hotline. Reload the page and try again; "
                   "if you were signed out, sign in again."),
    "too_large": N_("The upload is too large to check its security token."),
}


async def sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    location = exc.headers["Location"] if exc.headers else "/signin"
    if is_htmx(request):
        # An XHR would follow a 303 and swap the sign-in page into a fragment; htmx navigates instead.
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


async def forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    if is_api_request(request):
        return JSONResponse({"detail": exc.detail, "code": "forbidden"}, status_code=403)
    return render(request, "error.html", {
        "title": N_("Not allowed"),
        "message": N_("Your role does not give access to this page. If you need it, ask an administrator."),
    }, status_code=403)


def csrf_failure(request: Request, reason: str) -> Response:
    if is_api_request(request) or "application/json" in request.headers.get("accept", ""):
        return default_failure(request, reason)
    locale = i18n.locale_for(request)
    response = render(request, "error.html", {
        "title": N_("Not allowed"),
        "message": CSRF_MESSAGES.get(reason, CSRF_MESSAGES["mismatch"]),
        "show_signin": True,
    }, status_code=403)
    response.headers["Content-Language"] = i18n.HTML_LANG.get(locale, "en")
    # The CSRF middleware sits outside the security-headers middleware, so add them here.
    for name, value in BASE_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.state.csrf_failure_renderer = csrf_failure
