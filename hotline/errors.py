"""One place that turns errors into responses: JSON for the API and webhooks, an HTML page for
people, with the domain errors mapped to their status codes."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from agent_ui import error_pages
from agent_ui.i18n import N_
from core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from core.storage import NotStored, StorageError

log = logging.getLogger("hotline.errors")

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (PermissionDenied, 403),
    (Conflict, 409),
    (ValidationFailed, 422),
    (DomainError, 400),
]

#: Stable codes for the statuses the web layer answers by itself (domain errors carry their own).
CODES = {
    400: "refused",
    401: "sign_in_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}

_STATUSES = {status.value for status in HTTPStatus}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at this path, for the `Allow` header of a 405 (Starlette
    names only the first route that matched the path, and several routes share most paths)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _violation(exc: IntegrityError) -> str:
    """'foreign_key', 'unique' or 'other', from PostgreSQL's SQLSTATE or SQLite's message."""
    state = getattr(exc.orig, "sqlstate", None)
    text = str(exc.orig)
    if state == "23503" or text.startswith("FOREIGN KEY constraint failed"):
        return "foreign_key"
    if state == "23505" or text.startswith("UNIQUE constraint failed"):
        return "unique"
    return "other"


def _constraint(exc: IntegrityError) -> str | None:
    """The constraint's name (never the values: the message would log them)."""
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def status_for(exc: DomainError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


def _respond(request: Request, status: int, message: str, *, errors: list[dict[str, object]] | None = None,
             code: str | None = None, headers: dict[str, str] | None = None,
             params: dict[str, object] | None = None) -> Response:
    """An error the web layer finds by itself, worded as a domain error and answered the one way."""
    error = DomainError(message, code=code or CODES.get(status, "error"), params=params)
    if errors is not None:
        error.errors = errors  # type: ignore[attr-defined]
    return error_pages.respond(request, status, error, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return error_pages.respond(request, status_for(exc), exc)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> Response:
        if isinstance(exc, NotStored):
            return _respond(request, 404, N_("That file is not in the hotline's storage."), code="not_found")
        log.error("storage unavailable: %s", exc, extra={"path": request.url.path})
        return _respond(request, 503, N_("The hotline's file storage cannot be reached; try again in a minute."),
                        code="storage_unavailable", headers={"Retry-After": "30"})

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _respond(request, 422, N_("Some fields are not valid; see errors for each field."), errors=errors,
                        code="invalid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # A route's own sentence, else the status's title (Starlette's English "Not Found" is not ours).
        standard = exc.detail == HTTPStatus(exc.status_code).phrase if exc.status_code in _STATUSES else True
        detail = exc.detail if isinstance(exc.detail, str) and not standard else \
            error_pages.EXPLANATIONS.get(exc.status_code) or error_pages.TITLES.get(exc.status_code,
                                                                                    error_pages.TITLES[400])
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and exc.detail == "Method Not Allowed":  # the router's, not a route's own
            headers["Allow"] = ", ".join(allowed_methods(request))
        return _respond(request, exc.status_code, detail, headers=headers or None)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        # The database's own constraints are the last check of what a request names: an id of
        # nothing (a foreign key) or a second copy of something unique, often written by a
        # concurrent request between the service's check and its insert.
        kind = _violation(exc)
        log.warning("refused by a database constraint: %s", kind,
                    extra={"path": request.url.path, "constraint": _constraint(exc)})
        if kind == "foreign_key":
            return _respond(request, 422, N_("Something this request names (an id) does not exist, or was removed "
                                             "meanwhile; check the ids you sent."), code="unknown_reference")
        if kind == "unique":
            return _respond(request, 409, N_("That exists already (perhaps someone made it a moment ago); reload "
                                             "and check."), code="already_exists")
        return await _unexpected(request, exc)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        log.warning("refused by the database as a value it cannot hold", extra={"path": request.url.path})
        return _respond(request, 422, N_("A value is not one the database can hold: text with a NUL character, "
                                         "text too long or a number out of range; check what you sent."),
                        code="invalid_value")

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The browser left before its request arrived whole (a person moved on while a form was
        # still being sent): no one to answer and nothing wrong with the hub.
        log.info("the client left before its request arrived", extra={"path": request.url.path,
                                                                     "method": request.method})
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
        return _respond(request, 500, N_("An unexpected error happened; it has been logged. Please try again."),
                        code="internal")
