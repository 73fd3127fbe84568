"""The audit trail: append-only entries chained by HMAC so `verify` finds an altered, removed
or inserted entry, and database triggers that refuse UPDATE and DELETE."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy import DDL, BigInteger, Index, Integer, String, Text, event, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import clock
from core.config import get_settings
from core.crypto import derive_key
from core.db import WRITER, Base, become_writer

# What the trail does not do on its own. Callers pass ids and reasons only, never personal data
# values or secrets: `details` is stored in clear for as long as the trail is kept. Someone with
# the table owner's rights can drop the triggers or TRUNCATE, and removing the newest entries
# leaves a valid, shorter chain: `core.audit_checkpoints` notes the head (seq and hash) outside
# the database every minute and at shutdown, and `verify` given those checkpoints detects the
# cut. The HMAC key derives from HOTLINE_SECRET_KEY, so changing that secret makes the existing
# trail fail verification. In production the hub's database role should hold only INSERT and
# SELECT on audit_entries.

log = logging.getLogger("hotline.audit")

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key that serialises appends across processes ("AUDIT" in ASCII).
APPEND_LOCK_KEY = 0x4155444954


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, nullable=False)
    at: Mapped[datetime] = mapped_column(nullable=False)
    # No foreign key: the trail must outlive (and stand apart from) the users table.
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    object_type: Mapped[str | None] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(100))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str | None] = mapped_column(Text)  # canonical JSON, see canonical_details
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    @property
    def details_dict(self) -> dict[str, Any]:
        return json.loads(self.details) if self.details else {}

    def __repr__(self) -> str:
        return f"<AuditEntry seq={self.seq} action={self.action!r}>"


# Append-only triggers -----------------------------------------------------------------------

_REFUSAL = "audit_entries is append-only"
_DDL: dict[str, tuple[list[str], list[str]]] = {
    # RAISE(ABORT) fails the statement with SQLITE_CONSTRAINT (an IntegrityError).
    "sqlite": (
        [
            "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: UPDATE refused'); END",
            "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: DELETE refused'); END",
        ],
        ["DROP TRIGGER IF EXISTS audit_entries_no_update", "DROP TRIGGER IF EXISTS audit_entries_no_delete"],
    ),
    # restrict_violation (23001) so both databases raise an IntegrityError. TRUNCATE is not
    # refused: it needs the table owner's rights, and the test harness empties tables with it.
    "postgresql": (
        [
            "CREATE OR REPLACE FUNCTION audit_entries_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION USING MESSAGE = '{_REFUSAL}: ' || TG_OP || ' refused', "
            "ERRCODE = 'restrict_violation'; END; $$",
            "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
            "FOR EACH ROW EXECUTE FUNCTION audit_entries_refuse_change()",
        ],
        [
            "DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries",
            "DROP FUNCTION IF EXISTS audit_entries_refuse_change()",
        ],
    ),
}


for _dialect, (_create, _drop) in _DDL.items():
    for _statement in _create:
        # DDL() applies %-formatting to its text; escape in case a statement ever holds a %.
        _ddl = DDL(_statement.replace("%", "%%")).execute_if(dialect=_dialect)
        event.listen(AuditEntry.__table__, "after_create", _ddl)
    if _dialect == "postgresql":
        event.listen(AuditEntry.__table__, "after_drop", DDL(_drop[-1]).execute_if(dialect=_dialect))


# Hashing ------------------------------------------------------------------------------------

# Keys in details that suggest a secret or a personal data value; refused at record time.
_FORBIDDEN_PARTS = {"password", "passwd", "passcode", "secret", "otp", "phone", "email"}


def _check_keys(value: Any, path: str = "details") -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path} keys must be strings")
            parts = set(re.split(r"[^a-z0-9]+", key.lower()))
            if parts & _FORBIDDEN_PARTS or key.lower() == "token" or key.lower().endswith("_token"):
                raise ValueError(
                    f"{path}[{key!r}] looks like a secret or personal data; audit details hold ids and reasons only"
                )
            _check_keys(inner, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_keys(item, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"audit details cannot hold a {type(value).__name__}")


def _canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    )


def canonical_details(details: dict[str, Any] | None) -> str | None:
    """Details as canonical JSON text (sorted keys, no spaces): equal dicts give equal text."""
    if details is None:
        return None
    if not isinstance(details, dict):
        raise TypeError("audit details must be a dict")
    _check_keys(details)
    return _canonical(details)


_HASHED_FIELDS = (
    "seq", "at", "actor_id", "actor_name", "action", "object_type", "object_id", "source_ip", "details", "prev_hash",
)


def _chain_key() -> bytes:
    return derive_key(get_settings().secret(), "audit-chain/v1")


def compute_hash(
    key: bytes,
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_name: str | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    source_ip: str | None,
    details: str | None,
    prev_hash: str,
) -> str:
    """HMAC-SHA256 over the canonical JSON of an entry's fields and its predecessor's hash.
    Keyed by the server secret, so database access alone cannot forge a consistent chain."""
    payload = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "source_ip": source_ip,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hmac.new(key, _canonical(payload).encode(), hashlib.sha256).hexdigest()


# Writing ------------------------------------------------------------------------------------


def _serialise_appends(session: Session) -> None:
    """Hold the trail's append lock until the transaction ends, so reading the last entry and
    writing the next one cannot interleave with another process doing the same."""
    bind = session.get_bind(AuditEntry)
    if bind.dialect.name == "postgresql":
        # Transaction-scoped and re-entrant; READ COMMITTED then sees the newest committed entry.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
    elif bind.dialect.name == "sqlite":
        # A transaction that has not touched the database yet starts as BEGIN IMMEDIATE and
        # waits its turn. A reader that already read (a page showing a customer's card) ends its
        # read and goes on as the writer: a read transaction cannot safely become a write one.
        # (SessionTransaction offers no public way to ask whether it holds a connection yet.)
        transaction = session.get_transaction()
        started = getattr(transaction, "_connections", {}) if transaction is not None else {}
        if bind in started and not session.connection(bind_arguments={"mapper": AuditEntry}).get_execution_options(
                ).get(WRITER, False):
            become_writer(session)
            started = {}
        if bind not in started:
            session.connection(bind_arguments={"mapper": AuditEntry}, execution_options={WRITER: True})


def record(
    session: Session,
    *,
    action: str,
    actor_id: int | None = None,
    actor_name: str | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    source_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the session's transaction (it is kept only if that commits).

    `details` holds ids and reasons, never personal data values or secrets. Appends are
    serialised until commit, so record late in the unit of work. On SQLite, a transaction that
    has read but not yet written should start with `core.db.write_locked(session)`; otherwise a
    concurrent writer can make this append fail with "database is locked" (the chain itself
    stays valid either way). On PostgreSQL, use the default READ COMMITTED isolation."""
    if not action or len(action) > 100:
        raise ValueError("an audit action is a short dotted name such as 'customer.viewed'")
    details_text = canonical_details(details)
    object_id = None if object_id is None else str(object_id)
    _serialise_appends(session)
    last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
    at = clock.now()
    fields = dict(
        seq=seq,
        at=at,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        source_ip=source_ip,
        details=details_text,
        prev_hash=prev_hash,
    )
    entry = AuditEntry(**fields, hash=compute_hash(_chain_key(), **fields))  # type: ignore[arg-type]
    session.add(entry)
    session.flush()
    return entry


