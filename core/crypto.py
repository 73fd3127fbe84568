"""Field encryption at rest (`Encrypted`, `EncryptedJSON` columns, Fernet with rotation), blind
indexes for lookups without decrypting, phone-number indexing, and re-encryption under a new key.

Envelope encryption: a value tagged with a data key (`keyed(value, key_id)`, done for a customer's
rows by `core.keyring` at flush) is stored as `dk1:<key id>:<Fernet token under that data key>`;
the data keys themselves are stored wrapped by the master keys (HOTLINE_DATA_KEYS). A value under a
shredded data key reads as None: that is what erasure means. Untagged values stay under the
master keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import MetaData, Table, Text, bindparam, column, select, table, text, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from core.config import ConfigurationError, get_settings
from core.db import get_engine
from core.phones import InvalidPhoneNumber, mask_phone, normalise_phone, parse_phone

__all__ = [
    "DATA_KEY_PREFIX",
    "DecryptionError",
    "Encrypted",
    "EncryptedJSON",
    "InvalidPhoneNumber",
    "blind_index",
    "derive_key",
    "encrypted_columns",
    "forget_data_key",
    "keyed",
    "key_id_of",
    "remember_data_key",
    "mask_phone",
    "normalise_phone",
    "parse_phone",
    "phone_index",
    "rotate_all",
]

log = logging.getLogger("hotline.crypto")

RETIRED_KEY_MESSAGE = (
    "a stored value was encrypted with a key that is not in HOTLINE_DATA_KEYS (or it was altered); "
    "restore the retired key at the end of the list and run `hotline keys rotate`"
)


class DecryptionError(RuntimeError):
    """A stored value cannot be decrypted with any configured key. Never swallowed into None:
    a missing key must be noticed, not mistaken for an empty field."""


# Keys ---------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    # Keyed by the key tuple itself, so installing new settings (rotation) takes effect at once.
    if not keys:
        raise ConfigurationError("HOTLINE_DATA_KEYS is not set; make a key with `hotline keys generate`")
    fernets = []
    for index, key in enumerate(keys):
        try:
            fernets.append(Fernet(key))
        except Exception:  # noqa: BLE001 - never echo the key itself
            raise ConfigurationError(
                f"HOTLINE_DATA_KEYS entry {index + 1} is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `hotline keys generate`"
            ) from None
    return MultiFernet(fernets)


def _keys() -> tuple[str, ...]:
    return tuple(get_settings().data_key_values())


def _fernet() -> MultiFernet:
    return _multifernet(_keys())


@lru_cache(maxsize=32)
def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived with HKDF-SHA256 from a configured secret, so one
    secret can key several uses without one use revealing another's key."""
    if not secret:
        raise ConfigurationError("a secret needed to derive keys is empty")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"hotline/" + purpose.encode())
    return hkdf.derive(secret.encode())


def blind_index(value: str, *, purpose: str = "phone") -> str:
    """HMAC-SHA256 of `value` (hex) under a key derived from HOTLINE_BLIND_INDEX_KEY and the
    purpose. Equal values give equal indexes; independent of the data keys, so rotation keeps it."""
    if not isinstance(value, str) or not value:
        raise ValueError("blind_index needs a non-empty string")
    if not purpose:
        raise ValueError("blind_index needs a purpose")
    configured = get_settings().blind_index_key
    if configured is None:
        raise ConfigurationError("HOTLINE_BLIND_INDEX_KEY is not set")
    key = derive_key(configured.get_secret_value(), "blind-index/" + purpose)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def phone_index(raw: str, *, default_region: str | None = "CN") -> str:
    """The blind index of a phone number's E.164 form: `138 0013 8000` and `+86 13800138000` match."""
    return blind_index(normalise_phone(raw, default_region=default_region), purpose="phone")


# Data keys (envelope encryption) ------------------------------------------------------------

DATA_KEY_PREFIX = "dk1:"
SHREDDED = object()  # marks a data key erased in the cache
_DATA_KEY_SECONDS = 300.0  # another process's shredding is seen within this (its rows are gone anyway)
_data_keys: dict[str, tuple[float, Any]] = {}
_data_keys_lock = threading.Lock()


class _KeyedStr(str):
    hotline_key_id: str


class _KeyedDict(dict):
    hotline_key_id: str


class _KeyedList(list):
    hotline_key_id: str


def keyed(value: Any, key_id: str) -> Any:
    """`value` tagged to be encrypted under data key `key_id` when bound (equal to the value itself)."""
    if value is None:
        return None
    kind = _KeyedStr if isinstance(value, str) else _KeyedDict if isinstance(value, dict) else \
        _KeyedList if isinstance(value, list) else None
    if kind is None:
        raise TypeError(f"only str, dict and list values can be keyed, not {type(value).__name__}")
    tagged = kind(value)
    tagged.hotline_key_id = key_id
    return tagged


