"""Recordings: callbacks attach each to its call and ticket; a task copies the media into the
hotline's storage (core.storage: a shared folder or object storage, so every host reads it),
checks size and sha256, and only then deletes it at Twilio (a sweep retries what failed);
people with the right listen through the hub, every listen audited."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock, keyring, listening
from core.audit import record as audit
from core.db import add_as_loaded, insert_unless_present, session_scope, write_locked
from core.errors import NotFound
from core.leases import LeaseKeeper
from core.models import User
from core.storage import StorageError, get_storage
from core.worker import enqueue_named
from telephony import calls
from telephony.gateway import GatewayError, get_gateway
from telephony.models import RECORDING_STATUS_RANK, Call, Recording
from tickets import customer_keys
from tickets import service as ticket_service

__all__ = ["on_callback", "on_voicemail_done", "copy_recording", "claim_copy", "pending_copies", "get_for_listening",
           "get_by_ref", "media_key_for", "renew_copy", "COPY_LEASE", "COPY_RENEW_EVERY"]

log = logging.getLogger("hotline.telephony.recordings")
RETRY_DELAYS = (60, 300, 900, 3600, 6 * 3600)
# How long a claim on a recording's copy lasts unless renewed: the worker copying renews it every
# COPY_RENEW_EVERY while the copy runs (download, store, verify, delete: seconds as a rule, but a
# slow carrier or storage with the retries can take minutes), so a claim left by a worker that
# died lapses within COPY_LEASE, and the recordings sweep takes the copy then.
COPY_LEASE = timedelta(seconds=30)
COPY_RENEW_EVERY = timedelta(seconds=10)
WAV_HEADER_BYTES = 44


def get_by_ref(session: Session, *, recording_sid: str) -> Recording | None:
    return session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))


def _locked(session: Session, sid: str) -> Recording | None:
    """The recording, read under its row lock (`FOR NO KEY UPDATE`; SQLite's serialised writer
    holds the whole database already) and as it is under the lock. Two deliveries of one callback
    at once take their turns: the second sees what the first did (attached, copy asked for) and
    does nothing again. Before, both read it unattached and both attached it; the second's
    reference on the ticket broke a unique index, and Twilio was answered 409."""
    return session.scalar(select(Recording).where(Recording.recording_sid == sid)
                          .with_for_update(key_share=True, of=Recording).execution_options(populate_existing=True))


def _upsert(session: Session, sid: str, call: Call | None, kind: str) -> Recording:
    """The recording, locked (_locked); made (in-progress) if it is not there yet."""
    recording = _locked(session, sid)
    if recording is not None:
        return recording
    recording = Recording(recording_sid=sid, call_id=call.id if call else None, kind=kind, status="in-progress")
    try:
        with session.begin_nested():
            session.add(recording)
    except IntegrityError:  # made meanwhile by a delivery that has committed since
        recording = _locked(session, sid)
        assert recording is not None
    return recording


def _insert_first(session: Session, sid: str, call: Call | None, kind: str, params: Mapping[str, str]) -> Recording:
    """The recording of a first callback (in-progress), written in one statement as that
    callback leaves it: INSERT ... ON CONFLICT DO NOTHING RETURNING id, the row put in the session
    as loaded, so nothing more is written for it. A repeated callback finds the row (_upsert)."""
    now = clock.now()
    row: dict[str, Any] = {column.key: None for column in Recording.__table__.columns if column.key != "id"}
    row.update(recording_sid=sid, call_id=call.id if call else None, kind=kind, status="in-progress",
               source=params.get("RecordingSource") or None, channels=_int(params.get("RecordingChannels")),
               twilio_url=params.get("RecordingUrl") or None, copy_attempts=0, created_at=now, updated_at=now)
    new_id = session.execute(insert_unless_present(session, Recording, key="recording_sid"), row).scalar()
    if new_id is None:
        return _upsert(session, sid, call, kind)
    return add_as_loaded(session, Recording, {"id": new_id, **row})


def _int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() and int(value) >= 0 else None


def on_callback(session: Session, *, params: Mapping[str, str], kind: str = "call") -> Recording | None:
    """A recording status callback (repeats, reordering and concurrent deliveries are harmless:
    the recording is changed under its row lock, and its status only moves on)."""
    sid = params.get("RecordingSid")
    if not sid:
        return None
    call = calls.get_by_sid(session, call_sid=params.get("CallSid"))
    if call is None and params.get("CallSid"):
        call, _ = calls.open_inbound(session, params={"CallSid": params["CallSid"]}, degraded=True)
    calls.log_event(session, kind="recording", params=params, call=call)
    kind = "voicemail" if kind == "voicemail" or params.get("RecordingSource") == "RecordVerb" else "call"
    status = params.get("RecordingStatus") or "completed"
    # A recording's first callback (in-progress) creates it: inserted as it leaves it. Later
    # ones find it first (an INSERT that conflicts would be a statement more).
    first = status == "in-progress"
    recording = _insert_first(session, sid, call, kind, params) if first else _upsert(session, sid, call, kind)
    was_completed = recording.status == "completed"
    if RECORDING_STATUS_RANK.get(status, -1) > RECORDING_STATUS_RANK.get(recording.status, -1):
        recording.status = status
    recording.kind = kind
    recording.source = params.get("RecordingSource") or recording.source
    recording.channels = _int(params.get("RecordingChannels")) or recording.channels
    recording.duration_seconds = _int(params.get("RecordingDuration")) if recording.status == "completed" else None
    recording.twilio_url = params.get("RecordingUrl") or recording.twilio_url
    if recording.status == "completed":
        _attach(session, recording, call)
        if recording.copied_at is None and not was_completed:
            # Asked for once, by the callback that completed it (a copy lost on its way is
            # taken by the recordings sweep).
            enqueue_named(session, "telephony.copy_recording", recording.id)
    elif recording.status in ("absent", "failed"):
        log.warning("recording %s ended %s (error %s)", sid, recording.status, params.get("ErrorCode"))
    return recording


def _attach(session: Session, recording: Recording, call: Call | None) -> None:
    if recording.attached_at is not None or call is None:
        return
    if recording.kind == "voicemail":
        site_id = call.site_id
        if site_id is None:
            from telephony import inbound, ivr

            site_id = call.site_id = inbound.site_for(session, ivr.get_config(session), None)
        if site_id is None:
            log.error("voicemail %s kept but no site exists to open its ticket", recording.recording_sid)
            return
        ticket = ticket_service.open_from_voicemail(session, call_sid=call.call_sid,
                                                    recording_ref=recording.recording_sid, site_id=site_id,
                                                    customer_id=call.customer_id, caller_index=call.from_index,
                                                    language=call.language)
        call.ticket_id = call.ticket_id or ticket.id
        recording.ticket_id = ticket.id
    else:
        if call.ticket_id is None:
            log.error("recording %s has no ticket to go on (call %s)", recording.recording_sid, call.id)
            return
        # Set before the ticket's side flushes, so the recording's row is written once.
        recording.ticket_id, recording.attached_at = call.ticket_id, clock.now()
        with session.no_autoflush:
            ticket_service.attach_recording(session, recording_ref=recording.recording_sid, kind="call",
                                            ticket_id=call.ticket_id, call_sid=call.call_sid)
        return
    recording.attached_at = clock.now()


def on_voicemail_done(session: Session, *, params: Mapping[str, str]) -> Recording | None:
    """The `<Record>` action: the voicemail exists (its status callback may come later)."""
    call = calls.get_by_sid(session, call_sid=params.get("CallSid"))
    if call is None:
        call, _ = calls.open_inbound(session, params=params, degraded=True)
    calls.log_event(session, kind="voicemail-done", params=params, call=call)
    sid = params.get("RecordingSid")
    if not sid:
        return None
    recording = _upsert(session, sid, call, "voicemail")
    recording.twilio_url = params.get("RecordingUrl") or recording.twilio_url
    return recording


# Copying into the hotline's storage ----------------------------------------------------------

def media_key_for(recording_sid: str, copied_at: datetime) -> str:
    """The storage key of a recording's media: by month, so a listing stays small."""
    return f"recordings/{copied_at.strftime('%Y/%m')}/{recording_sid}.wav"


