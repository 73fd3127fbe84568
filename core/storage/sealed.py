"""Media encrypted at rest in chunks (AES-256-GCM), under an owner's data key (core.keyring), over
any storage backend. Each chunk is sealed on its own, so a byte range (an audio player seeking) is
read and decrypted without touching the rest; the plaintext size follows from the stored size, so
`size()` costs no read. Shredding the data key makes the object unreadable wherever it was copied.

Layout: header (magic, key id, salt, chunk size) then chunks of `chunk + 16` bytes (the last may
be shorter); chunk i's nonce is i under a key derived from the data key and the object's salt,
and its associated data is the header, i and whether it is the last one (no reordering, no
truncation goes unnoticed)."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Callable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.storage.base import NotStored, Readable, Storage, StorageError, StoredObject, _chunks

MAGIC = b"HLSEAL1\x00"
KEY_ID_BYTES = 32
SALT_BYTES = 16
HEADER = len(MAGIC) + KEY_ID_BYTES + SALT_BYTES + 4
CHUNK = 64 * 1024
TAG = 16
# Keys whose objects may be sealed; others pass through untouched (the webhook spool, backups).
SEALED_PREFIXES = ("recordings/",)

KeyMaterial = Callable[[str], str]  # key id -> the data key (a Fernet key), raising when shredded


class SealedUnreadable(StorageError):
    """The object's data key was shredded, or the object was altered."""


def _object_key(material: str, salt: bytes) -> AESGCM:
    raw = base64.urlsafe_b64decode(material.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"hotline/media/v1").derive(raw)
    return AESGCM(derived)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">Q?", index, last)


def plain_size(stored: int, chunk: int = CHUNK) -> int:
    body = stored - HEADER
    if body < TAG:
        raise SealedUnreadable("the sealed object is truncated")
    full, rest = divmod(body, chunk + TAG)
    return full * chunk + (rest - TAG if rest else 0)


def seal_stream(data: bytes | Readable, *, key_id: str, material: str, chunk: int = CHUNK) -> Iterator[bytes]:
    """The sealed bytes of `data`, produced as it is read."""
    if len(key_id) != KEY_ID_BYTES:
        raise ValueError("a data key id is 32 characters")
    salt = os.urandom(SALT_BYTES)
    header = MAGIC + key_id.encode("ascii") + salt + struct.pack(">I", chunk)
    cipher = _object_key(material, salt)
    yield header
    buffer, index = bytearray(), 0
    for piece in _chunks(data):
        buffer += piece
        # Keep at least one byte back: only the last chunk is marked last.
        whole = (len(buffer) - 1) // chunk
        if whole > 0:
            view = memoryview(buffer)
            for n in range(whole):
                yield cipher.encrypt(index.to_bytes(12, "big"), bytes(view[n * chunk:(n + 1) * chunk]),
                                     _aad(header, index, False))
                index += 1
            view.release()
            del buffer[:whole * chunk]
    yield cipher.encrypt(index.to_bytes(12, "big"), bytes(buffer), _aad(header, index, True))


class _StreamReader:
    """A file object over an iterator of bytes, for a backend's put()."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts, self._buffer = parts, b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._parts)
            except StopIteration:
                break
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


class SealedStorage(Storage):
    """The storage port with media sealed under data keys. Objects under SEALED_PREFIXES written
    with `seal=` a key id are encrypted; reads decrypt them (whole or by range); an object
    written before sealing existed (no magic) is read as it is."""

    def __init__(self, inner: Storage, material: KeyMaterial) -> None:
        self.inner = inner
        self.name = inner.name
        self._material = material

    # Writing ------------------------------------------------------------------------------
    def put(self, key: str, data: bytes | Readable, *, seal: str | None = None) -> StoredObject:
        if seal is None:
            return self.inner.put(key, data)
        if not key.startswith(SEALED_PREFIXES):
            raise ValueError(f"objects under {key!r} are not sealed")
        digest, size = hashlib.sha256(), 0

        def counted() -> Iterator[bytes]:
            nonlocal size
            for piece in _chunks(data):
                digest.update(piece)
                size += len(piece)
                yield piece

        self.inner.put(key, _StreamReader(seal_stream(_StreamReader(counted()), key_id=seal,
                                                      material=self._material(seal))))
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def put_file(self, key: str, path: str, *, seal: str | None = None) -> StoredObject:
        with open(path, "rb") as handle:
            return self.put(key, handle, seal=seal)

    # Reading ------------------------------------------------------------------------------
    def _header(self, key: str) -> bytes | None:
        if not key.startswith(SEALED_PREFIXES):
            return None
        head = self.inner.read_range(key, 0, HEADER)
        return head if len(head) == HEADER and head.startswith(MAGIC) else None

    def sealed_key_id(self, key: str) -> str | None:
        """The data key an object is sealed under (None: not sealed)."""
        header = self._header(key)
        return header[len(MAGIC):len(MAGIC) + KEY_ID_BYTES].decode("ascii") if header else None

    def size(self, key: str) -> int | None:
        stored = self.inner.size(key)
        if stored is None or not key.startswith(SEALED_PREFIXES) or stored < HEADER:
            return stored
        header = self._header(key)
        if header is None:
            return stored
        return plain_size(stored, struct.unpack(">I", header[-4:])[0])

    def iter_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"not a byte range: {start}-{end}")
        header = self._header(key) if key.startswith(SEALED_PREFIXES) else None
        if header is None:
            return self.inner.iter_range(key, start, end)
        stored = self.inner.size(key)
        if stored is None:
            raise NotStored(key)
        key_id = header[len(MAGIC):len(MAGIC) + KEY_ID_BYTES].decode("ascii")
        try:
            material = self._material(key_id)
        except Exception as exc:  # noqa: BLE001 - shredded or missing: unreadable either way
            raise SealedUnreadable(f"{key!r} cannot be read: {exc}") from None
        return self._decrypt(key, header, stored, material, start, end)

    def _decrypt(self, key: str, header: bytes, stored: int, material: str, start: int,
                 end: int | None) -> Iterator[bytes]:
        chunk = struct.unpack(">I", header[-4:])[0]
        total = plain_size(stored, chunk)
        end = total if end is None else min(end, total)
        if start >= end:
            return
        chunks = -(-(stored - HEADER) // (chunk + TAG))
        first, last = start // chunk, (end - 1) // chunk
        cipher = _object_key(material, header[len(MAGIC) + KEY_ID_BYTES:-4])
        raw_start = HEADER + first * (chunk + TAG)
        raw_end = min(stored, HEADER + (last + 1) * (chunk + TAG))
        def length(i: int) -> int:
            return chunk + TAG if i < chunks - 1 else stored - HEADER - (chunks - 1) * (chunk + TAG)

        buffer, index = b"", first
        for piece in self.inner.iter_range(key, raw_start, raw_end):
            buffer += piece
            while index <= last and len(buffer) >= length(index):
                sealed, buffer = buffer[:length(index)], buffer[length(index):]
                try:
                    plain = cipher.decrypt(index.to_bytes(12, "big"), sealed, _aad(header, index, index == chunks - 1))
                except InvalidTag:
                    raise SealedUnreadable(f"{key!r} was altered (chunk {index})") from None
                offset = index * chunk
                yield plain[max(0, start - offset):max(0, end - offset)]
                index += 1
        if index <= last:
            raise SealedUnreadable(f"{key!r} is truncated")

    # Plain passthrough --------------------------------------------------------------------
    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)

    def describe(self) -> str:
        return self.inner.describe() + " (media sealed under data keys)"
