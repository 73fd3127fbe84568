"""Serving a stored object over HTTP with byte ranges, the same from either backend, so an
audio player can seek: `Range: bytes=a-b` gets 206 with only those bytes read from storage."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from fastapi.responses import Response, StreamingResponse

from core.storage import get_storage
from core.storage.base import NotStored

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | Literal[False]:
    """[start, end) for a single satisfiable byte range; None to send the whole object (no
    header, another unit, several ranges, or a malformed one, all of which a server may
    ignore); False when the range starts past the end (416)."""
    if not header:
        return None
    match = _SINGLE.match(header.replace(" ", "").lower())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            return False
        return (max(0, size - length), size)
    start = int(first)
    end = size if not last else int(last) + 1
    if last and int(last) < start:
        return None
    if start >= size:
        return False
    return (start, min(end, size))


def stored_response(key: str, *, range_header: str | None, media_type: str, filename: str | None = None,
                    etag: str | None = None, if_range: str | None = None,
                    headers: Mapping[str, str] | None = None) -> Response:
    """The object under `key` as 200 or 206 (416 for a range past its end). Raises NotStored
    when there is nothing there."""
    storage = get_storage()
    size = storage.size(key)
    if size is None:
        raise NotStored(key)
    out = {"Accept-Ranges": "bytes", **(headers or {})}
    if filename:
        out["Content-Disposition"] = f'inline; filename="{filename}"'
    quoted = f'"{etag}"' if etag else None
    if quoted:
        out["ETag"] = quoted
    wanted = parse_range(range_header, size)
    if wanted is not None and if_range is not None and if_range != quoted:
        wanted = None  # the player's copy is of another version: send it all
    if wanted is False:
        return Response(status_code=416, headers={**out, "Content-Range": f"bytes */{size}"})
    if wanted is None:
        out["Content-Length"] = str(size)
        return StreamingResponse(storage.iter_range(key), media_type=media_type, headers=out)
    start, end = wanted
    out["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    out["Content-Length"] = str(end - start)
    return StreamingResponse(storage.iter_range(key, start, end), status_code=206, media_type=media_type,
                             headers=out)
