"""The storage port: what every backend does, the key rules, and the errors."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

CHUNK = 256 * 1024
# Keys are plain relative paths: "recordings/2025/03/RE….wav", "spool/twilio/….spool".
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class Readable(Protocol):
    """What put() takes besides bytes: a file object, or any reader of bytes (a stream being sealed)."""

    def read(self, size: int = -1, /) -> bytes: ...


class StorageError(RuntimeError):
    """The storage could not do what was asked (unreachable, refused, misconfigured)."""


class NotStored(StorageError, KeyError):
    """No object under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"nothing stored under {key!r}")
        self.key = key

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


def check_key(key: str) -> str:
    """Refuse keys that could leave the storage's root or mean different things on each
    backend (absolute, `..`, empty parts, spaces, backslashes)."""
    if not isinstance(key, str) or len(key) > 400 or not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"not a storage key: {key!r} (use letters, digits, '.', '_', '-' and '/')")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key ending in '/' or not."""
    if prefix:
        check_key(prefix.rstrip("/"))
    return prefix


def _chunks(data: bytes | Readable) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
        return
    while chunk := data.read(CHUNK):
        yield chunk


class Storage(ABC):
    """Whole objects written atomically (a reader sees all of one or none), read whole or by
    byte range, listed by prefix in key order, deleted idempotently."""

    name: str = "storage"

    @abstractmethod
    def put(self, key: str, data: bytes | Readable) -> StoredObject:
        """Store `data` (bytes or a binary file object read to its end) under `key`, replacing
        any object there; returns its size and sha256."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when nothing is stored under `key`."""

    @abstractmethod
    def iter_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end) of the object (to its end when `end` is None), in chunks.
        Raises NotStored before yielding anything if the object is missing."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; nothing stored there already is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with `prefix`, sorted."""

    # Built on the above ---------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def get(self, key: str) -> bytes:
        return b"".join(self.iter_range(key))

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object; shorter if the object ends first."""
        if start < 0 or end < start:
            raise ValueError(f"not a byte range: {start}-{end}")
        if end == start:
            if not self.exists(key):
                raise NotStored(key)
            return b""
        return b"".join(self.iter_range(key, start, end))

    def sha256(self, key: str) -> str:
        """The sha256 of what is stored now, read back from the storage (a verification, not a
        remembered value)."""
        digest = hashlib.sha256()
        for chunk in self.iter_range(key):
            digest.update(chunk)
        return digest.hexdigest()

    def put_file(self, key: str, path: str) -> StoredObject:
        with open(path, "rb") as handle:
            return self.put(key, handle)

    def describe(self) -> str:
        """Where the objects are, for logs and health pages (no credentials)."""
        return self.name


__all__ = ["CHUNK", "NotStored", "Storage", "StorageError", "StoredObject", "check_key", "check_prefix"]