# Refusals that outlive the rollback ---------------------------------------------------------

_REFUSALS = "hotline_audit_refusals"  # written in the open transaction
_LOST = "hotline_audit_refusals_lost"  # undone by its rollback; `keep_refusals` writes them again


def record_refusal(session: Session, **fields: Any) -> AuditEntry:
    """Audit a refusal (the arguments of `record`). The caller usually raises next, and the unit of
    work is rolled back with the entry in it; the entry is remembered so that `keep_refusals`,
    run when the request's unit of work has ended, writes it again in a transaction of its own."""
    entry = record(session, **fields)
    session.info.setdefault(_REFUSALS, []).append(fields)
    return entry


@event.listens_for(Session, "after_commit")
def _refusals_kept(session: Session) -> None:
    if not session.in_nested_transaction():  # a released SAVEPOINT commits nothing yet
        session.info.pop(_REFUSALS, None)


@event.listens_for(Session, "after_soft_rollback")
def _refusals_lost(session: Session, _previous: Any) -> None:
    if not session.in_transaction():  # the outermost transaction ended: its entries are gone
        lost = session.info.pop(_REFUSALS, [])
        if lost:
            session.info.setdefault(_LOST, []).extend(lost)


def keep_refusals(session: Session) -> int:
    """Write again, and commit, the refusals a rollback undid (call once the unit of work ended)."""
    lost = session.info.pop(_LOST, [])
    if not lost:
        return 0
    try:
        for fields in lost:
            record(session, **fields)
        session.commit()
    except Exception:  # noqa: BLE001 - the response is already decided; say so loudly instead
        session.rollback()
        log.exception("refusals could not be written to the audit trail", extra={"count": len(lost)})
        return 0
    return len(lost)


# Reading ------------------------------------------------------------------------------------


def entries_for(
    session: Session,
    *,
    object_type: str | None = None,
    object_id: str | int | None = None,
    actor_id: int | None = None,
    action_prefix: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries matching every given filter, newest first (at most 1000)."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(max(1, min(limit, 1000)))
    if object_type is not None:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == str(object_id))
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action_prefix:
        query = query.where(AuditEntry.action.startswith(action_prefix, autoescape=True))
    return list(session.scalars(query))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str
    last_seq: int | None = None  # the head to note elsewhere, to detect a truncated tail later
    last_hash: str | None = None


