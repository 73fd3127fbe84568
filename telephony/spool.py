"""Webhooks kept in the hotline's storage while the database is unreachable, so nothing a caller
leaves is lost: each is encrypted with the data key (it holds the caller's number) and replayed,
in arrival order, by a sweep on any worker once the database answers again (the storage port is
shared by every host, so the worker need not be where the webhook arrived)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from core import clock
from core.config import get_settings
from core.db import session_scope, write_locked
from core.storage import NotStored, get_storage

__all__ = ["DATABASE_DOWN", "PREFIX", "UNREADABLE_PREFIX", "pending", "replay", "save"]

log = logging.getLogger("hotline.telephony.spool")
# The errors that mean "the database cannot be reached", as opposed to a bug.
DATABASE_DOWN = (OperationalError, InterfaceError)


PREFIX = "spool/twilio/"
UNREADABLE_PREFIX = "spool/twilio-unreadable/"


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in get_settings().data_key_values()])


def save(kind: str, params: Mapping[str, Any], *, query: Mapping[str, Any] | None = None) -> str:
    """Store one webhook in the spool (in one write: a half-written one is never replayed);
    returns its key. Keys sort in arrival order (nanoseconds first)."""
    payload = json.dumps({"kind": kind, "params": dict(params), "query": dict(query or {}),
                          "received_at": clock.now().isoformat()}, ensure_ascii=False)
    key = f"{PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}-{kind}.spool"
    get_storage().put(key, _fernet().encrypt(payload.encode()))
    log.warning("database unreachable: %s webhook spooled for replay", kind)
    return key


def pending() -> list[str]:
    """The keys of the spooled webhooks not yet replayed, oldest first."""
    return [key for key in get_storage().list(PREFIX) if key.endswith(".spool")]


Handler = Callable[[Session, dict[str, str], dict[str, str]], None]


def replay(handlers: Mapping[str, Handler]) -> int:
    """Apply spooled webhooks in order, each in its own unit of work; stops at the first sign the
    database is still down. Returns how many were applied."""
    applied = 0
    storage = get_storage()
    for key in pending():
        try:
            sealed = storage.get(key)
        except NotStored:  # another worker replayed it meanwhile
            continue
        try:
            record = json.loads(_fernet().decrypt(sealed))
        except (InvalidToken, ValueError):
            name = key.removeprefix(PREFIX)
            log.error("spooled webhook %s cannot be read (key retired?); moved aside", name)
            storage.put(UNREADABLE_PREFIX + name, sealed)
            storage.delete(key)
            continue
        handler = handlers.get(record["kind"])
        if handler is None:
            log.info("spooled %s webhook needs no replay", record["kind"])
            storage.delete(key)
            continue
        try:
            with session_scope() as session:
                write_locked(session)
                handler(session, record["params"], record.get("query") or {})
        except DATABASE_DOWN:
            return applied
        storage.delete(key)
        applied += 1
    return applied
