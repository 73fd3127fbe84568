"""One place that turns errors into responses: JSON for the API and webhooks, an HTML page for
people, with the domain errors mapped to their status codes."""

from __future__ import annotations

import html
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.auth import is_api_operation, is_api_request
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

TITLES = {
    400: "The request could not be done",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Changed in the meantime",
    422: "Some fields need attention",
    429: "Too many requests",
    500: "Something went wrong on our side",
    503: "Temporarily unavailable",
}


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


def error_page(status: int, detail: str) -> HTMLResponse:
    title = TITLES.get(status, "Error")
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{status} · {html.escape(title)} · Hotline</title><link rel="stylesheet" href="/static/css/hotline.css"></head>
<body class="error-page"><main class="card narrow" role="main">
<h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>
<p><a class="button" href="/">Back to Hotline</a></p></main></body></html>"""
    return HTMLResponse(body, status_code=status)


def _respond(request: Request, status: int, detail: str, *, errors: list[dict[str, object]] | None = None,
             code: str | None = None, headers: dict[str, str] | None = None,
             params: dict[str, object] | None = None) -> Response:
    if is_api_request(request) or is_api_operation(request):
        content: dict[str, object] = {"detail": detail, "code": code or CODES.get(status, "error")}
        if errors is not None:
            content["errors"] = errors
        if params:
            content["params"] = params
        return JSONResponse(content, status_code=status, headers=headers)
    response = error_page(status, detail)
    if headers:
        response.headers.update(headers)
    return response


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        errors = getattr(exc, "errors", None)
        return _respond(request, status_for(exc), exc.message, errors=errors, code=exc.code, params=exc.params)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> Response:
        if isinstance(exc, NotStored):
            return _respond(request, 404, "That file is not in the hotline's storage.", code="not_found")
        log.error("storage unavailable: %s", exc, extra={"path": request.url.path})
        return _respond(request, 503, "The hotline's file storage cannot be reached; try again in a minute.",
                        code="storage_unavailable", headers={"Retry-After": "30"})

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _respond(request, 422, "Some fields are not valid; see errors for each field.", errors=errors,
                        code="invalid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
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
            return _respond(request, 422, "Something this request names (an id) does not exist, or was removed "
                            "meanwhile; check the ids you sent.", code="unknown_reference")
        if kind == "unique":
            return _respond(request, 409, "That exists already (perhaps someone made it a moment ago); reload "
                            "and check.", code="already_exists")
        return await _unexpected(request, exc)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        log.warning("refused by the database as a value it cannot hold", extra={"path": request.url.path})
        return _respond(request, 422, "A value is not one the database can hold: text with a NUL character, "
                        "text too long or a number out of range; check what you sent.", code="invalid_value")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
        return _respond(request, 500, "An unexpected error happened; it has been logged. Please try again.",
                        code="internal")
