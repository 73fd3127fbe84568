"""Tunables: the numbers an administrator may change (DOMAIN.md's "numbers are defaults"), declared
by the package that reads them (namespace, key, bounds, default, label) and stored once, here, as
overrides with who changed them and when. Reads are typed and cost one query per transaction;
writes are checked against the declared bounds and audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, ScalarSelect, String, event, literal_column, select
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column, object_session

from core import clock
from core.audit import record as audit
from core.cache import forget as forget_remembered
from core.cache import remembered
from core.db import Base
from core.errors import ValidationFailed
from core.models import User

__all__ = [
    "NAMESPACES", "Namespace", "OutOfBounds", "Override", "Tunable", "TunableValue", "declare", "declared",
    "defaults", "find", "forget", "get", "namespace", "overrides", "override_subquery", "reset", "set_value",
    "values",
]

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Where the integers of the databases end: no tunable may be declared beyond them.
_INT_MAX = 2_147_483_647


class TunableValue(Base):
    """An administrator's value for one declared tunable, in place of its default."""

    __tablename__ = "tunables"

    namespace: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())


@dataclass(frozen=True)
class Namespace:
    name: str
    title: str  # an English msgid, translated where it is shown


@dataclass(frozen=True)
class Tunable:
    """One declared number. `label`, `help` and `unit` are English msgids (the pages translate
    them); `choices`, when given, are the only values allowed (within the bounds)."""

    namespace: str
    key: str
    default: int
    minimum: int
    maximum: int
    label: str
    unit: str = ""
    help: str = ""
    choices: tuple[int, ...] = ()
    # Called after a new value is stored, in the same transaction (the router re-sorts its queue).
    on_change: Callable[[Session, int], None] | None = None

    @property
    def name(self) -> str:
        return f"{self.namespace}.{self.key}"

    def allows(self, value: object) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool) and self.minimum <= value <= self.maximum
                and (not self.choices or value in self.choices))


@dataclass(frozen=True)
class Override:
    value: int
    changed_at: datetime
    changed_by_id: int | None
    changed_by_name: str | None
    reason: str | None


class OutOfBounds(ValidationFailed):
    """A value outside the declared bounds of a tunable. `message_id` is the msgid of the message
    and `params` its values, so a page can say it in the reader's language."""

    default_msgid = "That value is outside the setting's bounds."
    RANGE = "Give a whole number from %(minimum)s to %(maximum)s."
    CHOICE = "Choose one of %(choices)s."

    def __init__(self, tunable: Tunable) -> None:
        self.message_id = self.CHOICE if tunable.choices else self.RANGE
        params: dict[str, object] = {"tunable": tunable.name, "minimum": tunable.minimum, "maximum": tunable.maximum}
        if tunable.choices:
            params["choices"] = ", ".join(str(c) for c in tunable.choices)
        super().__init__(self.message_id, field="value", params=params)


NAMESPACES: dict[str, Namespace] = {}
_DECLARED: dict[tuple[str, str], Tunable] = {}


def namespace(name: str, *, title: str) -> Namespace:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"a namespace is a lower-case identifier, not {name!r}")
    found = NAMESPACES.setdefault(name, Namespace(name, title))
    if found.title != title:
        raise ValueError(f"namespace {name!r} is declared twice with different titles")
    return found


def declare(namespace: str, key: str, *, default: int, minimum: int, maximum: int, label: str, unit: str = "",
            help: str = "", choices: tuple[int, ...] = (),
            on_change: Callable[[Session, int], None] | None = None) -> Tunable:
    """Declare a tunable (at import of the module that reads it). Declaring the same one twice
    with other bounds is a programming error, found at start."""
    if namespace not in NAMESPACES:
        raise ValueError(f"declare the namespace {namespace!r} first")
    if not _IDENTIFIER.fullmatch(key):
        raise ValueError(f"a tunable's key is a lower-case identifier, not {key!r}")
    tunable = Tunable(namespace, key, default, minimum, maximum, label, unit, help, tuple(choices), on_change)
    if not -_INT_MAX <= minimum <= maximum <= _INT_MAX or not tunable.allows(default):
        raise ValueError(f"{tunable.name}: the default {default} is outside its bounds")
    known = _DECLARED.setdefault((namespace, key), tunable)
    if known != tunable:
        raise ValueError(f"{tunable.name} is declared twice, differently")
    return tunable


def declared(namespace: str | None = None) -> list[Tunable]:
    """Every declared tunable (of one namespace), in declaration order."""
    return [t for t in _DECLARED.values() if namespace is None or t.namespace == namespace]


def find(namespace: str, key: str) -> Tunable:
    """The declared tunable, or ValidationFailed naming the known keys."""
    tunable = _DECLARED.get((namespace, key))
    if tunable is None:
        raise ValidationFailed("Unknown setting; choose one from the list.", field="key",
                               params={"key": key, "known": [t.key for t in declared(namespace)]})
    return tunable


def defaults(namespace: str) -> dict[str, int]:
    return {t.key: t.default for t in declared(namespace)}


# Reads ------------------------------------------------------------------------------------------

_CACHE = "core.tunables"
_WRITTEN = "core.tunables.written"