def media_key_id(session: Session, recording: Recording) -> str:
    """The data key a recording's media is sealed under: its caller's (a known customer, or the
    owner of the number), else a key of the recording's own, shredded with the customer who
    turns out to own the number."""
    call = recording.call
    key_id = customer_keys.key_for_customer(session, call.customer_id) if call is not None else None
    if key_id is None and call is not None:
        key_id = customer_keys.key_for_number_index(session, call.from_index)
    return key_id or keyring.create_key(session, owner=f"recording:{recording.recording_sid}")


def copy_recording(session: Session, *, recording_id: int) -> Recording | None:
    """Copy the media, verify it, commit that, then delete it at Twilio. Safe to run again at
    any point: a copied file is not fetched twice, a deleted one not deleted twice. No
    transaction is held open while Twilio is asked (it may be slow; SQLite has one writer).
    One copy of a recording at a time: a duplicated callback, the sweep beside the task or a
    task delivered again finds the recording claimed and leaves it (see claim_copy)."""
    recording = session.get(Recording, recording_id)
    if recording is None or recording.status != "completed":
        return recording
    held_until = claim_copy(session, recording_id=recording_id)
    if held_until is None:
        return session.get(Recording, recording_id, populate_existing=True)
    lease = _CopyLease(recording_id, held_until)
    with LeaseKeeper(lease.renew, every=COPY_RENEW_EVERY, name=f"recording {recording_id}"):
        return _copy(session, recording_id)


