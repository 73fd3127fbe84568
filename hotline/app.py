"""`create_app()`: settings, database, event bus, workers, middleware and every router, in one place."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from core import config, db
from core.config import Settings


def _routers() -> list[APIRouter]:
    """Every package's JSON and webhook routers, mounted once (imported here, the composition
    root, so that a missing or broken router fails the start rather than vanishing)."""
    from agent_ui.live import router as live_pages
    from qa.api import router as qa_api
    from scheduling.api import router as scheduling_api
    from telephony.api import router as telephony_api
    from telephony.api_controls import router as call_controls_api
    from telephony.webhooks import router as twilio_webhooks
    from tickets.api import router as tickets_api
    from tickets.api_customers import router as customers_api

    # Twilio's webhooks first: routes are matched in order, and every incoming call is one of them;
    # then the live pages' websocket, which every browser opens (behind some 170 routes, matching
    # it cost more than a millisecond of each connection).
    return [twilio_webhooks, live_pages, tickets_api, customers_api, telephony_api, call_controls_api,
            scheduling_api, qa_api]


_heap_settled = False


def settle_heap() -> None:
    """Once per process, when the app has started: finish the work the first request would
    otherwise do (SQLAlchemy's mapper configuration), then move every object alive so far
    (modules, mappers, routes, templates: some 380,000) into the garbage collector's permanent
    generation.

    Those objects live as long as the process. Left in the oldest generation, each full
    collection walks all of them; under a steady 200 calls/s one comes every few thousand
    requests and stops the process for 100-300 ms, the whole tail of the webhook's latency.
    Frozen, they are skipped; what requests create is collected as before. Each uvicorn worker
    process settles its own heap."""
    global _heap_settled
    if _heap_settled:
        return
    _heap_settled = True
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, start_background: bool = True) -> FastAPI:
    if settings is None:
        settings = config.get_settings()
    config.validate_for_start(settings)
    config.configure(settings)
    from core import passwords
    from core.logs import setup_logging
    from hotline import hooks

    setup_logging(settings)
    passwords.configure(settings)
    hooks.wire()
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
        from agent_ui import live_catchup

        live_catchup.start(app.state)  # what live pages miss between their render and their websocket
        worker.configure(settings)
        embedded = worker.start(settings) if start_background and not settings.broker_url else None
        app.state.embedded_worker = embedded  # a server that stops in steps stops it before the web side
        settle_heap()
        try:
            yield
        finally:
            if embedded is not None:
                embedded.stop()
            live_catchup.stop(app.state)
            close_bus()
            from core.audit_tasks import checkpoint_now

            checkpoint_now()  # the trail's head noted outside the database as the process stops

    # The API's description is served by our own routes, for signed-in people only (or not at all).
    app = FastAPI(title="Hotline", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.settings = settings
    from hotline.api_docs import install_openapi

    install_openapi(app)

    from hotline.errors import install_error_handlers
    from hotline.health import router as health_router

    install_error_handlers(app)
    routers = _routers()
    from agent_ui.routes import router as pages
    from core.api import router as people_api
    from hotline.bounds import bound_router

    for router in (*routers, pages, people_api):
        bound_router(router)  # before they are included: FastAPI reads the parameters then
    app.include_router(routers[0])
    app.include_router(routers[1])
    app.include_router(health_router)
    if settings.api_docs != "off":  # after the webhooks and the websocket, which are matched first
        from hotline.api_docs import router as api_docs_router

        app.include_router(api_docs_router)
    for router in routers[2:]:
        app.include_router(router)
    from agent_ui import mount_ui
    from core.csrf import CSRFMiddleware
    mount_ui(app)
    app.add_middleware(CSRFMiddleware)
    from agent_ui.live_frames import FrameAccess

    app.add_middleware(FrameAccess)  # outermost: it needs the server's own `send`
    return app