def _stored(session: Session) -> dict[tuple[str, str], int]:
    """Every override. The router asks on each decision, a sweep for each ticket, and nearly
    every webhook of a call reads one, while an administrator rarely changes them: read once per
    transaction and remembered for a few seconds per process (core.cache). An edit made in this
    process clears that memory when its transaction ends; other processes see it within the
    cache's TTL. A transaction that wrote an override reads its own writes, never the memory."""
    cached: dict[tuple[str, str], int] | None = session.info.get(_CACHE)
    if cached is None:
        if session.info.get(_WRITTEN):
            cached = _load(session)
        else:
            cached = remembered(session, _CACHE, lambda: _load(session))
        session.info[_CACHE] = cached
    return cached


def _load(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(select(TunableValue.namespace, TunableValue.key, TunableValue.value))
    return {(ns, key): value for ns, key, value in rows}


def forget(session: Session) -> None:
    session.info.pop(_CACHE, None)


@event.listens_for(TunableValue, "before_insert")
@event.listens_for(TunableValue, "before_update")
@event.listens_for(TunableValue, "before_delete")
def _note_write(_mapper: Any, _connection: Any, row: TunableValue) -> None:
    # However an override is written (set_value, reset, or a row added directly), its
    # transaction reads its own writes from then on, and the process forgets at its end.
    session = object_session(row)
    if session is not None:
        session.info[_WRITTEN] = True
        forget(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction or a SAVEPOINT ended (a rolled-back savepoint may have held a
    # write); the subtransactions of a flush keep the cache. A transaction that wrote an
    # override clears the process's memory as it ends, committed or not: another unit of work
    # may have remembered the rows as they were before it.
    if transaction.parent is None or transaction.nested:
        forget(session)
    if transaction.parent is None and session.info.pop(_WRITTEN, None):
        forget_remembered()


def get(session: Session, tunable: Tunable) -> int:
    """The value in force: the stored override if it is still allowed, else the default."""
    value = _stored(session).get((tunable.namespace, tunable.key))
    return value if value is not None and tunable.allows(value) else tunable.default


def values(session: Session, namespace: str) -> dict[str, int]:
    """Every declared tunable of `namespace` with the value in force."""
    return {t.key: get(session, t) for t in declared(namespace)}


def overrides(session: Session, namespace: str | None = None) -> dict[tuple[str, str], Override]:
    """The stored overrides with who set them and when (for the administration page)."""
    query = (select(TunableValue, User.display_name).outerjoin(User, User.id == TunableValue.changed_by_id))
    if namespace is not None:
        query = query.where(TunableValue.namespace == namespace)
    return {(row.namespace, row.key): Override(row.value, row.changed_at, row.changed_by_id, name, row.reason)
            for row, name in session.execute(query)}


def override_subquery(tunable: Tunable) -> ScalarSelect[Any]:
    """The stored override as a scalar subquery (NULL without one, or when it is outside the
    bounds, as `get` reads it), for a statement that must read it in the same round trip as its
    other work. Names and bounds are written into the SQL (declared identifiers and integers), so
    a prepared statement's plan stays generic."""
    names = [literal_column(f"'{name}'", String) for name in (tunable.namespace, tunable.key)]
    low, high = (literal_column(str(int(bound)), Integer) for bound in (tunable.minimum, tunable.maximum))
    conditions = [TunableValue.namespace == names[0], TunableValue.key == names[1],
                  TunableValue.value.between(low, high)]
    if tunable.choices:
        conditions.append(TunableValue.value.in_([literal_column(str(int(c)), Integer) for c in tunable.choices]))
    return select(TunableValue.value).where(*conditions).scalar_subquery()


# Writes -----------------------------------------------------------------------------------------

def set_value(session: Session, tunable: Tunable, value: int, *, by: User | None = None,
              reason: str | None = None) -> int:
    """Store `value` in place of the default, checked against the declared bounds; audited with
    the value before. Returns the value in force."""
    if not tunable.allows(value):
        raise OutOfBounds(tunable)
    before = get(session, tunable)
    reason = (reason or "")[:200] or None
    # Audited before the write: on SQLite the trail's append lock may end a reader's transaction
    # first, and the change must fall in the writer's transaction that follows.
    audit(session, action="tunable.changed", actor_id=by.id if by else None, actor_name=by.username if by else None,
          object_type="tunable", object_id=tunable.name, details={"before": before, "value": value, "reason": reason})
    row = session.get(TunableValue, (tunable.namespace, tunable.key))
    if row is None:
        row = TunableValue(namespace=tunable.namespace, key=tunable.key)
        session.add(row)
    row.value, row.reason = value, reason
    row.changed_by_id, row.changed_at = (by.id if by else None), clock.now()
    session.flush()
    forget(session)
    if tunable.on_change is not None and value != before:
        tunable.on_change(session, value)
    return value


def reset(session: Session, tunable: Tunable, *, by: User | None = None) -> int:
    """Forget the override: the default applies again. Audited. Returns the value in force."""
    before = get(session, tunable)
    if (tunable.namespace, tunable.key) not in _stored(session):
        return tunable.default
    audit(session, action="tunable.reset", actor_id=by.id if by else None, actor_name=by.username if by else None,
          object_type="tunable", object_id=tunable.name, details={"before": before, "value": tunable.default})
    row = session.get(TunableValue, (tunable.namespace, tunable.key))
    if row is not None:
        session.delete(row)
        session.flush()
    forget(session)
    if tunable.on_change is not None and tunable.default != before:
        tunable.on_change(session, tunable.default)
    return tunable.default