def _copy(session: Session, recording_id: int) -> Recording | None:
    """copy_recording's work, under its claim."""
    recording = session.get(Recording, recording_id, populate_existing=True)
    assert recording is not None
    gateway = get_gateway()
    sid, copied, deleted = recording.recording_sid, recording.copied_at, recording.deleted_at_twilio_at
    url = (recording.twilio_url or gateway.media_url(sid)).removesuffix(".wav") + ".wav"
    # Sealed as it is written, under the caller's data key (a key of its own for an unknown caller).
    seal = media_key_id(session, recording) if copied is None else None
    session.commit()
    storage = get_storage()
    if copied is None:
        key = media_key_for(sid, clock.now())
        # The download lands in a private scratch file on this host; only a whole, checked copy
        # goes into the storage, under its final key in one write.
        with tempfile.TemporaryDirectory(prefix="hotline-recording-") as scratch:
            partial = Path(scratch) / f"{sid}.part"
            try:
                size, digest = gateway.download_media(url, partial)
                if size <= WAV_HEADER_BYTES or partial.stat().st_size != size:
                    raise GatewayError("The downloaded media is empty or changed while written.")
                stored = storage.put_file(key, str(partial), seal=seal)
            except GatewayError as exc:
                return _failed(session, recording_id, exc.message)
            except StorageError as exc:
                return _failed(session, recording_id, f"the storage refused the copy: {exc}")
        if (stored.size, stored.sha256) != (size, digest):
            storage.delete(key)
            return _failed(session, recording_id, "the stored copy differs from the download; copying again")
        recording = session.get(Recording, recording_id, populate_existing=True)
        if recording is None:  # its row went meanwhile: the copy would belong to nobody
            storage.delete(key)
            return None
        recording.media_key, recording.size_bytes, recording.sha256 = key, size, digest
        recording.copied_at, recording.last_error = clock.now(), None  # still claimed: the delete follows
        session.commit()  # the copy is ours before Twilio's is deleted
    if deleted is None:
        recording = session.get(Recording, recording_id, populate_existing=True)
        if recording is None:
            return None
        try:  # read back from the storage: the copy any host will serve is the one checked
            intact = recording.media_key is not None and storage.sha256(recording.media_key) == recording.sha256
        except StorageError:
            intact = False
        if not intact:
            recording.copied_at = None
            return _failed(session, recording_id, "the stored copy is missing or altered; copying again")
        session.commit()
        try:
            gateway.delete_recording(sid)
        except GatewayError as exc:
            return _failed(session, recording_id, exc.message)
        recording = session.get(Recording, recording_id, populate_existing=True)
        if recording is None:
            return None
        recording.deleted_at_twilio_at = clock.now()
    recording.next_attempt_at = None  # the claim ends with the work done
    return recording


