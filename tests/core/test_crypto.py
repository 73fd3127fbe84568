"""Field encryption, key rotation, blind indexes and phone numbers, on a test-only table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import MetaData, String, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core import config, crypto, db
from core.config import ConfigurationError, Settings
from core.crypto import (
    DecryptionError,
    Encrypted,
    EncryptedJSON,
    InvalidPhoneNumber,
    blind_index,
    mask_phone,
    normalise_phone,
    phone_index,
    rotate_all,
)


class VaultBase(DeclarativeBase):
    metadata = MetaData()


class Vault(VaultBase):
    __tablename__ = "crypto_test_vault"

    id: Mapped[int] = mapped_column(primary_key=True)
    note: Mapped[str | None] = mapped_column(Encrypted())
    prefs: Mapped[Any] = mapped_column(EncryptedJSON(), nullable=True)
    phone: Mapped[str | None] = mapped_column(Encrypted())
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)


@pytest.fixture
def vault(engine: Engine) -> Iterator[None]:
    VaultBase.metadata.create_all(engine)
    yield
    VaultBase.metadata.drop_all(engine)


def use_keys(settings: Settings, *keys: str) -> None:
    config.configure(settings.model_copy(update={"data_keys": [SecretStr(k) for k in keys]}))


def raw_values(session: Session, column: str) -> list[str | None]:
    return list(session.execute(text(f"SELECT {column} FROM crypto_test_vault ORDER BY id")).scalars())


def read_all() -> list[Vault]:
    with db.new_session() as fresh:
        return list(fresh.scalars(select(Vault).order_by(Vault.id)))


def test_round_trip_encrypted_values(vault: None, session: Session) -> None:
    prefs = {"products": ["phones", "tablets"], "call_times": "晚上", "quiet": True}
    session.add(Vault(id=1, note="allergic to cats, 王小明", prefs=prefs))
    session.add(Vault(id=2, note=None, prefs=None))
    session.commit()

    first, second = read_all()
    assert first.note == "allergic to cats, 王小明"
    assert first.prefs == prefs
    assert second.note is None and second.prefs is None


def test_stored_value_is_not_the_plaintext(vault: None, session: Session) -> None:
    session.add_all([Vault(id=1, note="same words", prefs={"a": 1}), Vault(id=2, note="same words")])
    session.commit()

    notes = raw_values(session, "note")
    assert all(n is not None and "same words" not in n and n.startswith("gAAAAA") for n in notes)
    assert notes[0] != notes[1], "each value has its own random IV"
    assert '"a"' not in (raw_values(session, "prefs")[0] or "")


def test_compare_encrypted_column_refused() -> None:
    with pytest.raises(TypeError, match="blind index"):
        Vault.note == "x"  # noqa: B015 - the comparison itself must raise
    with pytest.raises(TypeError):
        Vault.note.in_(["x"])
    # Null checks still work.
    str(select(Vault).where(Vault.note.is_(None)))
    str(select(Vault).where(Vault.note == None))  # noqa: E711


def test_encrypted_refuses_non_str(vault: None, session: Session) -> None:
    session.add(Vault(id=1, note=123))  # type: ignore[arg-type]
    with pytest.raises(Exception, match="holds str"):
        session.flush()


@pytest.mark.parametrize("commit_every_batch", [False, True])
def test_rotate_with_two_keys(vault: None, session: Session, settings: Settings, commit_every_batch: bool) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    use_keys(settings, old)
    session.add_all(
        [Vault(id=i, note=f"note {i}", prefs={"n": i}) for i in range(1, 5)] + [Vault(id=5, note=None, prefs=None)]
    )
    session.commit()
    before = raw_values(session, "note")

    use_keys(settings, new, old)  # the new key first: new writes use it, old data still reads
    assert [v.note for v in read_all()][:4] == ["note 1", "note 2", "note 3", "note 4"]

    counts = rotate_all(session, metadata=VaultBase.metadata, batch_size=2, commit_every_batch=commit_every_batch)
    session.commit()
    assert counts == {"crypto_test_vault.note": 4, "crypto_test_vault.prefs": 4, "crypto_test_vault.phone": 0}
    after = raw_values(session, "note")
    assert after[4] is None
    assert all(a != b for a, b in zip(after[:4], before[:4], strict=True))

    # Everything is under the newest key, so a rerun has nothing to do.
    assert set(rotate_all(session, metadata=VaultBase.metadata).values()) == {0}

    use_keys(settings, new)  # the old key retired
    rows = read_all()
    assert [v.note for v in rows] == ["note 1", "note 2", "note 3", "note 4", None]
    assert [v.prefs for v in rows] == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, None]


def test_rotate_all_defaults_to_the_hub_metadata(session: Session) -> None:
    counts = rotate_all(session)
    assert all(n == 0 for n in counts.values())
    assert "crypto_test_vault.note" not in counts


def test_retired_key_raises_decryption_error(vault: None, session: Session, settings: Settings) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    use_keys(settings, old)
    session.add(Vault(id=1, note="kept under the old key"))
    session.commit()

    use_keys(settings, new)
    with pytest.raises(DecryptionError, match=r"not in HOTLINE_DATA_KEYS.*hotline keys rotate"):
        read_all()
    with pytest.raises(DecryptionError, match=r"crypto_test_vault\.note \(row 1\)"):
        rotate_all(session, metadata=VaultBase.metadata)


def test_missing_or_malformed_keys_are_configuration_errors(settings: Settings) -> None:
    use_keys(settings)
    with pytest.raises(ConfigurationError, match="HOTLINE_DATA_KEYS is not set"):
        Encrypted().process_bind_param("x", None)
    use_keys(settings, "not-a-key")
    with pytest.raises(ConfigurationError, match="entry 1 is not a Fernet key") as caught:
        Encrypted().process_bind_param("x", None)
    assert "not-a-key" not in str(caught.value)


def test_blind_index_equal_for_one_number_in_different_formats(settings: Settings) -> None:
    forms = ["+86 138 0013 8000", "13800138000", "008613800138000", "+86-138-0013-8000"]
    indexes = {phone_index(f) for f in forms}
    assert len(indexes) == 1
    (index,) = indexes
    assert len(index) == 64 and int(index, 16) >= 0
    assert index == blind_index("+8613800138000")
    assert phone_index("13800138001") != index


def test_blind_index_depends_on_key_and_purpose_not_on_data_keys(settings: Settings) -> None:
    index = blind_index("+8613800138000")
    assert blind_index("+8613800138000", purpose="email") != index

    use_keys(settings, Fernet.generate_key().decode())
    assert blind_index("+8613800138000") == index, "data-key rotation keeps lookups working"

    config.configure(settings.model_copy(update={"blind_index_key": SecretStr("another-blind-index-key-" + "z" * 24)}))
    assert blind_index("+8613800138000") != index


def test_lookup_by_phone_without_decrypting(vault: None, session: Session) -> None:
    for i, number in enumerate(["+86 138 0013 8000", "+1 202 555 0143"], start=1):
        session.add(Vault(id=i, phone=normalise_phone(number), phone_index=phone_index(number)))
    session.commit()

    found = session.scalars(select(Vault).where(Vault.phone_index == phone_index("13800138000"))).one()
    assert found.id == 1 and found.phone == "+8613800138000"


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "not a number", "123", "1380013800", "+999 1234 5678", "+86 138 0013 8000 1234 5678 9"],
)
def test_malformed_numbers_rejected(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="phone number") as caught:
        normalise_phone(raw)
    if raw.strip():
        assert raw.strip() not in str(caught.value), "the message never repeats the number"


def test_normalise_phone_regions() -> None:
    assert normalise_phone("13800138000") == "+8613800138000"
    assert normalise_phone("(202) 555-0143", default_region="US") == "+12025550143"
    assert normalise_phone("+44 20 7946 0958", default_region=None) == "+442079460958"
    with pytest.raises(InvalidPhoneNumber):
        normalise_phone("13800138000", default_region=None)


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613800138000", "+86 138****8000"),
        ("+12025550143", "+1 202***0143"),
        ("+442079460958", "+44 207***0958"),
        ("+33612345678", "+33 61***5678"),
        ("+4930901820", "+49 3***1820"),
    ],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


def test_mask_phone_hides_at_least_a_third() -> None:
    examples = ["+8613800138000", "+12025550143", "+4930123456", "+3723212345", "+6561234567", "+3544101234"]
    examples.append("+6837012")  # Niue: a four-digit national number
    for number in examples:
        masked = mask_phone(number)
        national = masked.split(" ", 1)[1]
        assert national.count("*") >= max(3, len(national) // 3)


def test_rotation_never_logs_keys_or_plaintext(
    caplog: pytest.LogCaptureFixture, vault: None, session: Session, settings: Settings
) -> None:
    session.add(Vault(id=1, note="plain words"))
    session.commit()
    caplog.set_level("DEBUG", logger="hotline.crypto")
    rotate_all(session, metadata=VaultBase.metadata)
    for key in settings.data_key_values():
        assert key not in caplog.text
    assert "plain words" not in caplog.text
    assert crypto.RETIRED_KEY_MESSAGE.endswith("`hotline keys rotate`")
