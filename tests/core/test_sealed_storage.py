"""Media sealed under data keys over both storage backends: whole and ranged reads decrypt only the
chunks they need, nothing of the plaintext is stored, altered or truncated objects and shredded
keys are refused, and objects written before sealing are still read."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.orm import Session

from core import keyring
from core.storage import SealedUnreadable, get_storage
from core.storage.sealed import CHUNK, HEADER
from tests.conftest import s3_settings


@pytest.fixture(params=["filesystem", "s3"])
def storage_overrides(request: pytest.FixtureRequest) -> dict[str, object]:
    return s3_settings(request.getfixturevalue("s3_endpoint")) if request.param == "s3" else {}


AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(3 * CHUNK + 1234)


def _key(session: Session) -> str:
    key_id = keyring.create_key(session, owner="test")
    session.commit()
    return key_id


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, len(AUDIO)])
def test_sealed_round_trip_at_every_size(session: Session, size: int) -> None:
    storage, key_id = get_storage(), _key(session)
    data = AUDIO[:size]
    stored = storage.put("recordings/2026/12/RE1.wav", data, seal=key_id)
    assert (stored.size, storage.size("recordings/2026/12/RE1.wav")) == (size, size)
    assert storage.get("recordings/2026/12/RE1.wav") == data
    raw = storage.inner.get("recordings/2026/12/RE1.wav")
    assert b"RIFF" not in raw and b"WAVE" not in raw and len(raw) > size


def test_every_range_reads_the_right_bytes(session: Session) -> None:
    storage, key_id = get_storage(), _key(session)
    storage.put("recordings/RE2.wav", AUDIO, seal=key_id)
    for start, end in [(0, 44), (CHUNK - 3, CHUNK + 3), (2 * CHUNK, 3 * CHUNK), (len(AUDIO) - 10, len(AUDIO)),
                       (5, 5 + 2 * CHUNK + 7), (len(AUDIO) - 1, len(AUDIO) + 100)]:
        assert storage.read_range("recordings/RE2.wav", start, end) == AUDIO[start:end], (start, end)
    assert storage.sha256("recordings/RE2.wav") == __import__("hashlib").sha256(AUDIO).hexdigest()


def test_altered_or_truncated_objects_are_refused(session: Session) -> None:
    storage, key_id = get_storage(), _key(session)
    storage.put("recordings/RE3.wav", AUDIO, seal=key_id)
    raw = bytearray(storage.inner.get("recordings/RE3.wav"))
    raw[HEADER + 10] ^= 1
    storage.inner.put("recordings/RE3.wav", bytes(raw))
    with pytest.raises(SealedUnreadable):
        storage.get("recordings/RE3.wav")
    storage.put("recordings/RE3.wav", AUDIO, seal=key_id)
    raw = storage.inner.get("recordings/RE3.wav")
    storage.inner.put("recordings/RE3.wav", raw[:HEADER + CHUNK + 16])  # the last chunks cut off
    with pytest.raises(SealedUnreadable):
        storage.get("recordings/RE3.wav")


def test_a_shredded_key_makes_the_media_unreadable(session: Session) -> None:
    storage, key_id = get_storage(), _key(session)
    storage.put("recordings/RE4.wav", AUDIO, seal=key_id)
    keyring.shred(session, key_ids=[key_id])
    session.commit()
    with pytest.raises(SealedUnreadable):
        storage.get("recordings/RE4.wav")
    with pytest.raises(SealedUnreadable):
        storage.read_range("recordings/RE4.wav", 100, 200)


def test_objects_stored_before_sealing_are_read_as_they_are(session: Session) -> None:
    storage = get_storage()
    storage.put("recordings/old.wav", AUDIO)
    assert storage.get("recordings/old.wav") == AUDIO and storage.size("recordings/old.wav") == len(AUDIO)
    assert storage.read_range("recordings/old.wav", 10, 20) == AUDIO[10:20]
    assert storage.sealed_key_id("recordings/old.wav") is None
