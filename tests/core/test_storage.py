"""The storage port's contract, run against both backends: the filesystem and S3-compatible
object storage (moto's standalone server in its own process, as the carrier simulator plays
Twilio)."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from core import config
from core.storage import NotStored, Storage, StorageError, check_key, get_storage, open_storage
from core.storage.serving import parse_range, stored_response
from tests.conftest import build_settings, s3_settings

BACKENDS = ("filesystem", "s3")


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path, data_keys: list[str]) -> Iterator[Storage]:
    overrides: dict[str, object] = {"storage_dir": tmp_path / "files"}
    if request.param == "s3":
        overrides = s3_settings(request.getfixturevalue("s3_endpoint"))
    current = build_settings(tmp_path / "var", "sqlite://", data_keys, **overrides)
    config.configure(current)
    try:
        yield get_storage()
    finally:
        config.configure(None)


AUDIO = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: several read chunks


def test_put_then_get_returns_the_same_bytes_with_size_and_sha256(storage: Storage) -> None:
    stored = storage.put("recordings/2025/03/RE1.wav", AUDIO)
    assert (stored.size, stored.sha256) == (len(AUDIO), hashlib.sha256(AUDIO).hexdigest())
    assert storage.get("recordings/2025/03/RE1.wav") == AUDIO
    assert storage.size("recordings/2025/03/RE1.wav") == len(AUDIO)
    assert storage.exists("recordings/2025/03/RE1.wav")
    assert storage.sha256("recordings/2025/03/RE1.wav") == stored.sha256


def test_put_reads_a_file_object_to_its_end_and_replaces_what_was_there(storage: Storage) -> None:
    storage.put("spool/twilio/a.spool", b"old and longer than the new one")
    stored = storage.put("spool/twilio/a.spool", io.BytesIO(AUDIO))
    assert stored.size == len(AUDIO)
    assert storage.get("spool/twilio/a.spool") == AUDIO


def test_put_file_stores_a_local_file(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "download.part"
    source.write_bytes(AUDIO)
    assert storage.put_file("recordings/x.wav", str(source)).sha256 == hashlib.sha256(AUDIO).hexdigest()
    assert storage.get("recordings/x.wav") == AUDIO


@pytest.mark.parametrize(("start", "end"), [(0, 44), (44, 300_000), (1_000_000, len(AUDIO)), (5, 5),
                                            (len(AUDIO) - 4, len(AUDIO) + 100), (len(AUDIO) + 10, len(AUDIO) + 20)])
def test_range_reads_return_exactly_those_bytes(storage: Storage, start: int, end: int) -> None:
    storage.put("recordings/r.wav", AUDIO)
    assert storage.read_range("recordings/r.wav", start, end) == AUDIO[start:end]
    assert b"".join(storage.iter_range("recordings/r.wav", start)) == AUDIO[start:]


def test_missing_objects_are_not_stored_errors(storage: Storage) -> None:
    assert storage.size("recordings/none.wav") is None and not storage.exists("recordings/none.wav")
    with pytest.raises(NotStored):
        storage.get("recordings/none.wav")
    with pytest.raises(NotStored):
        storage.read_range("recordings/none.wav", 10, 20)
    with pytest.raises(NotStored):
        storage.iter_range("recordings/none.wav", 0, 0)
    storage.delete("recordings/none.wav")  # deleting what is not there is fine


def test_delete_removes_only_that_object(storage: Storage) -> None:
    storage.put("recordings/a.wav", b"a")
    storage.put("recordings/b.wav", b"b")
    storage.delete("recordings/a.wav")
    storage.delete("recordings/a.wav")
    assert storage.list("recordings/") == ["recordings/b.wav"]


def test_list_by_prefix_in_key_order(storage: Storage) -> None:
    for key in ("spool/twilio/0003-c.spool", "spool/twilio/0001-a.spool", "spool/twilio-unreadable/x.spool",
                "recordings/2025/01/RE1.wav", "recordings/2025/02/RE2.wav", "spool/twilio/0002-b.spool"):
        storage.put(key, key.encode())
    assert storage.list("spool/twilio/") == ["spool/twilio/0001-a.spool", "spool/twilio/0002-b.spool",
                                             "spool/twilio/0003-c.spool"]
    assert storage.list("recordings/2025/") == ["recordings/2025/01/RE1.wav", "recordings/2025/02/RE2.wav"]
    assert storage.list("spool/twilio") == [  # a bare prefix matches as a string, as in S3
        "spool/twilio-unreadable/x.spool", "spool/twilio/0001-a.spool", "spool/twilio/0002-b.spool",
        "spool/twilio/0003-c.spool"]
    assert storage.list("backups/") == []
    assert len(storage.list()) == 6


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "recordings/../../x", "a//b", "a b", "a\\b", "a/",
                                 ".hidden", "x" * 401])
def test_keys_that_could_escape_or_differ_between_backends_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        storage.put(key, b"x")
    with pytest.raises(ValueError):
        storage.get(key)


def test_check_key_accepts_the_hubs_keys() -> None:
    for key in ("recordings/2025/03/RE0123abc.wav", "spool/twilio/00001-abc-status.spool", "backups/2025-03-01.tar"):
        assert check_key(key) == key


def test_readers_never_see_a_half_written_object(storage: Storage) -> None:
    """Writers replace an object while readers read it: every read is one whole version."""
    versions = [bytes([n]) * 300_000 for n in range(1, 6)]
    storage.put("recordings/busy.wav", versions[0])
    seen: list[bytes] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(storage.get("recordings/busy.wav"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in versions[1:] * 3:
            storage.put("recordings/busy.wav", version)
    finally:
        stop.set()
        reader.join()
    assert seen and all(data in versions for data in seen)


def test_a_filesystem_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    storage = open_storage(build_settings(tmp_path, "sqlite://", ["k"], storage_dir=tmp_path / "files"))
    storage.put("recordings/a.wav", AUDIO)
    assert [p.name for p in (tmp_path / "files" / "recordings").iterdir()] == ["a.wav"]


def test_a_filesystem_writer_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    storage = open_storage(build_settings(tmp_path, "sqlite://", ["k"], storage_dir=tmp_path / "files"))

    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError("the download broke")

    with pytest.raises(StorageError, match="the download broke"):
        storage.put("recordings/a.wav", Broken())  # type: ignore[arg-type]
    assert not storage.exists("recordings/a.wav")
    assert list((tmp_path / "files" / "recordings").iterdir()) == []


def test_an_unusable_folder_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the mount should be")
    storage = open_storage(build_settings(tmp_path, "sqlite://", ["k"], storage_dir=tmp_path / "not-a-folder"))
    with pytest.raises(StorageError, match="storing 'recordings/a.wav'"):
        storage.put("recordings/a.wav", b"x")
    assert storage.size("recordings/a.wav") is None


def test_an_unreachable_object_store_is_a_storage_error(tmp_path: Path) -> None:
    from deploy.processes import free_port

    settings = build_settings(tmp_path, "sqlite://", ["k"], storage_backend="s3", s3_bucket="b",
                              s3_endpoint_url=f"http://127.0.0.1:{free_port()}", s3_access_key_id="a",
                              s3_secret_access_key="s")
    storage = open_storage(settings)
    storage.client.meta.config.retries["max_attempts"] = 1
    with pytest.raises(StorageError) as err:
        storage.put("recordings/a.wav", b"x")
    assert "bucket 'b'" in str(err.value) and "s3_secret" not in str(err.value)


def test_s3_without_a_bucket_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="HOTLINE_S3_BUCKET"):
        open_storage(build_settings(tmp_path, "sqlite://", ["k"], storage_backend="s3"))


# Serving with byte ranges (the players seek) -------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("", None), ("bytes=0-", (0, 100)), ("bytes=10-19", (10, 20)), ("bytes=90-200", (90, 100)),
    ("bytes=-10", (90, 100)), ("bytes=-500", (0, 100)), ("bytes=100-", False), ("bytes=-0", False),
    ("bytes=5-1", None), ("bytes=0-1,5-6", None), ("items=0-5", None), ("bytes=x-y", None), ("bytes=-", None)])
def test_parse_range(header: str | None, expected: object) -> None:
    assert parse_range(header, 100) == expected


@pytest.fixture
def media_client(storage: Storage) -> TestClient:
    app = FastAPI()

    @app.get("/media/{name}")
    def media(name: str, range: str | None = Header(None), if_range: str | None = Header(None)):  # noqa: A002
        try:
            return stored_response(f"recordings/{name}", range_header=range, media_type="audio/wav",
                                   filename=name, etag="v1", if_range=if_range)
        except NotStored:
            return {"missing": name}

    return TestClient(app)


def test_served_whole_with_accept_ranges(storage: Storage, media_client: TestClient) -> None:
    storage.put("recordings/a.wav", AUDIO)
    response = media_client.get("/media/a.wav")
    assert response.status_code == 200 and response.content == AUDIO
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(len(AUDIO))
    assert response.headers["content-type"] == "audio/wav"


def test_served_by_range_for_a_seeking_player(storage: Storage, media_client: TestClient) -> None:
    storage.put("recordings/a.wav", AUDIO)
    response = media_client.get("/media/a.wav", headers={"Range": "bytes=500000-500099"})
    assert response.status_code == 206 and response.content == AUDIO[500000:500100]
    assert response.headers["content-range"] == f"bytes 500000-500099/{len(AUDIO)}"
    tail = media_client.get("/media/a.wav", headers={"Range": "bytes=-4"})
    assert tail.status_code == 206 and tail.content == b"tail"


def test_a_range_past_the_end_is_416(storage: Storage, media_client: TestClient) -> None:
    storage.put("recordings/a.wav", AUDIO)
    response = media_client.get("/media/a.wav", headers={"Range": f"bytes={len(AUDIO)}-"})
    assert response.status_code == 416 and response.headers["content-range"] == f"bytes */{len(AUDIO)}"


def test_if_range_of_another_version_gets_the_whole_object(storage: Storage, media_client: TestClient) -> None:
    storage.put("recordings/a.wav", AUDIO)
    same = media_client.get("/media/a.wav", headers={"Range": "bytes=0-9", "If-Range": '"v1"'})
    other = media_client.get("/media/a.wav", headers={"Range": "bytes=0-9", "If-Range": '"v0"'})
    assert (same.status_code, len(same.content)) == (206, 10)
    assert (other.status_code, len(other.content)) == (200, len(AUDIO))


def test_serving_a_missing_object_raises_not_stored(storage: Storage, media_client: TestClient) -> None:
    assert media_client.get("/media/none.wav").json() == {"missing": "none.wav"}
