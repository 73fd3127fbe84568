"""Short-lived signed messages carried across a post-redirect-get (a form's errors and what was
typed), and the check that a `next` address stays on this site."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from core.auth import cookie_secure
from core.config import get_settings

FLASH_COOKIE = "hotline_flash"
FLASH_MAX_AGE = 120


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().secret(), salt="hotline.flash")


def set_flash(response: Response, data: dict[str, Any], *, path: str = "/") -> None:
    """Never put a password or a token in `data`: the browser can read the cookie."""
    response.set_cookie(FLASH_COOKIE, _serializer().dumps(data), max_age=FLASH_MAX_AGE, path=path,
                        httponly=True, secure=cookie_secure(), samesite="lax")


def read_flash(request: Request) -> dict[str, Any]:
    value = request.cookies.get(FLASH_COOKIE)
    if not value:
        return {}
    try:
        data = _serializer().loads(value)  # the cookie's own max-age ends it
    except BadSignature:
        return {}
    return data if isinstance(data, dict) else {}


def clear_flash(request: Request, response: Response, *, path: str = "/") -> None:
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path=path, httponly=True, secure=cookie_secure(), samesite="lax")


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: no scheme, no host, no `//evil.example` or `/\\evil` tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    if parts.path in ("/signin", "/signout"):
        return default
    return target
