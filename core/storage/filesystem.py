"""The filesystem backend: one directory, which several hosts share as a network mount (NFS,
CephFS, a SAN volume) when the hub runs on more than one host. Writes go to a temporary file
that is synced and then renamed, so a reader on any host sees a whole object or none."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from core.storage.base import (
    CHUNK,
    NotStored,
    Readable,
    Storage,
    StorageError,
    StoredObject,
    _chunks,
    check_key,
    check_prefix,
)

TEMPORARY_SUFFIX = ".partial"


class FilesystemStorage(Storage):
    name = "filesystem"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes | Readable) -> StoredObject:
        final = self._path(key)
        try:
            return self._put(key, final, data)
        except OSError as exc:
            raise StorageError(f"storing {key!r} under {self.root} failed: {exc}") from exc

    def _put(self, key: str, final: Path, data: bytes | Readable) -> StoredObject:
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}{TEMPORARY_SUFFIX}")
        digest, size = hashlib.sha256(), 0
        try:
            with open(temporary, "wb") as handle:
                for chunk in _chunks(data):
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._sync_directory(final.parent)
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    @staticmethod
    def _sync_directory(folder: Path) -> None:
        # The rename itself is durable only once the directory is synced.
        try:
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def iter_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"not a byte range: {start}-{end}")
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by the generator below
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotStored(key) from None
        except OSError as exc:
            raise StorageError(f"reading {key!r} under {self.root} failed: {exc}") from exc
        return self._read(handle, start, end)

    @staticmethod
    def _read(handle: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                chunk = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except NotADirectoryError:
            pass
        except OSError as exc:
            raise StorageError(f"deleting {key!r} under {self.root} failed: {exc}") from exc

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        # Walk only the folder the prefix names, not the whole tree.
        folder = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        keys = []
        for directory, _subdirs, files in os.walk(folder):
            for name in files:
                if name.startswith(".") or name.endswith(TEMPORARY_SUFFIX):
                    continue
                key = Path(directory, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def describe(self) -> str:
        return f"filesystem {self.root}"
