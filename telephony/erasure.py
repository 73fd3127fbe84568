"""Telephony's share of a customer's erasure and of their data key: the numbers in the call log
sealed under the caller's key, and, when the customer is erased, their numbers forgotten and the
media of their calls and voicemails deleted (and the keys of recordings made before the caller
was known shredded with them)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import Text, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from core import keyring
from core.crypto import DATA_KEY_PREFIX
from core.storage import StorageError, get_storage
from telephony.models import Call, Recording
from telephony.recordings import media_key_id
from tickets import customer_keys

__all__ = ["call_key", "forget_customer", "seal_call_numbers", "seal_stored_media"]

log = logging.getLogger("hotline.telephony.erasure")


def call_key(session: Session, call: Call) -> str | None:
    """The data key a call's number goes under: its customer's, or the owner of the number's."""
    return (customer_keys.key_for_customer(session, call.customer_id)
            or customer_keys.key_for_number_index(session, call.from_index))


def seal_call_numbers(session: Session, *, limit: int = 1000) -> int:
    """Put the numbers of calls from known customers under their data key. A new call's row is
    written by one plain INSERT before anything is decided (the fast path of the webhook), so it
    starts under the master keys; this runs every few minutes and before every backup."""
    pending = session.scalars(
        select(Call).where(Call.from_number.is_not(None), Call.from_index.is_not(None),
                           type_coerce(Call.from_number, Text).not_like(DATA_KEY_PREFIX + "%"))
        .order_by(Call.id).limit(limit))
    moved = keyring.reseal(session, pending)
    session.flush()
    return moved


def forget_customer(session: Session, *, customer_id: int, phone_indexes: list[str]) -> dict[str, Any]:
    """An erased customer's calls: numbers and number indexes cleared, recordings' media deleted
    from the storage (their data keys are shredded too, for any copy). Returns counts for the
    certificate."""
    theirs = Call.customer_id == customer_id
    if phone_indexes:
        theirs = or_(theirs, Call.from_index.in_(phone_indexes))
    call_ids = list(session.scalars(select(Call.id).where(theirs)))
    storage = get_storage()
    recordings = list(session.scalars(select(Recording).where(Recording.call_id.in_(call_ids)))) if call_ids else []
    shredded: set[str] = set()
    for recording in recordings:
        if recording.media_key is None:
            continue
        try:
            key_id = storage.sealed_key_id(recording.media_key)
            if key_id:
                shredded.add(key_id)
            storage.delete(recording.media_key)
        except StorageError as exc:  # the key is shredded below: the media is unreadable anyway
            log.warning("recording %s media not deleted: %s", recording.id, exc)
        recording.media_key, recording.sha256 = None, None
    keyring.shred(session, key_ids=shredded)
    if call_ids:
        session.execute(update(Call).where(Call.id.in_(call_ids)).values(from_number=None, from_index=None)
                        .execution_options(synchronize_session=False))
    session.flush()
    return {"calls": len(call_ids), "recordings": len(recordings), "media_keys": len(shredded)}


def seal_stored_media(session: Session, *, batch: int = 200) -> int:
    """Seal recordings stored before media was encrypted (once, after upgrading): each is read,
    written again sealed under its caller's data key, and checked against its sha256. Returns
    how many were sealed; safe to run again."""
    storage = get_storage()
    sealed, last_id = 0, 0
    while True:
        rows = list(session.scalars(select(Recording).where(Recording.media_key.is_not(None), Recording.id > last_id)
                                    .order_by(Recording.id).limit(batch)))
        if not rows:
            return sealed
        for recording in rows:
            last_id = recording.id
            key = recording.media_key
            assert key is not None  # the query takes stored recordings only
            if storage.sealed_key_id(key) is not None or not storage.exists(key):
                continue
            plain = storage.get(key)
            stored = storage.put(key, plain, seal=media_key_id(session, recording))
            if stored.sha256 != hashlib.sha256(plain).hexdigest() or storage.sha256(key) != stored.sha256:
                storage.put(key, plain)  # put the clear copy back rather than lose it
                raise StorageError(f"recording {recording.id}: the sealed copy does not read back; left as it was")
            sealed += 1
        session.commit()
