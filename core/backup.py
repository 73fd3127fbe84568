"""Backups through the storage port: `backups/<id>/` holds the database (SQLite's online backup
API, or `pg_dump` in custom format), the recordings as stored (sealed), the data keys apart from
the database (wrapped by the master keys) and a manifest. The master keys are never in it unless
sealed with a passphrase the operator gives. Shredding a customer's data key also shreds it in
every kept backup, so restoring an older backup cannot bring an erased customer back. `verify`
restores into a throw-away database and checks the audit trail there; `restore` puts a backup back."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core import audit, clock, jobs, keyring
from core.config import Settings, get_settings
from core.db import get_engine, make_engine, new_session
from core.errors import PermissionDenied
from core.models import Role, User
from core.storage import NotStored, get_storage
from core.storage.base import StorageError
from core.worker import enqueue_named

__all__ = ["BackupError", "BackupInfo", "create", "last_good", "list_backups", "restore", "shred_in_backups",
           "verify"]

log = logging.getLogger("hotline.backup")
PREFIX = "backups/"
MEDIA_PREFIX = "recordings/"

Hook = Callable[[Session], Any]
_BEFORE: list[Hook] = []
_AFTER_RESTORE: list[Hook] = []


# Why a backup failed, for the pages (agent_ui.labels.job_failure); the message has the details.
KEYS_IN_STORAGE, DATABASE, STORAGE, VERIFY = "backup.keys_in_storage", "backup.database", "backup.storage", \
    "backup.verify"
JOB_KIND, JOB_TASK = "backup", "core.backup_now"


class BackupError(RuntimeError):
    """A backup could not be made, checked or restored; the message says why and what to do,
    the code (one of the above) says it to a page in the reader's language."""

    def __init__(self, message: str, *, code: str = DATABASE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BackupInfo:
    id: str
    created_at: str
    database: str
    recordings: int
    size_bytes: int
    master_keys: str
    verified_at: str | None
    verify_ok: bool | None


def before_backup(hook: Hook) -> None:
    """Work done in the database right before each backup (sealing call-log numbers)."""
    if hook not in _BEFORE:
        _BEFORE.append(hook)


def after_restore(hook: Hook) -> None:
    """Work done after a restore (re-applying erasures made since the backup was taken)."""
    if hook not in _AFTER_RESTORE:
        _AFTER_RESTORE.append(hook)


# Database dumps ------------------------------------------------------------------------------

def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _pg_env(url: str) -> tuple[dict[str, str], str]:
    parsed = make_url(url)
    env = {**os.environ, "PGHOST": parsed.host or "127.0.0.1", "PGPORT": str(parsed.port or 5432),
           "PGUSER": parsed.username or "postgres"}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password  # never on the command line, where `ps` shows it
    return env, parsed.database or ""


def _run(argv: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
    except FileNotFoundError:
        raise BackupError(f"{argv[0]} is not installed; install the PostgreSQL client tools") from None
    if done.returncode != 0:
        hint = "; stop the hub (web, workers, beat) before restoring" if "lock timeout" in done.stderr else ""
        raise BackupError(f"{argv[0]} failed: {done.stderr.strip()[-500:]}{hint}")


def _dump_database(settings: Settings, target: Path) -> str:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # consistent while the hub writes
            # The data keys travel apart from the database (see shred_in_backups).
            copy.execute("PRAGMA secure_delete = ON")
            copy.execute("DELETE FROM data_keys")
            copy.commit()
            copy.execute("VACUUM")
        finally:
            copy.close()
            source.close()
        return "sqlite"
    env, name = _pg_env(url)
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--exclude-table-data=data_keys",
          f"--file={target}", name], env)
    return "postgresql"


def _restore_database(kind: str, dump: Path, url: str) -> None:
    if kind == "sqlite":
        if not url.startswith("sqlite"):
            raise BackupError("this backup is of a SQLite database; restore it on the embedded setup")
        source = sqlite3.connect(dump)
        target = sqlite3.connect(_sqlite_path(url), timeout=30)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    if not url.startswith("postgresql"):
        raise BackupError("this backup is of a PostgreSQL database; set HOTLINE_DATABASE_URL to one")
    env, name = _pg_env(url)
    # A table another connection holds would make the restore wait for ever: give up instead.
    env["PGOPTIONS"] = "-c lock_timeout=60000"
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          f"--dbname={name}", str(dump)], env)


# Master keys, only sealed with the operator's passphrase -----------------------------------