def verify(
    session: Session,
    *,
    batch_size: int = 1000,
    expected_head: tuple[int, str] | None = None,
    checkpoints: Mapping[int, str] | None = None,
) -> VerifyResult:
    """Walk the whole chain in seq order, `batch_size` rows at a time, and report the first
    entry that was altered, removed or inserted. With `expected_head` (a seq and hash noted
    from an earlier result), or `checkpoints` (seq -> hash, noted outside the database; see
    `core.audit_checkpoints`), also check that each noted entry is still the one noted and detect
    that entries up to the newest noted one were removed from the end."""
    noted = dict(checkpoints or {})
    if expected_head is not None:
        noted[expected_head[0]] = expected_head[1]
    if noted:
        expected_head = max(noted.items())
    key = _chain_key()
    table = AuditEntry.__table__
    columns = [table.c[name] for name in (*_HASHED_FIELDS, "hash")]
    checked, prev_hash = 0, GENESIS_HASH

    def bad(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(False, checked, seq, reason, checked or None, prev_hash if checked else None)

    first_batch = True
    while True:
        query = select(*columns).order_by(table.c.seq).limit(batch_size)
        if not first_batch:  # the first batch starts below 1 too, so a seq of 0 or less is seen
            query = query.where(table.c.seq > checked)
        first_batch = False
        try:
            rows = session.execute(query).all()
        except (ValueError, TypeError):  # SQLite keeps whatever was written, even a non-date
            return bad(checked + 1, f"an entry after entry {checked} cannot be read: its stored values were altered")
        if not rows:
            break
        for row in rows:
            fields = row._asdict()
            stored_hash = fields.pop("hash")
            problem = _problem(key, fields, stored_hash, checked, prev_hash, noted)
            if problem:
                return bad(row.seq if isinstance(row.seq, int) and row.seq <= checked else checked + 1, problem)
            checked, prev_hash = row.seq, stored_hash
    if expected_head and checked < expected_head[0]:
        first, last = checked + 1, expected_head[0]
        which = f"entry {first} is" if first == last else f"entries {first} to {last} are"
        ends = f"ends at entry {checked}" if checked else "is empty"
        return bad(
            first,
            f"{which} missing: the trail {ends} but entry {last} was noted earlier: the newest entries were removed",
        )
    return VerifyResult(
        True, checked, None, f"the audit trail is intact: {checked} entries checked", checked or None,
        prev_hash if checked else None,
    )


def _problem(
    key: bytes, fields: dict[str, Any], stored_hash: str, last_good: int, prev_hash: str,
    noted: Mapping[int, str],
) -> str | None:
    """Why this entry cannot follow the last good one, or None when it can."""
    seq, first = fields["seq"], last_good + 1
    if not isinstance(seq, int) or seq < first:
        return f"an entry with the out-of-place seq {seq!r} was inserted or altered"
    if seq != first:
        which = f"entry {first} is" if seq == first + 1 else f"entries {first} to {seq - 1} are"
        return f"{which} missing: removed from the audit trail"
    if not _same(compute_hash(key, **fields), stored_hash):
        hint = "" if last_good else " (if every entry fails, HOTLINE_SECRET_KEY changed since the trail was written)"
        return f"entry {seq} was altered after it was written: its contents do not match its hash{hint}"
    if fields["prev_hash"] != prev_hash:
        return f"entry {seq} does not follow entry {seq - 1}: an entry was replaced or inserted"
    if seq in noted and not _same(stored_hash, noted[seq]):
        return f"entry {seq} is not the one noted earlier: the trail was rewritten"
    return None


def _same(a: str, b: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str and a tampered hash may hold anything.
    return hmac.compare_digest(str(a).encode(), str(b).encode())


def count_actions(session: Session, *, action: str, actor_ids: list[int], start: datetime, end: datetime) -> int:
    """How many entries of `action` these people wrote in [start, end) (a workload figure: how
    many customer cards were looked up, say), without reading any entry's details."""
    if not actor_ids:
        return 0
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.actor_id.in_(actor_ids),
        AuditEntry.at >= start, AuditEntry.at < end)) or 0


@dataclass(frozen=True)
class TrailPage:
    entries: list[AuditEntry]
    has_more: bool  # entries older than the last one shown match too


def browse(
    session: Session,
    *,
    actor_id: int | None = None,
    action: str | None = None,
    customer_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> TrailPage:
    """One page of the entries matching every given filter, newest first, for reading the trail.
    `customer_id` matches entries about the customer and entries whose details name the customer
    (a grant's, say: details are canonical JSON, so the id is written one way only); [start, end)."""
    limit = max(1, min(limit, 500))
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).offset(max(0, offset)).limit(limit + 1)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if customer_id is not None:
        named = f'"customer_id":{int(customer_id)}'
        query = query.where(
            ((AuditEntry.object_type == "customer") & (AuditEntry.object_id == str(customer_id)))
            | AuditEntry.details.contains(named + ",", autoescape=True)
            | AuditEntry.details.contains(named + "}", autoescape=True)
        )
    if start is not None:
        query = query.where(AuditEntry.at >= start)
    if end is not None:
        query = query.where(AuditEntry.at < end)
    rows = list(session.scalars(query))
    return TrailPage(rows[:limit], len(rows) > limit)


def actions_seen(session: Session) -> list[str]:
    """Every action the trail holds, for a filter's choices."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