def key_id_of(value: Any) -> str | None:
    """The data key a value is (or will be) encrypted under; None for the master keys."""
    return getattr(value, "hotline_key_id", None)


def remember_data_key(key_id: str, material: str | None) -> None:
    """Put a data key (or its shredding, `material=None`) in this process's cache."""
    with _data_keys_lock:
        _data_keys[key_id] = (time.monotonic(), SHREDDED if material is None else material)


def forget_data_key(key_id: str | None = None) -> None:
    with _data_keys_lock:
        if key_id is None:
            _data_keys.clear()
        else:
            _data_keys.pop(key_id, None)


def data_key_material(key_id: str) -> str | None:
    """The data key (a Fernet key) for `key_id`, None when it was shredded. Looked up in the
    `data_keys` table on a connection of its own (column values are decrypted without a session)
    and kept a few minutes. Raises DecryptionError when no such key exists."""
    with _data_keys_lock:
        cached = _data_keys.get(key_id)
    if cached is not None and time.monotonic() - cached[0] < _DATA_KEY_SECONDS:
        return None if cached[1] is SHREDDED else cached[1]
    with get_engine().connect() as conn:
        row = conn.execute(text("SELECT wrapped FROM data_keys WHERE id = :id"), {"id": key_id}).first()
        conn.rollback()
    if row is None:
        raise DecryptionError(f"data key {key_id} is missing from the data_keys table (a restore without its keys?)")
    material = None if row[0] is None else unwrap(row[0])
    remember_data_key(key_id, material)
    return material


def wrap(material: str) -> str:
    """A data key wrapped (encrypted) by the newest master key."""
    return _fernet().encrypt(material.encode()).decode("ascii")


def unwrap(wrapped: str) -> str:
    try:
        return _fernet().decrypt(wrapped.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError):
        raise DecryptionError("a data key: " + RETIRED_KEY_MESSAGE) from None


@lru_cache(maxsize=4096)
def _data_fernet(material: str) -> Fernet:
    return Fernet(material)


# Column types -------------------------------------------------------------------------------

# Comparing an encrypted column in SQL would compare against a fresh ciphertext (random IV) and
# silently match nothing, so these operators are refused; IS NULL stays allowed.
_REFUSED_OPERATORS = {
    operators.eq,
    operators.ne,
    operators.lt,
    operators.le,
    operators.gt,
    operators.ge,
    operators.in_op,
    operators.not_in_op,
    operators.like_op,
    operators.not_like_op,
    operators.ilike_op,
    operators.not_ilike_op,
    operators.contains_op,
    operators.startswith_op,
    operators.endswith_op,
    operators.between_op,
}


def _refuse(op: Any, other: tuple[Any, ...]) -> None:
    if op in (operators.eq, operators.ne) and all(o is None for o in other):
        return
    if op in _REFUSED_OPERATORS:
        raise TypeError(
            "encrypted columns cannot be compared in SQL (each value has its own ciphertext); "
            "look rows up by a blind index column instead"
        )