def _passphrase_key(passphrase: str, salt: bytes) -> Fernet:
    if len(passphrase) < 12:
        raise BackupError("the passphrase must be at least 12 characters")
    raw = Scrypt(salt=salt, length=32, n=2 ** 15, r=8, p=1).derive(passphrase.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def seal_master_keys(settings: Settings, passphrase: str) -> bytes:
    salt = secrets.token_bytes(16)
    keys = {"data_keys": settings.data_key_values(),
            "blind_index_key": settings.blind_index_key.get_secret_value() if settings.blind_index_key else None,
            "secret_key": settings.secret_key.get_secret_value() if settings.secret_key else None}
    token = _passphrase_key(passphrase, salt).encrypt(json.dumps(keys).encode())
    return json.dumps({"kdf": "scrypt", "salt": base64.b64encode(salt).decode(), "token": token.decode()}).encode()


def open_master_keys(sealed: bytes, passphrase: str) -> dict[str, Any]:
    body = json.loads(sealed)
    try:
        return json.loads(_passphrase_key(passphrase, base64.b64decode(body["salt"])).decrypt(body["token"].encode()))
    except InvalidToken:
        raise BackupError("wrong passphrase for the sealed master keys") from None


def write_master_keys(backup_id: str, passphrase: str, target: Path) -> None:
    """Open a backup's sealed master keys into a new keys file (mode 0600; the embedded mode's
    `keys.json` format), for a restore on a machine that lost them."""
    try:
        sealed = get_storage().inner.get(f"{PREFIX}{backup_id}/master-keys.sealed")
    except NotStored:
        raise BackupError(f"backup {backup_id} holds no master keys (made without --with-master-keys)") from None
    keys = open_master_keys(sealed, passphrase)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{target} exists already; choose a new file") from None
    with os.fdopen(fd, "w") as handle:
        json.dump(keys, handle)


# Create ------------------------------------------------------------------------------------

def _keys_inside_storage(settings: Settings) -> bool:
    if settings.storage_backend != "filesystem":
        return False
    storage_root = settings.effective_storage_dir.resolve()
    keys = settings.effective_keys_dir.resolve()
    return keys == storage_root or storage_root in keys.parents


def create(*, passphrase: str | None = None, include_master_keys: bool = False,
           progress: Callable[[int, int], None] | None = None) -> BackupInfo:
    """Make a backup now; keep the newest HOTLINE_BACKUP_KEEP. The master keys go in only with
    `include_master_keys` and a passphrase to seal them with. `progress(done, total)` hears of
    each step: the database, then each recording."""
    settings = get_settings()
    if include_master_keys and not passphrase:
        raise BackupError("the master keys go into a backup only sealed with a passphrase (--passphrase)")
    if _keys_inside_storage(settings):
        raise BackupError(f"the keys folder {settings.effective_keys_dir} is inside the storage folder; "
                          "move it out (HOTLINE_KEYS_DIR) so backups of the storage never carry the keys",
                          code=KEYS_IN_STORAGE)
    try:
        return _create(settings, passphrase=passphrase, include_master_keys=include_master_keys,
                       progress=progress or (lambda done, total: None))
    except StorageError as exc:
        raise BackupError(f"the backup could not be written to the storage: {exc}", code=STORAGE) from exc
    except sqlite3.Error as exc:
        raise BackupError(f"the database could not be copied: {exc}", code=DATABASE) from exc


def _create(settings: Settings, *, passphrase: str | None, include_master_keys: bool,
            progress: Callable[[int, int], None]) -> BackupInfo:
    storage = get_storage()
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    same = [i for i in _ids() if i.startswith(stamp)]
    backup_id = f"{stamp}-{len(same) + 1:03d}{uuid.uuid4().hex[:4]}"  # in order, even within a second
    base = f"{PREFIX}{backup_id}/"
    with new_session() as session:
        for hook in _BEFORE:
            hook(session)
        session.commit()
        keys = keyring.export_keys(session)
        head = audit.verify(session)
    total = 0
    media = storage.list(MEDIA_PREFIX)
    steps = 1 + len(media)
    progress(0, steps)
    with tempfile.TemporaryDirectory(prefix="hotline-backup-") as scratch:
        dump = Path(scratch) / "database"
        kind = _dump_database(settings, dump)
        db_name = "database.sqlite" if kind == "sqlite" else "database.pgdump"
        stored_db = storage.inner.put_file(base + db_name, str(dump))
        total += stored_db.size
    progress(1, steps)
    recordings = []
    for done, key in enumerate(media, start=2):
        raw = storage.inner.get(key)  # as stored: sealed media stays sealed
        stored = storage.inner.put(base + key, raw)
        recordings.append({"key": key, "size": stored.size, "sha256": stored.sha256})
        total += stored.size
        progress(done, steps)
    keys_blob = json.dumps(keys).encode()
    storage.inner.put(base + "data-keys.json", keys_blob)
    master = "none"
    if include_master_keys and passphrase:
        storage.inner.put(base + "master-keys.sealed", seal_master_keys(settings, passphrase))
        master = "sealed"
    manifest = {"id": backup_id, "created_at": clock.now().isoformat(), "database": kind, "database_file": db_name,
                "database_sha256": stored_db.sha256, "recordings": recordings, "size_bytes": total,
                "master_keys": master, "audit_head": {"seq": head.last_seq, "hash": head.last_hash},
                "verified_at": None, "verify_ok": None}
    storage.inner.put(base + "manifest.json", json.dumps(manifest, indent=1).encode())
    _prune(settings.backup_keep)
    log.info("backup %s made: %d recordings, %.1f MB", backup_id, len(recordings), total / 1e6)
    return _info(manifest)


def _info(manifest: dict[str, Any]) -> BackupInfo:
    return BackupInfo(id=manifest["id"], created_at=manifest["created_at"], database=manifest["database"],
                      recordings=len(manifest["recordings"]), size_bytes=manifest["size_bytes"],
                      master_keys=manifest["master_keys"], verified_at=manifest.get("verified_at"),
                      verify_ok=manifest.get("verify_ok"))


def _manifest(backup_id: str) -> dict[str, Any]:
    try:
        return json.loads(get_storage().inner.get(f"{PREFIX}{backup_id}/manifest.json"))
    except NotStored:
        raise BackupError(f"no backup {backup_id!r}; `hotline backup list` shows them") from None


def _ids() -> list[str]:
    return sorted({key[len(PREFIX):].split("/", 1)[0] for key in get_storage().inner.list(PREFIX)
                   if key.endswith("/manifest.json")})


def list_backups() -> list[BackupInfo]:
    """Backups kept, newest first."""
    return [_info(_manifest(backup_id)) for backup_id in reversed(_ids())]


def last_good() -> BackupInfo | None:
    """The newest backup whose last verification passed, else the newest made (not yet verified)."""
    backups = list_backups()
    verified = [b for b in backups if b.verify_ok]
    return verified[0] if verified else next((b for b in backups if b.verify_ok is None), None)


def _prune(keep: int) -> None:
    storage = get_storage().inner
    for backup_id in _ids()[:-keep] if keep > 0 else []:
        for key in storage.list(f"{PREFIX}{backup_id}/"):
            storage.delete(key)


def run_scheduled() -> str | None:
    """Beat's backup: when the newest is older than HOTLINE_BACKUP_INTERVAL_HOURS (or there is
    none), make one and verify it at once. Returns the new backup's id, None when none was due."""
    from datetime import datetime, timedelta

    hours = get_settings().backup_interval_hours
    if hours <= 0:
        return None
    newest = next(iter(list_backups()), None)
    if newest is not None and clock.now() - datetime.fromisoformat(newest.created_at) < timedelta(hours=hours):
        return None
    with new_session() as session:
        job = jobs.create(session, kind=JOB_KIND, by=None, params={"scheduled": True})
        session.commit()
    run_job(job.id)
    with new_session(reader=True) as session:
        made = jobs.get(session, job_id=job.id).result.get("id")
    return str(made) if made else None


def start(session: Session, *, by: User) -> jobs.Job:
    """A backup made now by the worker, on an administrator's demand; the page follows it."""
    if by.role != Role.admin.value:
        raise PermissionDenied("Only an administrator makes backups.")
    job = jobs.create(session, kind=JOB_KIND, by=by)
    enqueue_named(session, JOB_TASK, job.id)
    return job


def run_job(job_id: int) -> str:
    """A backup as a run of long work (core.jobs): its progress on the run's row, then verified
    at once; a failure is recorded with its code (and logged with the details)."""
    def work(job: jobs.Job, progress: jobs.Progress) -> dict[str, Any]:
        made = None
        try:
            made = create(progress=progress)
            verify(made.id)
        except BackupError as exc:
            log.error("backup %s failed: %s", made.id if made else "not made", exc)
            raise jobs.JobFailed(exc.code, **({"id": made.id} if made else {})) from exc
        return {"id": made.id, "recordings": made.recordings, "size_bytes": made.size_bytes}

    return jobs.run(job_id, work)


# Erasure reaches the backups ---------------------------------------------------------------

def shred_in_backups(key_ids: list[str]) -> int:
    """Shred these data keys in every kept backup (their wrapped copies are dropped, tombstones
    left); returns how many backups held any of them."""
    wanted = set(key_ids)
    storage = get_storage().inner
    reached = 0
    for backup_id in _ids():
        key = f"{PREFIX}{backup_id}/data-keys.json"
        try:
            rows = json.loads(storage.get(key))
        except NotStored:
            continue
        changed = False
        for row in rows:
            if row["id"] in wanted and (row.get("wrapped") or not row.get("shredded")):
                row["wrapped"], row["shredded"] = None, True
                changed = True
        if changed:
            storage.put(key, json.dumps(rows).encode())
            reached += 1
    return reached


# Restore and verify --------------------------------------------------------------------------

def _fetch(backup_id: str, manifest: dict[str, Any], folder: Path) -> Path:
    dump = folder / manifest["database_file"]
    storage = get_storage().inner
    with open(dump, "wb") as handle:
        for chunk in storage.iter_range(f"{PREFIX}{backup_id}/{manifest['database_file']}"):
            handle.write(chunk)
    if hashlib.sha256(dump.read_bytes()).hexdigest() != manifest["database_sha256"]:
        raise BackupError(f"backup {backup_id}: the database file differs from the one backed up")
    return dump


def _keys(backup_id: str) -> list[dict[str, Any]]:
    rows = json.loads(get_storage().inner.get(f"{PREFIX}{backup_id}/data-keys.json"))
    keyring.check_wrapped(rows)
    return rows


def restore(backup_id: str) -> dict[str, int]:
    """Put a backup back: the database (stop the hub first), its data keys (as they are now in
    the backup: erased customers' are shredded) and the recordings. Erasures made since it was
    taken are applied again. Returns counts."""
    manifest = _manifest(backup_id)
    settings = get_settings()
    rows = _keys(backup_id)
    get_engine().dispose()  # no pooled connection may hold the tables being replaced
    with tempfile.TemporaryDirectory(prefix="hotline-restore-") as scratch:
        dump = _fetch(backup_id, manifest, Path(scratch))
        _restore_database(manifest["database"], dump, settings.effective_database_url)
    get_engine().dispose()
    storage = get_storage()
    for item in manifest["recordings"]:
        storage.inner.put(item["key"], storage.inner.get(f"{PREFIX}{backup_id}/{item['key']}"))
    with new_session() as session:
        keyring.import_keys(session, rows)
        session.commit()
        for hook in _AFTER_RESTORE:
            hook(session)
        session.commit()
    return {"recordings": len(manifest["recordings"]), "data_keys": len(rows),
            "shredded": sum(1 for r in rows if r.get("shredded"))}


def _scratch_database(kind: str, folder: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'verify.db'}", lambda: None
    settings = get_settings()
    url = make_url(settings.effective_database_url)
    name = f"hotline_verify_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def verify(backup_id: str) -> dict[str, Any]:
    """Restore into a throw-away database and check it: the audit trail's chain intact and
    reaching the head noted at backup time (what `hotline audit verify` checks), every live data
    key unwrapping with the master keys, every recording as backed up. The result is noted in
    the manifest (the floor shows the last good backup). Raises BackupError on a failure."""
    manifest = _manifest(backup_id)
    rows = _keys(backup_id)
    problems: list[str] = []
    storage = get_storage().inner
    for item in manifest["recordings"]:
        try:
            if storage.sha256(f"{PREFIX}{backup_id}/{item['key']}") != item["sha256"]:
                problems.append(f"recording {item['key']} differs from the one backed up")
        except NotStored:
            problems.append(f"recording {item['key']} is missing from the backup")
    with tempfile.TemporaryDirectory(prefix="hotline-verify-") as scratch:
        folder = Path(scratch)
        dump = _fetch(backup_id, manifest, folder)
        url, drop = _scratch_database(manifest["database"], folder)
        try:
            if manifest["database"] == "sqlite":
                shutil.copyfile(dump, folder / "verify.db")
            else:
                _restore_database("postgresql", dump, url)
            engine = make_engine(url)
            try:
                with Session(bind=engine) as session:
                    head = manifest.get("audit_head") or {}
                    expected = (head["seq"], head["hash"]) if head.get("seq") else None
                    result = audit.verify(session, expected_head=expected)
                    if not result.ok:
                        problems.append(f"audit trail broken at entry {result.first_bad_seq}: {result.reason}")
                    checked = result.checked
            finally:
                engine.dispose()
        finally:
            drop()
    manifest["verified_at"], manifest["verify_ok"] = clock.now().isoformat(), not problems
    storage.put(f"{PREFIX}{backup_id}/manifest.json", json.dumps(manifest, indent=1).encode())
    if problems:
        raise BackupError(f"backup {backup_id} failed verification: " + "; ".join(problems), code=VERIFY)
    return {"audit_entries": checked, "recordings": len(manifest["recordings"]),
            "data_keys": sum(1 for r in rows if r.get("wrapped"))}
