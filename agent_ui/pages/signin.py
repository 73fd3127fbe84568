"""Signing in and out, and choosing the language. The sign-in form posts and redirects
(post-redirect-get); its errors travel in a short-lived signed cookie, never in the address."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.routing import Match

from agent_ui import i18n
from agent_ui.flash import clear_flash, read_flash, safe_next, set_flash
from agent_ui.templating import render
from core import credentials, signin_throttle, users
from core.auth import (
    SESSION_COOKIE,
    ClientIP,
    DbSession,
    OptionalUser,
    clear_session_cookie,
    read_session_cookie,
    set_session_cookie,
)
from core.csrf import clear_presession_cookie, set_presession_cookie
from core.models import LOCALES

router = APIRouter()

FLASH_PATH = "/signin"


@router.get("/signin", include_in_schema=False)
def signin_page(request: Request, user: OptionalUser, next: str = "/") -> Response:
    target = safe_next(next)
    if user is not None:
        return RedirectResponse(target, status_code=303)
    flash = read_flash(request)
    response = render(request, "signin.html", {
        "next": target,
        "username": flash.get("username", ""),
        "error": flash.get("code"),
        "field": flash.get("field"),
        "locked_until": _parse_moment(flash.get("until")),
    })
    set_presession_cookie(request, response)
    clear_flash(request, response, path=FLASH_PATH)
    return response


@router.post("/signin", include_in_schema=False)
def signin(request: Request, session: DbSession, ip: ClientIP, username: Annotated[str, Form()] = "",
           password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    target = safe_next(next)
    username = username.strip()[:200]
    if not username or not password:
        return _back(target, {"code": "required", "field": "username" if not username else "password",
                              "username": username})
    try:
        user = users.authenticate(session, username=username, password=password, ip=ip)
    except users.AccountLocked as exc:
        return _back(target, {"code": "locked", "field": "username", "username": username,
                              "until": exc.until.isoformat()})
    except signin_throttle.SignInThrottled as exc:
        return _back(target, {"code": "throttled", "field": "password", "username": username,
                              "until": exc.until.isoformat()})
    except users.InvalidCredentials:
        return _back(target, {"code": "invalid", "field": "password", "username": username})
    # A fresh session on every sign-in: a token planted before sign-in is never promoted.
    old = read_session_cookie(request.cookies.get(SESSION_COOKIE))
    if old is not None:
        credentials.end_session(session, token=old, ip=ip)
    _row, token = credentials.start_session(session, user=user, ip=ip,
                                            user_agent=request.headers.get("user-agent"))
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, token)
    clear_presession_cookie(response)
    return response


@router.post("/signout", include_in_schema=False)
def signout(request: Request, session: DbSession, ip: ClientIP) -> Response:
    raw = read_session_cookie(request.cookies.get(SESSION_COOKIE))
    if raw is not None:
        credentials.end_session(session, token=raw, ip=ip)
    response = RedirectResponse("/signin", status_code=303)
    clear_session_cookie(response)
    return response


def readable_page(request: Request, target: str) -> str:
    """`target`, or the nearest page above it that can be read (GET): a page showing a refused
    form was answered at the address the form posted to, which only takes a POST
    (/admin/sla/policies is shown again as /admin/sla)."""
    parts = urlsplit(target)
    path = parts.path
    while path not in ("", "/"):
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            return target if path == parts.path else path
        path = path.rsplit("/", 1)[0]
    return "/"


@router.post("/language", include_in_schema=False)
def choose_language(request: Request, session: DbSession, user: OptionalUser, locale: Annotated[str, Form()] = "",
                    next: Annotated[str, Form()] = "/") -> Response:
    """Empty `locale` means "follow the browser" again."""
    chosen = locale if locale in LOCALES else None
    if user is not None:
        users.set_locale(session, user_id=user.id, locale=chosen)
    response = RedirectResponse(readable_page(request, safe_next(next)), status_code=303)
    if chosen is None:
        response.delete_cookie(i18n.LOCALE_COOKIE, path="/")
    else:
        response.set_cookie(i18n.LOCALE_COOKIE, chosen, max_age=365 * 24 * 3600, path="/", samesite="lax")
    return response


def _back(target: str, flash: dict[str, object]) -> Response:
    response = RedirectResponse("/signin" + ("" if target == "/" else "?next=" + quote(target, safe="/")),
                                status_code=303)
    set_flash(response, flash, path=FLASH_PATH)
    return response


def _parse_moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