class Encrypted(TypeDecorator[str]):
    """A str stored as a Fernet token in a Text column. Encrypts with the newest of
    HOTLINE_DATA_KEYS, decrypts with any of them; raises DecryptionError otherwise."""

    impl = Text
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[str]):  # noqa: N801 - SQLAlchemy's hook name
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            _refuse(op, other)
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            _refuse(op, (other,))
            return super().reverse_operate(op, other, **kwargs)

    def _dump(self, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"an Encrypted column holds str, not {type(value).__name__}; use EncryptedJSON")
        return value

    def _load(self, text: str) -> Any:
        return text

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        plain = self._dump(value).encode()
        key_id = key_id_of(value)
        if key_id is None:
            return _fernet().encrypt(plain).decode("ascii")
        material = data_key_material(key_id)
        if material is None:
            raise DecryptionError(f"data key {key_id} was shredded; nothing more can be stored under it")
        return DATA_KEY_PREFIX + key_id + ":" + _data_fernet(material).encrypt(plain).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.startswith(DATA_KEY_PREFIX):
            key_id, _, token = value[len(DATA_KEY_PREFIX):].partition(":")
            material = data_key_material(key_id)
            if material is None:
                return None  # crypto-shredded: the customer was erased
            try:
                plain = _data_fernet(material).decrypt(token.encode("ascii"))
            except (InvalidToken, UnicodeEncodeError):
                raise DecryptionError(f"a value under data key {key_id} was altered") from None
            loaded = self._load(plain.decode())
            return keyed(loaded, key_id) if isinstance(loaded, (str, dict, list)) else loaded
        try:
            plain = _fernet().decrypt(value.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise DecryptionError(RETIRED_KEY_MESSAGE) from None
        return self._load(plain.decode())

    def process_literal_param(self, value: Any, dialect: Any) -> str:
        raise TypeError("encrypted values are never rendered into SQL text")


class EncryptedJSON(Encrypted):
    """A JSON value (dict, list, ...) encrypted as a whole. Assign a new value to change it:
    in-place changes to the dict are not tracked."""

    cache_ok = True

    def _dump(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def _load(self, text: str) -> Any:
        return json.loads(text)


# Rotation -----------------------------------------------------------------------------------


def encrypted_columns(metadata: MetaData | None = None) -> dict[Table, list[str]]:
    """Every table of the metadata (default: the hub's) with the names of its encrypted columns."""
    if metadata is None:
        from core.db import Base

        metadata = Base.metadata
    found: dict[Table, list[str]] = {}
    for tbl in metadata.sorted_tables:
        names = [c.name for c in tbl.columns if isinstance(c.type, Encrypted)]
        if names:
            found[tbl] = names
    return found


def rotate_all(
    session: Session,
    *,
    metadata: MetaData | None = None,
    batch_size: int = 500,
    commit_every_batch: bool = False,
) -> dict[str, int]:
    """Re-encrypt, under the newest data key, every stored value of every encrypted column of
    the metadata (default `core.db.Base.metadata`: import every models module first, as
    `hotline.models.load_all()` does). Works on the raw tokens in key order, `batch_size` rows at
    a time; values already under the newest key are left alone, so a rerun resumes cheaply.
    Returns the number of values re-encrypted per `table.column` (every column is listed).
    Raises DecryptionError naming the table and column when a value is under none of the keys.
    The caller commits, unless `commit_every_batch` (for very large tables: each batch is kept)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    keys = _keys()
    rotator = _multifernet(keys)
    newest = Fernet(keys[0])
    counts: dict[str, int] = {}
    for tbl, names in encrypted_columns(metadata).items():
        pk = list(tbl.primary_key.columns)
        if not pk:
            raise ConfigurationError(f"table {tbl.name} has encrypted columns but no primary key; it cannot be rotated")
        # A lightweight copy typed as plain Text, so reads and writes see the raw tokens.
        pk_cols = [column(c.name, c.type) for c in pk]
        raw = table(tbl.name, *pk_cols, *(column(n, Text()) for n in names), schema=tbl.schema)
        key_expr = tuple_(*pk_cols) if len(pk_cols) > 1 else pk_cols[0]
        for name in names:
            counts[f"{tbl.name}.{name}"] = 0
        last: tuple[Any, ...] | None = None
        while True:
            query = select(*raw.c).order_by(*pk_cols).limit(batch_size)
            if last is not None:
                query = query.where(key_expr > (tuple_(*last) if len(pk) > 1 else last[0]))
            rows = session.execute(query).all()
            if not rows:
                break
            for name in names:
                changes = []
                for row in rows:
                    token = row._mapping[name]
                    if token is None or _is_current(newest, token):
                        continue
                    try:
                        fresh = rotator.rotate(token.encode("ascii")).decode("ascii")
                    except (InvalidToken, UnicodeEncodeError):
                        ident = ", ".join(str(row._mapping[c.name]) for c in pk)
                        raise DecryptionError(f"{tbl.name}.{name} (row {ident}): {RETIRED_KEY_MESSAGE}") from None
                    params = {f"hl_pk_{i}": row._mapping[c.name] for i, c in enumerate(pk)}
                    changes.append({**params, "hl_old": token, "hl_new": fresh})
                if changes:
                    # Matching on the old token too: a value rewritten meanwhile is not overwritten.
                    stmt = (
                        update(raw)
                        .where(*(raw.c[c.name] == bindparam(f"hl_pk_{i}") for i, c in enumerate(pk)))
                        .where(raw.c[name] == bindparam("hl_old"))
                        .values({name: bindparam("hl_new")})
                    )
                    session.connection().execute(stmt, changes)
                    counts[f"{tbl.name}.{name}"] += len(changes)
            last = tuple(rows[-1]._mapping[c.name] for c in pk)
            if commit_every_batch:
                session.commit()
    log.info("data key rotation re-encrypted %d values", sum(counts.values()))
    return counts


def _is_current(newest: Fernet, token: str) -> bool:
    if token.startswith(DATA_KEY_PREFIX):
        return True  # under a data key, which the master keys wrap: rotating re-wraps the data key
    try:
        newest.decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True
