"""The S3-compatible backend (AWS S3, MinIO, Ceph RGW, Garage, and moto's server in the tests)
through boto3. A PUT is atomic in S3, so a reader on any host sees a whole object or none; a
byte range is one ranged GET."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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

_MISSING = {"404", "NoSuchKey", "NotFound"}
SPOOL_IN_MEMORY = 8 * 1024 * 1024


class S3Storage(Storage):
    name = "s3"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        # Without keys boto3 looks in its usual places (environment, instance role).
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                          max_pool_connections=32, s3={"addressing_style": "path"} if endpoint_url else None))

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _fail(self, what: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"{what} {key!r} in bucket {self.bucket!r} failed: {exc}")

    def put(self, key: str, data: bytes | Readable) -> StoredObject:
        # Hash while spooling (a file object may not be rewindable), then send with the length known.
        digest, size = hashlib.sha256(), 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
            for chunk in _chunks(data):
                body.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            body.seek(0)
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, ContentLength=size)
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("storing", key, exc) from exc
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def size(self, key: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                return None
            raise self._fail("looking up", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("looking up", key, exc) from exc
        return int(head["ContentLength"])

    def iter_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"not a byte range: {start}-{end}")
        options: dict[str, Any] = {}
        if start or end is not None:
            if end == start:
                if self.size(key) is None:
                    raise NotStored(key)
                return iter(())
            options["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **options)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in _MISSING:
                raise NotStored(key) from None
            if code == "InvalidRange":  # starts past the end: nothing there, as a file read gives
                if self.size(key) is None:
                    raise NotStored(key) from None
                return iter(())
            raise self._fail("reading", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("reading", key, exc) from exc
        return self._stream(response["Body"])

    @staticmethod
    def _stream(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("deleting", key, exc) from exc

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                               Prefix=self.prefix + prefix):
                keys.extend(item["Key"][len(self.prefix):] for item in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("listing", prefix, exc) from exc
        return sorted(keys)

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3 bucket {self.bucket}{where}" + (f" under {self.prefix}" if self.prefix else "")
