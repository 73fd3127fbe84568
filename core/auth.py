"""Who is asking: the signed session cookie or a bearer API token turned into a `User`, the
typed permission aliases routes declare (`CurrentUser`, `SupervisorUser`, ...), and the
client's address behind trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from core import credentials, permissions
from core.audit import keep_refusals
from core.config import get_settings
from core.db import new_session
from core.models import Role, User

SESSION_COOKIE = "hotline_session"
_SESSION_SALT = "hotline.session"

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_session(request: Request) -> Iterator[Session]:
    """One unit of work per request, committed when the endpoint returns, rolled back when it
    raises. Unsafe methods are serialised writers on SQLite (`BEGIN IMMEDIATE`), so a
    read-then-write never loses a race; safe methods read without waiting for writers (a page
    that writes, such as an audited view, takes the write lock first: `core.db.write_locked`).
    Refusals audited during the request stay in the audit trail even when its work is rolled
    back (`core.audit.keep_refusals`)."""
    session = new_session(reader=request.method not in UNSAFE_METHODS)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        try:
            keep_refusals(session)
        finally:
            session.close()


# Committed before the response goes out (scope="function"), so a browser that follows a
# redirect at once finds what the previous request wrote.
DbSession = Annotated[Session, Depends(request_session, scope="function")]


# Client address -----------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], set[str]]:
    networks, names = [], set()
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)  # a host name such as "testclient"
    return networks, names


def _is_trusted(host: str, entries: tuple[str, ...]) -> bool:
    networks, names = _networks(entries)
    if host in names:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_ip(request: Request) -> str | None:
    """The caller's address. X-Forwarded-For is believed only when the peer is a trusted proxy,
    and then the rightmost hop that is not itself a trusted proxy is the client."""
    peer = request.client.host if request.client else None
    trusted = tuple(get_settings().trusted_proxies)
    if peer is None or not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


ClientIP = Annotated[str | None, Depends(client_ip)]


# Session cookie -----------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret(), salt=_SESSION_SALT)


def read_session_cookie(value: str | None) -> str | None:
    """The raw session token in a cookie, or None if absent or tampered with. The server-side
    row decides expiry (on `core.clock`), so no max_age is checked here."""
    if not value:
        return None
    try:
        token = _serializer().loads(value)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


def cookie_secure() -> bool:
    return get_settings().public_url.startswith("https://")


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, _serializer().dumps(token), max_age=get_settings().session_max_age_seconds,
                        httponly=True, secure=cookie_secure(), samesite="lax", path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=cookie_secure(), samesite="lax")


# Resolving the caller -----------------------------------------------------------------------

def bearer_token(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def is_api_request(request: HTTPConnection) -> bool:
    """Scripts and the JSON API get status codes and JSON; people's pages get redirects and HTML.
    The one answer to "is this an API request?" for sign-in, CSRF refusals and error bodies: the
    API's paths, a bearer token, a caller that asks for JSON and not HTML, or a request that
    matched an operation of the API document whatever its path (/recordings/{id}: its errors are
    the JSON the document declares, even for a browser's audio player)."""
    path = request.url.path
    if (path.startswith(("/api/", "/twilio/", "/openapi.json", "/healthz")) and path != "/api/docs") \
            or bearer_token(request):
        return True
    route = request.scope.get("route")
    if route is not None and bool(getattr(route, "include_in_schema", False)):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@dataclass(frozen=True)
class Viewer:
    """A plain copy of who is signed in, for the page shell and error pages: those may render
    after the request's database session has closed, when ORM objects can no longer load."""

    id: int
    username: str
    display_name: str
    role: str
    locale: str | None
    site_id: int | None
    site_name: str | None
    site_timezone: str | None
    team_name: str | None
    last_sign_in_at: datetime | None

    @classmethod
    def of(cls, user: User) -> Viewer:
        site, team = user.site, user.team
        return cls(id=user.id, username=user.username, display_name=user.display_name, role=user.role,
                   locale=user.locale, site_id=user.site_id, site_name=site.name if site else None,
                   site_timezone=site.timezone if site else None, team_name=team.name if team else None,
                   last_sign_in_at=user.last_sign_in_at)


def resolve_user(request: HTTPConnection, session: Session) -> User | None:
    """Authenticate a request (or a websocket handshake) once; the result is kept on
    `request.state`: `user`, `viewer`, and `signin` + `csrf_token` for a cookie session or
    `api_token` for a bearer token."""
    if getattr(request.state, "auth_resolved", False):
        return request.state.user
    request.state.auth_resolved = True
    request.state.user = request.state.signin = request.state.api_token = request.state.viewer = None
    bearer = bearer_token(request)
    if bearer is not None:
        # A bad bearer token fails outright rather than falling back to a cookie.
        token = credentials.resolve_api_token(session, token=bearer)
        if token is not None:
            request.state.api_token, request.state.user = token, token.user
    else:
        raw = read_session_cookie(request.cookies.get(SESSION_COOKIE))
        signin = credentials.resolve_session(session, token=raw) if raw is not None else None
        if signin is not None:
            request.state.signin, request.state.user = signin, signin.user
            request.state.csrf_token = signin.csrf_token
    if request.state.user is not None:
        request.state.viewer = Viewer.of(request.state.user)
    return request.state.user


class SignInRequired(HTTPException):
    """Raised for a page request without a live session: a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url
        super().__init__(status_code=303, detail="Please sign in.",
                         headers={"Location": "/signin?next=" + quote(next_url, safe="/")})


class NotSignedIn(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=401,
                         detail="Sign in, or send a valid API token as 'Authorization: Bearer hl_...'.",
                         headers={"WWW-Authenticate": "Bearer"})


class Forbidden(HTTPException):
    def __init__(self, role: str, allowed: Iterable[Role]) -> None:
        self.role = role
        self.allowed = frozenset(allowed)
        names = ", ".join(sorted(r.value for r in self.allowed))
        super().__init__(status_code=403, detail=f"Your role ({role}) cannot use this; it needs one of: {names}. "
                                                 "Ask an administrator if you need access.")


def _next_url(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query else "")


def optional_user(request: Request, session: DbSession) -> User | None:
    return resolve_user(request, session)


def current_user(request: Request, session: DbSession) -> User:
    user = resolve_user(request, session)
    if user is not None:
        return user
    if is_api_request(request):
        raise NotSignedIn()
    raise SignInRequired(_next_url(request))


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]


class RequireRole:
    """A dependency admitting only the given roles: `Depends(RequireRole(Role.admin))`, or
    with sets from `core.permissions`: `RequireRole(*permissions.SUPERVISORS)`."""

    def __init__(self, *roles: Role | str) -> None:
        self.roles = frozenset(Role(r) for r in roles)

    def __call__(self, user: CurrentUser) -> User:
        if not permissions.allowed(user.role, self.roles):
            raise Forbidden(user.role, self.roles)
        return user


AgentUser = Annotated[User, Depends(RequireRole(*permissions.AGENTS))]
TeamLeaderUser = Annotated[User, Depends(RequireRole(*permissions.TEAM_LEADERS))]
QAUser = Annotated[User, Depends(RequireRole(*permissions.QA))]
SupervisorUser = Annotated[User, Depends(RequireRole(*permissions.SUPERVISORS))]
CenterHeadUser = Annotated[User, Depends(RequireRole(*permissions.CENTER_HEADS))]
AdminUser = Annotated[User, Depends(RequireRole(*permissions.ADMINS))]
