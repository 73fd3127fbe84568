"""The API's description (`/openapi.json`) and its reference page (`/api/docs`), for signed-in
people only: the routes, their parameters and the data shapes tell a stranger where customer data
lives. `HOTLINE_API_DOCS=off` serves neither."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from core.auth import CurrentUser

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
def openapi(request: Request, user: CurrentUser) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document, headers={"Cache-Control": "private, no-store"})


@router.get("/api/docs")
def docs(request: Request, user: CurrentUser) -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="Hotline API", oauth2_redirect_url=None)
    page.headers["Cache-Control"] = "private, no-store"
    return page
