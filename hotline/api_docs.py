"""The API's description (`/openapi.json`) and its reference page (`/api/docs`), for signed-in
people only: the routes, their parameters and the data shapes tell a stranger where customer data
lives. `HOTLINE_API_DOCS=off` serves neither.

The reference page is Swagger UI, vendored under /static (the hub runs on closed networks, and the
Content-Security-Policy allows no script or style from elsewhere and no inline script).

The description tells the truth about failures too: FastAPI declares its own validation body for
422, while every error of the hub is one shape (`Error`, rendered by hotline/errors.py), and an
operation may answer any refusal of the domain, not only 422."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from markupsafe import escape

from core.auth import CurrentUser
from core.csrf import csrf_token_for

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
def openapi(request: Request, user: CurrentUser) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document, headers={"Cache-Control": "private, no-store"})


@router.get("/api/docs")
def docs(request: Request, user: CurrentUser) -> HTMLResponse:
    page = PAGE.format(csrf=escape(csrf_token_for(request)))
    return HTMLResponse(page, headers={"Cache-Control": "private, no-store"})


SWAGGER_UI = "/static/vendor/swagger-ui-5.31.0"
PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hotline API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="/openapi.json" data-csrf="{{csrf}}"></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script src="/static/js/api-docs.js"></script>
</body>
</html>
"""


ERROR_ITEM: dict[str, Any] = {
    "title": "ErrorItem",
    "type": "object",
    "description": "One invalid field: where it is and what is wrong with it.",
    "required": ["loc", "msg"],
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "description": "Where: 'path', 'query', 'header' or 'body' and the field's name or index."},
        "msg": {"type": "string"},
        "type": {"type": "string"},
    },
}

ERROR: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every error the hub answers: what went wrong and what to do (`detail`), a stable `code`, "
                   "each invalid field (`errors`, on 422) and the values a client needs to act (`params`, "
                   "e.g. `current_version` on a stale version).",
    "required": ["detail", "code"],
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorItem"}},
        "params": {"type": "object", "additionalProperties": True},
    },
}

#: What each status means on any operation behind sign-in. Object-level checks, lookups and
#: state rules live in the services (CONVENTIONS.md), so any operation may refuse in each way.
REFUSALS = {
    "400": "The request cannot be done as asked (a rule of the domain); `detail` says why.",
    "401": "Sign in, or send a valid API token (`Authorization: Bearer ...`).",
    "403": "Your role, site or team does not allow this.",
    "404": "Not found, or not yours to see.",
    "409": "It changed meanwhile (a stale `version`: `params.current_version` is the one now) or it exists already.",
    "422": "Some fields are not valid; `errors` names each one.",
    "503": "A service the hub needs (its database, file storage or carrier) cannot be reached; try again.",
}

_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` the corrected description (built once, on first use)."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        if getattr(app.state, "openapi_corrected", None) is None:
            app.state.openapi_corrected = declare_errors(generate())
        return app.state.openapi_corrected

    app.openapi = document  # type: ignore[method-assign]


def declare_errors(document: dict[str, Any]) -> dict[str, Any]:
    """The error body and statuses the hub really answers, on every operation."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR
    schemas["ErrorItem"] = ERROR_ITEM
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            public = path == "/healthz"
            for status, description in REFUSALS.items():
                if public and status != "503":
                    continue
                responses[status] = {"description": description, "content": _ERROR_CONTENT}
    return document
