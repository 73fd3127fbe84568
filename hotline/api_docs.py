"""The API's description (`/openapi.json`) and its reference page (`/api/docs`), for signed-in
people only: the routes, their parameters and the data shapes tell a stranger where customer data
lives. `HOTLINE_API_DOCS=off` serves neither.

The reference page is Swagger UI, vendored under /static (the hub runs on closed networks, and the
Content-Security-Policy allows no script or style from elsewhere and no inline script)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
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
