"""Webhooks kept on disk while the database is unreachable, so nothing a caller leaves is lost:
each is encrypted with the data key (it holds the caller's number) and replayed, in arrival
order, by a sweep once the database answers again."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from core import clock
from core.config import get_settings
from core.db import session_scope, write_locked

__all__ = ["DATABASE_DOWN", "pending", "replay", "save", "spool_dir"]

log = logging.getLogger("hotline.telephony.spool")
# The errors that mean "the database cannot be reached", as opposed to a bug.
DATABASE_DOWN = (OperationalError, InterfaceError)


def spool_dir() -> Path:
    return get_settings().var_dir / "spool" / "twilio"


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in get_settings().data_key_values()])


def save(kind: str, params: Mapping[str, Any], *, query: Mapping[str, Any] | None = None) -> Path:
    """Write one webhook to the spool (atomically: a half-written file is never replayed)."""
    folder = spool_dir()
    folder.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"kind": kind, "params": dict(params), "query": dict(query or {}),
                          "received_at": clock.now().isoformat()}, ensure_ascii=False)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}-{kind}"
    temporary = folder / (name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(_fernet().encrypt(payload.encode()))
        handle.flush()
        os.fsync(handle.fileno())
    final = folder / (name + ".spool")
    os.replace(temporary, final)
    log.warning("database unreachable: %s webhook spooled for replay", kind)
    return final


def pending() -> list[Path]:
    folder = spool_dir()
    return sorted(folder.glob("*.spool")) if folder.exists() else []


Handler = Callable[[Session, dict[str, str], dict[str, str]], None]


def replay(handlers: Mapping[str, Handler]) -> int:
    """Apply spooled webhooks in order, each in its own unit of work; stops at the first sign the
    database is still down. Returns how many were applied."""
    applied = 0
    for path in pending():
        try:
            record = json.loads(_fernet().decrypt(path.read_bytes()))
        except (InvalidToken, ValueError):
            log.error("spooled webhook %s cannot be read (key retired?); moved aside", path.name)
            path.rename(path.with_suffix(".unreadable"))
            continue
        handler = handlers.get(record["kind"])
        if handler is None:
            log.info("spooled %s webhook needs no replay", record["kind"])
            path.unlink(missing_ok=True)
            continue
        try:
            with session_scope() as session:
                write_locked(session)
                handler(session, record["params"], record.get("query") or {})
        except DATABASE_DOWN:
            return applied
        path.unlink(missing_ok=True)
        applied += 1
    return applied
