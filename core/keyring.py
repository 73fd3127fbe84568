"""Data keys (envelope encryption): one random key per owner (a customer, or a recording of an
unknown caller), stored wrapped by the master keys, used for that owner's encrypted columns and
media, and shredded to erase the owner everywhere at once. Models register how to find their
row's key; values they store are sealed under it at flush."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import String, event, select, update
from sqlalchemy.orm import Mapped, Session, attributes, mapped_column

from core import clock
from core.crypto import Encrypted, forget_data_key, key_id_of, keyed, remember_data_key, unwrap
from core.db import Base, UTCDateTime, table_of

__all__ = ["DataKey", "KeyShredded", "create_key", "export_keys", "import_keys", "material", "register",
           "reseal", "shred", "shredded_owners"]


class KeyShredded(RuntimeError):
    """The data key was shredded: what it encrypted is gone."""


class DataKey(Base):
    """A data key wrapped by the master keys (`wrapped` is itself an encrypted column, so
    `hotline keys rotate` re-wraps every data key). Shredding nulls `wrapped` and keeps the row
    as the tombstone that tells a restore whose data is gone."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "customer:12", "recording:RE…": whose key (no personal data).
    owner: Mapped[str | None] = mapped_column(String(80), index=True)
    wrapped: Mapped[str | None] = mapped_column(Encrypted())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: clock.now())
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<DataKey {self.id} {self.owner} {'shredded' if self.shredded_at else 'live'}>"


def create_key(session: Session, *, owner: str | None = None) -> str:
    """A new data key (added to the session, known to this process at once); returns its id."""
    key_id = secrets.token_hex(16)
    material_value = Fernet.generate_key().decode()
    session.add(DataKey(id=key_id, owner=owner, wrapped=material_value))  # the column wraps it
    remember_data_key(key_id, material_value)
    return key_id


def material(key_id: str) -> str:
    """The raw data key (for media encryption). Raises KeyShredded once shredded."""
    from core.crypto import data_key_material

    value = data_key_material(key_id)
    if value is None:
        raise KeyShredded(f"data key {key_id} was shredded")
    return value


def shred(session: Session, *, key_ids: Iterable[str], owner: str | None = None) -> list[str]:
    """Destroy these data keys (the tombstone rows stay); returns the ids shredded now."""
    ids = sorted(set(key_ids))
    if not ids:
        return []
    now = clock.now()
    values: dict[str, Any] = {"wrapped": None, "shredded_at": now}
    if owner is not None:
        values["owner"] = owner
    session.execute(update(DataKey).where(DataKey.id.in_(ids), DataKey.shredded_at.is_(None)).values(**values)
                    .execution_options(synchronize_session=False))
    # SQLite keeps deleted bytes in free pages unless told to overwrite them.
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete = ON")
    for key_id in ids:
        remember_data_key(key_id, None)
    return ids


def shredded_owners(session: Session) -> list[tuple[str, str | None, datetime | None]]:
    return list(session.execute(select(DataKey.id, DataKey.owner, DataKey.shredded_at)
                                .where(DataKey.shredded_at.is_not(None))))


# Backups carry the data keys apart from the database, so an erasure can reach them ---------

def export_keys(session: Session) -> list[dict[str, Any]]:
    """Every data key as stored (wrapped by the master keys, never in clear), tombstones included."""
    from sqlalchemy import Text, column, table

    raw = table("data_keys", column("id", String()), column("owner", String()), column("wrapped", Text()),
                column("shredded_at", String()))
    return [{"id": r.id, "owner": r.owner, "wrapped": r.wrapped, "shredded": r.shredded_at is not None}
            for r in session.execute(select(raw).order_by(raw.c.id))]


def import_keys(session: Session, rows: list[dict[str, Any]]) -> int:
    """Put exported keys back (a restore): wrapped tokens are written as they are."""
    from sqlalchemy import Text, column, table

    raw = table("data_keys", column("id", String()), column("owner", String()), column("wrapped", Text()),
                column("created_at", UTCDateTime()), column("shredded_at", UTCDateTime()))
    now = clock.now()
    session.execute(raw.delete())
    if rows:
        session.execute(raw.insert(), [{"id": r["id"], "owner": r.get("owner"), "wrapped": r.get("wrapped"),
                                        "created_at": now, "shredded_at": now if r.get("shredded") else None}
                                       for r in rows])
    forget_data_key()
    return len(rows)


def check_wrapped(rows: list[dict[str, Any]]) -> None:
    """Each live key unwraps with the master keys in use (a backup's keys are usable)."""
    for row in rows:
        if row.get("wrapped"):
            unwrap(row["wrapped"])


# Sealing at flush ------------------------------------------------------------------------

Resolver = Callable[[Session, Any], "str | None"]
_RESOLVERS: dict[type, tuple[Resolver, tuple[str, ...]]] = {}


def register(model: type[Base], resolver: Resolver) -> None:
    """Values of `model`'s encrypted columns are sealed under the data key `resolver(session,
    row)` returns (None: the master keys), whenever they change."""
    names = tuple(c.key for c in table_of(model).columns if isinstance(c.type, Encrypted))
    _RESOLVERS[model] = (resolver, names)


def registered() -> dict[type, tuple[Resolver, tuple[str, ...]]]:
    return dict(_RESOLVERS)


def _seal_row(session: Session, row: Any, *, all_columns: bool = False) -> int:
    resolver, names = _RESOLVERS[type(row)]
    state = attributes.instance_state(row)
    # A value never loaded (a deferred column) has not changed: its history is not fetched.
    unfetched = attributes.PASSIVE_NO_INITIALIZE
    changed = [n for n in names if all_columns or attributes.get_history(row, n, unfetched).added or
               (state.key is None and getattr(row, n) is not None)]
    changed = [n for n in changed if getattr(row, n) is not None]
    if not changed:
        return 0
    key_id = resolver(session, row)
    if key_id is None:
        return 0
    count = 0
    for name in changed:
        value = getattr(row, name)
        if key_id_of(value) != key_id:
            setattr(row, name, keyed(value, key_id))
            count += 1
    return count


@event.listens_for(Session, "before_flush")
def _seal(session: Session, _context: Any, _instances: Any) -> None:
    if not _RESOLVERS:
        return
    for row in [*session.new, *session.dirty]:
        if type(row) in _RESOLVERS:
            _seal_row(session, row)


def reseal(session: Session, rows: Iterable[Any]) -> int:
    """Put these rows' encrypted values under their data key now (values written by a plain
    INSERT, or before the owner was known); returns how many values moved."""
    return sum(_seal_row(session, row, all_columns=True) for row in rows)
