"""Files through one port: recordings, voicemails, the webhook spool and backups are written and
read here, never by local path, so any web process or worker on any host reads what another
wrote. Two backends, chosen by settings: a filesystem (a mount every host shares) and
S3-compatible object storage."""

from __future__ import annotations

import threading

from core import keyring
from core.config import Settings, get_settings
from core.storage.base import NotStored, Storage, StorageError, StoredObject, check_key
from core.storage.sealed import SealedStorage, SealedUnreadable

__all__ = ["NotStored", "SealedStorage", "SealedUnreadable", "Storage", "StorageError", "StoredObject", "check_key",
           "get_storage", "open_storage"]


def open_storage(settings: Settings) -> Storage:
    """The backend these settings name (a new client each call; use get_storage() to share one)."""
    if settings.storage_backend == "s3":
        from core.storage.s3 import S3Storage

        if not settings.s3_bucket:
            raise StorageError("HOTLINE_STORAGE_BACKEND=s3 needs HOTLINE_S3_BUCKET")
        secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
        return S3Storage(bucket=settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=settings.s3_endpoint_url,
                         region=settings.s3_region, access_key_id=settings.s3_access_key_id,
                         secret_access_key=secret)
    from core.storage.filesystem import FilesystemStorage

    return FilesystemStorage(settings.effective_storage_dir)


_lock = threading.Lock()
_current: tuple[Settings, SealedStorage] | None = None


def get_storage() -> SealedStorage:
    """The storage of the settings in use, built once per settings object (an S3 client is
    costly to make and safe to share between threads), with media sealed under data keys."""
    global _current
    settings = get_settings()
    current = _current
    if current is not None and current[0] is settings:
        return current[1]
    with _lock:
        if _current is None or _current[0] is not settings:
            _current = (settings, SealedStorage(open_storage(settings), keyring.material))
        return _current[1]
