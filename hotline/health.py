"""`/healthz`: is the database reachable, and the broker (Redis, or the embedded worker)?"""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from core import db
from core.config import get_settings

router = APIRouter(tags=["health"])


def _check_database() -> dict[str, object]:
    started = time.perf_counter()
    try:
        with db.get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_broker() -> dict[str, object]:
    settings = get_settings()
    if not settings.broker_url:
        return {"ok": True, "kind": "embedded"}
    started = time.perf_counter()
    try:
        import redis

        client = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "kind": "redis", "error": type(exc).__name__}
    return {"ok": True, "kind": "redis", "ms": round((time.perf_counter() - started) * 1000, 2)}


@router.get("/healthz")
def healthz() -> JSONResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    ok = all(bool(c["ok"]) for c in checks.values())
    return JSONResponse({"ok": ok, "checks": checks}, status_code=200 if ok else 503)
