"""`create_app()`: settings, database, event bus, workers, middleware and every router, in one place."""

from __future__ import annotations

import importlib
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from core import config, db
from core.config import Settings


# Every package's routers, mounted here once. A package adds "module:attribute" to this list.
ROUTERS = (
    "tickets.api:router",
    "tickets.api_customers:router",
    "telephony.webhooks:router",
    "telephony.api:router",
    "telephony.api_controls:router",
    "scheduling.api:router",
    "qa.api:router",
)


def _routers() -> list[APIRouter]:
    found = []
    for spec in ROUTERS:
        module_name, _, attribute = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a package whose router is not written yet
        found.append(getattr(module, attribute))
    return found


def create_app(settings: Settings | None = None, *, start_background: bool = True) -> FastAPI:
    if settings is None:
        settings = config.get_settings()
    config.validate_for_start(settings)
    config.configure(settings)
    from core.logs import setup_logging

    setup_logging(settings)
    if start_background and not settings.is_production:
        # The embedded mode keeps its own database current; production runs `hotline db upgrade`.
        from hotline import migrate

        migrate.upgrade(settings.effective_database_url)
    db.get_engine()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        from core.events import close_bus, configure_bus
        from hotline import worker

        configure_bus(settings)
        worker.configure(settings)
        embedded = worker.start(settings) if start_background and not settings.broker_url else None
        try:
            yield
        finally:
            if embedded is not None:
                embedded.stop()
            close_bus()

    app = FastAPI(title="Hotline", version="0.1.0", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.settings = settings

    from hotline.errors import install_error_handlers
    from hotline.health import router as health_router

    install_error_handlers(app)
    app.include_router(health_router)
    for router in _routers():
        app.include_router(router)
    from core.csrf import CSRFMiddleware
    from agent_ui import mount_ui
    mount_ui(app)
    app.add_middleware(CSRFMiddleware)
    return app
