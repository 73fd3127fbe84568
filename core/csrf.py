"""Cross-site request forgery protection: a pure ASGI middleware that makes every unsafe request
riding on the session cookie prove it came from one of our pages, plus a pre-session
double-submit token for the sign-in form."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import clock, credentials
from core.auth import SESSION_COOKIE, cookie_secure, is_api_request, read_session_cookie

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = "x-csrf-token"
FIELD = "csrf_token"
PRESESSION_COOKIE = "hotline_csrf"
# Twilio signs its webhooks; they carry no cookie and have their own check. The carrier
# simulator (demo only) answers the twilio client, which authenticates with HTTP Basic auth.
EXEMPT_PREFIXES = ("/twilio/", "/simulator/")
SIGNOUT_PATH = "/signout"
MAX_BUFFERED_BODY = 32 * 1024 * 1024  # larger uploads must send the token in the header
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

FailureRenderer = Callable[[Request, str], Response]


def new_token() -> str:
    return secrets.token_urlsafe(32)


# Pre-session token (the sign-in form, and anything else a signed-out person can post) -----------

def presession_token(request: Request) -> str:
    """The double-submit token for a signed-out browser: the one in its cookie, or a new one that
    `set_presession_cookie` must then send."""
    token = request.cookies.get(PRESESSION_COOKIE)
    if not token or len(token) < 32:
        token = getattr(request.state, "new_presession_token", None) or new_token()
        request.state.new_presession_token = token
    return token


def set_presession_cookie(request: Request, response: Response) -> None:
    token = getattr(request.state, "new_presession_token", None)
    if token:
        response.set_cookie(PRESESSION_COOKIE, token, httponly=True, secure=cookie_secure(), samesite="lax", path="/")


def clear_presession_cookie(response: Response) -> None:
    response.delete_cookie(PRESESSION_COOKIE, path="/", httponly=True, secure=cookie_secure(), samesite="lax")


def csrf_token_for(request: Request) -> str:
    """The token pages put in forms and in `hx-headers`: the session's when signed in."""
    token = getattr(request.state, "csrf_token", None)  # set by core.auth for a cookie session
    return token if token is not None else presession_token(request)


# The middleware ---------------------------------------------------------------------------------

class CSRFMiddleware:
    """Checks POST/PUT/PATCH/DELETE. With a live session cookie the token must equal the
    session's (header `X-CSRF-Token`, or form field `csrf_token`); without one, it must equal
    the pre-session cookie, except for bearer-token and `/api/` calls, which a browser cannot
    make with ambient credentials. A form body read here is replayed to the app unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookies = cookie_parser(headers.get("cookie", ""))
        expected = None
        raw = read_session_cookie(cookies.get(SESSION_COOKIE))
        if raw is not None:
            expected = await run_in_threadpool(_session_csrf_token, raw)
        if expected is None:
            # No live cookie session. A bearer or /api/ call then has no ambient credentials and
            # the auth check answers it; signing out changes nothing on the server, so a form
            # left open past the session's end may still do it.
            if _has_bearer(headers) or scope["path"].startswith("/api/") or scope["path"] == SIGNOUT_PATH:
                await self.app(scope, receive, send)
                return
            expected = cookies.get(PRESESSION_COOKIE)
        supplied = headers.get(HEADER)
        if supplied is None and headers.get("content-type", "").split(";")[0].strip().lower() in _FORM_TYPES:
            body = await _read_body(receive)
            if body is None:
                await _reject(scope, receive, send, "too_large")
                return
            supplied = await _form_token(scope, body)
            receive = _replay(body, receive)
        if not expected or not supplied:
            await _reject(scope, receive, send, "missing")
            return
        if not hmac.compare_digest(supplied.encode(), expected.encode()):
            await _reject(scope, receive, send, "mismatch")
            return
        await self.app(scope, receive, send)


def _session_csrf_token(raw: str) -> str | None:
    from core.db import new_session
    from core.models import SignInSession

    with new_session(reader=True) as session:
        row = session.get(SignInSession, credentials.digest(raw))
        if row is None or clock.now() >= row.expires_at:
            return None
        return row.csrf_token


def _has_bearer(headers: Headers) -> bool:
    return headers.get("authorization", "").lower().startswith("bearer ")


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BUFFERED_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = Headers(scope=scope).get("content-type", "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(FIELD)
        return values[0] if values else None
    request = Request(scope, _replay(body, _disconnected))
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - a malformed body simply has no token
        return None
    try:
        value = form.get(FIELD)
        return value if isinstance(value, str) else None
    finally:
        await form.close()


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}


MESSAGES = {
    "missing": "The security token of this form is missing. Reload the page and try again.",
    "mismatch": "This form has expired or did not come from Hotline. Reload the page and try again; "
                "if you were signed out, sign in again.",
    "too_large": "The upload is too large to check its security token; send the token in the X-CSRF-Token header.",
}


async def _reject(scope: Scope, receive: Receive, send: Send, reason: str) -> None:
    request = Request(scope, receive)
    app = scope.get("app")
    renderer: FailureRenderer | None = getattr(getattr(app, "state", None), "csrf_failure_renderer", None)
    response = renderer(request, reason) if renderer is not None else default_failure(request, reason)
    await response(scope, receive, send)


def default_failure(request: Request, reason: str) -> Response:
    message = MESSAGES.get(reason, MESSAGES["mismatch"])
    headers = {"Content-Security-Policy": "default-src 'none'; style-src 'self'", "X-Content-Type-Options": "nosniff"}
    if is_api_request(request):
        return JSONResponse({"detail": message, "code": "csrf_failed"}, status_code=403, headers=headers)
    body = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed · Hotline</title>"
            "<link rel=\"stylesheet\" href=\"/static/css/hotline.css\"></head><body><main class=\"card narrow\">"
            f"<h1>Not allowed</h1><p>{message}</p><p><a href=\"/\">Back to Hotline</a></p></main></body></html>")
    return HTMLResponse(body, status_code=403, headers=headers)


__all__ = ["CSRFMiddleware", "csrf_token_for", "presession_token", "set_presession_cookie",
           "clear_presession_cookie", "FIELD", "HEADER", "PRESESSION_COOKIE"]
