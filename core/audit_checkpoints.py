"""The audit trail's head (sequence number and hash) noted outside the database: one signed JSON
line appended to a checkpoint file every minute (beat's sweep) and when a process stops, and
optionally shipped to another machine. Removing the newest entries, or all of them, leaves a
valid but shorter chain in the database; `verify` checks the trail still reaches every
checkpoint and names the entries that are missing.

A line is {"seq", "hash", "at", "sig"}: `sig` is an HMAC-SHA256 keyed by HOTLINE_SECRET_KEY, so
someone with the database's rights but not the secret can neither forge a checkpoint nor edit
one unseen. Removing lines from the file's end goes unseen here; a shipped copy, or the
checkpoints' staleness (`verify` warns when the newest is over ten minutes old), catches that."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.audit import AuditEntry, VerifyResult, verify
from core.config import get_settings
from core.crypto import derive_key

log = logging.getLogger("hotline.audit")

STALE_AFTER = timedelta(minutes=10)
_TAIL_BYTES = 4096


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: datetime


@dataclass(frozen=True)
class CheckpointVerdict:
    """`verify` against the checkpoints: the trail's result, the newest checkpoint, and warnings
    that do not break the trail (no checkpoint file, checkpoints stopped)."""

    result: VerifyResult
    newest: Checkpoint | None
    checkpoints: int
    warnings: list[str] = field(default_factory=list)


def checkpoint_path() -> Path:
    settings = get_settings()
    return settings.audit_checkpoint_file or (settings.var_dir / "audit-checkpoints.jsonl")


def _key() -> bytes:
    return derive_key(get_settings().secret(), "audit-checkpoint/v1")


def _signed_text(seq: int, hash_: str, at: str) -> bytes:
    return json.dumps({"seq": seq, "hash": hash_, "at": at}, sort_keys=True, separators=(",", ":")).encode()


def _line(checkpoint: Checkpoint) -> str:
    at = checkpoint.at.isoformat(timespec="seconds")
    sig = hmac.new(_key(), _signed_text(checkpoint.seq, checkpoint.hash, at), hashlib.sha256).hexdigest()
    return json.dumps({"seq": checkpoint.seq, "hash": checkpoint.hash, "at": at, "sig": sig},
                      separators=(",", ":")) + "\n"


def _parse(text: str) -> Checkpoint:
    """A checkpoint line, or ValueError when it is malformed or its signature does not match."""
    data = json.loads(text)
    seq, hash_, at, sig = data["seq"], data["hash"], data["at"], data["sig"]
    if not isinstance(seq, int) or not isinstance(hash_, str) or not isinstance(at, str) or not isinstance(sig, str):
        raise ValueError("malformed")
    expected = hmac.new(_key(), _signed_text(seq, hash_, at), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise ValueError("signature")
    return Checkpoint(seq, hash_, datetime.fromisoformat(at))


def head(session: Session) -> tuple[int, str] | None:
    row = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row else None


def _last(path: Path) -> Checkpoint | None:
    """The file's last checkpoint (read from its end), or None; a damaged last line reads as none."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return None
    for text in reversed(lines):
        if text.strip():
            try:
                return _parse(text)
            except (ValueError, KeyError, TypeError):
                return None
    return None


def write_checkpoint(session: Session, *, path: Path | None = None) -> Checkpoint | None:
    """Append the trail's head to the checkpoint file (and ship it) unless the last line already
    notes it. A trail shorter than its last checkpoint is never checkpointed: that would bless a
    truncation; it is logged instead. Returns the checkpoint written, or None."""
    path = path or checkpoint_path()
    current = head(session)
    if current is None:
        last = _last(path)
        if last is not None:
            log.error("audit trail is empty but its last checkpoint noted entry %s; run `hotline audit verify`",
                      last.seq)
        return None
    last = _last(path)
    if last is not None and (last.seq, last.hash) == current:
        return None
    if last is not None and current[0] < last.seq:
        log.error("audit trail ends at entry %s but its last checkpoint noted entry %s; run `hotline audit verify`",
                  current[0], last.seq)
        return None
    checkpoint = Checkpoint(current[0], current[1], clock.now())
    line = _line(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write() on an O_APPEND descriptor: lines from several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    _ship(line)
    return checkpoint


def _ship(line: str) -> None:
    """POST the signed line to HOTLINE_AUDIT_CHECKPOINT_URL (another machine keeps a copy the
    database's owner cannot reach). A failure is logged; the next checkpoint is shipped anyway."""
    url = get_settings().audit_checkpoint_url
    if not url:
        return
    try:
        response = httpx.post(url, content=line.encode(), headers={"Content-Type": "application/json"}, timeout=5)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("audit checkpoint not shipped: %s", type(exc).__name__)


def read_checkpoints(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint in the file, and a problem for each line that is not a genuine one."""
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                checkpoints.append(_parse(text))
            except (ValueError, KeyError, TypeError):
                problems.append(f"line {number} of the checkpoint file {path} is not a genuine checkpoint "
                                "(altered, or written with another HOTLINE_SECRET_KEY)")
    return checkpoints, problems


def verify_with_checkpoints(session: Session, *, path: Path | None = None) -> CheckpointVerdict:
    """The whole chain checked (`core.audit.verify`) against every checkpoint of the file: each
    noted entry still the one noted, and the trail reaching the newest, or the missing entries named."""
    path = path or checkpoint_path()
    if not path.exists():
        return CheckpointVerdict(verify(session), None, 0, [
            f"no checkpoint file at {path}: removal of the newest entries cannot be detected"])
    checkpoints, problems = read_checkpoints(path)
    if problems:
        return CheckpointVerdict(VerifyResult(False, 0, None, "; ".join(problems)), None, len(checkpoints))
    noted: dict[int, str] = {}
    for checkpoint in checkpoints:
        if noted.get(checkpoint.seq, checkpoint.hash) != checkpoint.hash:
            return CheckpointVerdict(VerifyResult(False, 0, checkpoint.seq, (
                f"the checkpoint file notes two different entries {checkpoint.seq}: the trail was rewritten")),
                None, len(checkpoints))
        noted[checkpoint.seq] = checkpoint.hash
    newest = max(checkpoints, key=lambda c: (c.seq, c.at), default=None)
    result = verify(session, checkpoints=noted)
    warnings = []
    if newest is not None and not result.ok and result.first_bad_seq is not None \
            and result.first_bad_seq > (result.last_seq or 0):
        result = VerifyResult(result.ok, result.checked, result.first_bad_seq,
                              f"{result.reason} (checkpoint of {newest.at.isoformat(timespec='seconds')})",
                              result.last_seq, result.last_hash)
    latest = max((c.at for c in checkpoints), default=None)
    if latest is not None and clock.now() - latest > STALE_AFTER:
        warnings.append(f"the newest checkpoint was written at {latest.isoformat(timespec='seconds')}: checkpoints "
                        "stopped (is beat running?) or the file's end was cut")
    return CheckpointVerdict(result, newest, len(checkpoints), warnings)
