"""Pages for every role: Jinja2 templates with htmx, live fragments over websockets, static assets."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def _answers(app: FastAPI, path: str) -> bool:
    from starlette.routing import Match

    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


def mount_ui(app: FastAPI) -> None:
    """Static files under /static, every page route, the people API, the translated sign-in
    redirect / refusal pages, and the security headers."""
    from agent_ui import error_pages
    from agent_ui.routes import router
    from agent_ui.security import SecurityHeadersMiddleware
    from core.api import router as people_api

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    # core's JSON routes ride along here unless create_app's router list already has them.
    if not _answers(app, "/api/me"):
        app.include_router(people_api)
    error_pages.install(app)
    app.add_middleware(SecurityHeadersMiddleware)
