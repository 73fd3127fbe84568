"""`/healthz`: is the database reachable, and the broker (Redis, or the embedded worker)? Parts
of a process that run beside the web server (the demo's traffic thread) register a check too.
It also says whether a worker ran its heartbeat lately, for monitoring."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from core import db, worker
from core.config import get_settings

router = APIRouter(tags=["health"])

Check = Callable[[], dict[str, object]]
_components: dict[str, Check] = {}
_components_lock = threading.Lock()


def register_component(name: str, check: Check) -> None:
    """Report `check()` (a dict with at least "ok") on /healthz under `name` until unregistered."""
    with _components_lock:
        _components[name] = check


def unregister_component(name: str) -> None:
    with _components_lock:
        _components.pop(name, None)


def _check_component(check: Check) -> dict[str, object]:
    try:
        return dict(check())
    except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy component
        return {"ok": False, "error": type(exc).__name__}


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


def _workers() -> dict[str, object]:
    """Whether any worker ran `core.heartbeat` lately. Not part of "ok": a web process serves
    pages while the workers restart, so the load balancer must keep it; monitoring reads this."""
    try:
        with db.session_scope(reader=True) as session:
            seen = worker.last_heartbeat(session)
            alive = worker.worker_alive(session)
    except Exception as exc:  # noqa: BLE001 - the database check above reports the failure
        return {"alive": None, "error": type(exc).__name__}
    return {"alive": alive, "last_seen": seen.isoformat() if seen is not None else None}


@router.get("/healthz")
def healthz() -> JSONResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    with _components_lock:
        components = dict(_components)
    checks.update({name: _check_component(check) for name, check in components.items()})
    ok = all(bool(c["ok"]) for c in checks.values())
    return JSONResponse({"ok": ok, "checks": checks, "workers": _workers()}, status_code=200 if ok else 503)