def claim_copy(session: Session, *, recording_id: int) -> datetime | None:
    """Claim the recording's copy for COPY_LEASE (a conditional UPDATE of `next_attempt_at`,
    committed at once): when the claim lapses unless renewed, or None if another worker holds
    it, or it is not due. Two copies of one recording at once undid each other: one downloaded
    after the other had deleted Twilio's media (refused), or verified the stored copy while the
    other was rewriting it (and took it for lost). A worker that dies mid-copy lets the claim
    lapse; the sweep takes it then."""
    now = clock.now()
    until = now + COPY_LEASE
    claimed = session.execute(
        update(Recording).where(Recording.id == recording_id, Recording.status == "completed",
                                or_(Recording.copied_at.is_(None), Recording.deleted_at_twilio_at.is_(None)),
                                or_(Recording.next_attempt_at.is_(None), Recording.next_attempt_at <= now))
        .values(next_attempt_at=until).execution_options(synchronize_session=False))
    session.commit()
    return until if claimed.rowcount else None  # type: ignore[attr-defined]


def renew_copy(session: Session, *, recording_id: int, held_until: datetime) -> datetime | None:
    """Renew a claim on a recording's copy for COPY_LEASE from now, if it is still the one that
    lapses at `held_until` (this worker's: a claim taken over after a lapse, or ended by the copy,
    has another value). The new lapse time, or None. Committed at once."""
    until = clock.now() + COPY_LEASE
    renewed = session.execute(
        update(Recording).where(Recording.id == recording_id, Recording.next_attempt_at == held_until)
        .values(next_attempt_at=until).execution_options(synchronize_session=False))
    session.commit()
    return until if renewed.rowcount else None  # type: ignore[attr-defined]


class _CopyLease:
    """The claim one copy_recording holds, renewed by its LeaseKeeper in a session of its own."""

    def __init__(self, recording_id: int, held_until: datetime) -> None:
        self.recording_id, self.held_until = recording_id, held_until

    def renew(self) -> bool:
        with session_scope() as session:
            write_locked(session)
            until = renew_copy(session, recording_id=self.recording_id, held_until=self.held_until)
        if until is None:
            return False
        self.held_until = until
        return True


def _failed(session: Session, recording_id: int, message: str) -> Recording:
    recording = session.get(Recording, recording_id, populate_existing=True)
    assert recording is not None
    delay = RETRY_DELAYS[min(recording.copy_attempts, len(RETRY_DELAYS) - 1)]
    recording.copy_attempts += 1
    recording.last_error = message[:500]
    recording.next_attempt_at = clock.now() + timedelta(seconds=delay)
    log.warning("recording %s not copied yet (attempt %d): %s", recording.recording_sid, recording.copy_attempts,
                message)
    return recording


def pending_copies(session: Session, *, limit: int = 100) -> list[int]:
    """Completed recordings not yet copied or not yet deleted at Twilio, due for a try."""
    now = clock.now()
    query = (select(Recording.id).where(Recording.status == "completed",
                                        or_(Recording.copied_at.is_(None), Recording.deleted_at_twilio_at.is_(None)),
                                        or_(Recording.next_attempt_at.is_(None), Recording.next_attempt_at <= now))
             .order_by(Recording.id).limit(limit))
    return list(session.scalars(query))


# Listening ------------------------------------------------------------------------------------

def get_for_listening(session: Session, *, recording_id: int, user: User, source_ip: str | None = None,
                      audit_listen: bool = True) -> Recording:
    """The recording if `user` may hear it (`core.listening`, the one rule every audio route
    uses). Each listen is written to the audit trail."""
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise NotFound("No such recording.")
    call = recording.call
    listening.require_hear(session, user=user, source_ip=source_ip, recorded=listening.Recorded(
        recording.id, agent_id=call.agent_id if call else None, site_id=call.site_id if call else None,
        ticket_id=recording.ticket_id))
    if recording.media_key is None or not get_storage().exists(recording.media_key):
        raise NotFound("The recording is not in the hotline's storage yet; try again in a minute.")
    if audit_listen:
        audit(session, action="recording.listened", actor_id=user.id, actor_name=user.username,
              object_type="recording", object_id=recording.id, source_ip=source_ip,
              details={"call_id": recording.call_id, "ticket_id": recording.ticket_id, "kind": recording.kind})
    return recording
