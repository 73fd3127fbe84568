"""The audit trail: the hash chain, its verification, the append-only triggers, and appends
from several threads at once."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit, config, db
from core.audit import AuditEntry, canonical_details, record, verify
from core.clock import FrozenClock
from core.config import Settings


def add_entries(session: Session, clock: FrozenClock, count: int = 5) -> list[AuditEntry]:
    entries = []
    for i in range(1, count + 1):
        entries.append(
            record(
                session,
                action="customer.viewed",
                actor_id=7,
                actor_name="agent.li",
                object_type="customer",
                object_id=100 + i,
                source_ip="10.0.0.5",
                details={"reason": "call", "call_id": i},
            )
        )
        clock.advance(seconds=1, microseconds=250)
    session.commit()
    return entries


def tamper(session: Session, engine: Engine, sql: str, **params: object) -> None:
    """Change the table as someone with database rights would: triggers off, change, triggers
    back on, in one transaction so a failure leaves nothing behind."""
    session.rollback()  # release this session's locks; ALTER TABLE waits for them on PostgreSQL
    dialect = engine.dialect.name
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_entries DISABLE TRIGGER ALL")
        else:  # SQLite cannot disable a trigger: drop them, and put the same ones back after
            triggers = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                            "AND tbl_name = 'audit_entries'").all()
            assert triggers
            for name, _ in triggers:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.execute(text(sql), params)
        if dialect == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_entries ENABLE TRIGGER ALL")
        else:
            for _, statement in triggers:
                conn.exec_driver_sql(statement)


def test_record_builds_a_chain_that_verifies(session: Session, clock: FrozenClock) -> None:
    start = clock.now()
    entries = add_entries(session, clock)

    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == audit.GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:]))
    assert entries[0].at == start and entries[1].at == start + timedelta(seconds=1, microseconds=250)
    assert entries[2].object_id == "103"

    result = verify(session)
    assert result.ok, result.reason
    assert (result.checked, result.first_bad_seq, result.last_seq, result.last_hash) == (5, None, 5, entries[-1].hash)
    assert "intact" in result.reason


def test_verify_empty_trail(session: Session) -> None:
    result = verify(session)
    assert result.ok and result.checked == 0 and result.last_seq is None


def test_verify_in_small_batches(session: Session, clock: FrozenClock, engine: Engine) -> None:
    add_entries(session, clock, 7)
    assert verify(session, batch_size=2).checked == 7
    tamper(session, engine, "DELETE FROM audit_entries WHERE seq = 5")
    result = verify(session, batch_size=2)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 5, 4)


def test_details_are_canonical_json(session: Session) -> None:
    one = record(session, action="user.role_changed", details={"to": "lead", "from": "agent", "site": {"b": 2, "a": 1}})
    two = record(session, action="user.role_changed", details={"site": {"a": 1, "b": 2}, "from": "agent", "to": "lead"})
    assert one.details == two.details == '{"from":"agent","site":{"a":1,"b":2},"to":"lead"}'
    assert one.details_dict["site"] == {"a": 1, "b": 2}
    assert canonical_details(None) is None
    assert record(session, action="auth.sign_out").details is None


@pytest.mark.parametrize(
    "details", [{"password": "hunter2"}, {"new_secret": "x"}, {"csrf_token": "x"}, {"nested": [{"phone": "138"}]}]
)
def test_details_refuse_secrets_and_personal_values(session: Session, details: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="ids and reasons only"):
        record(session, action="auth.sign_in_failed", details=details)


def test_trigger_refuses_update(session: Session, clock: FrozenClock) -> None:
    add_entries(session, clock, 2)
    with pytest.raises(IntegrityError, match="append-only"):
        session.execute(text("UPDATE audit_entries SET action = 'nothing.happened' WHERE seq = 1"))
    session.rollback()

    entry = session.scalars(select(AuditEntry).where(AuditEntry.seq == 2)).one()
    entry.actor_name = "someone.else"
    with pytest.raises(IntegrityError, match="append-only"):
        session.flush()
    session.rollback()
    assert verify(session).ok


def test_trigger_refuses_delete(session: Session, clock: FrozenClock) -> None:
    add_entries(session, clock, 2)
    with pytest.raises(IntegrityError, match="append-only"):
        session.execute(text("DELETE FROM audit_entries"))
    session.rollback()
    assert verify(session).checked == 2


def test_verify_reports_an_edited_entry(session: Session, clock: FrozenClock, engine: Engine) -> None:
    add_entries(session, clock)
    tamper(session, engine, "UPDATE audit_entries SET actor_name = 'nobody' WHERE seq = 3")

    result = verify(session)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 3, 2)
    assert "entry 3 was altered" in result.reason


def test_verify_reports_a_forged_hash(session: Session, clock: FrozenClock, engine: Engine) -> None:
    """Someone who recomputes a plain SHA-256 (without the server secret) is still caught."""
    entries = add_entries(session, clock)
    forged = hashlib.sha256(b"whatever they like").hexdigest()
    tamper(session, engine, "UPDATE audit_entries SET details = '{}', hash = :h WHERE seq = 4", h=forged)
    tamper(session, engine, "UPDATE audit_entries SET prev_hash = :h WHERE seq = 5", h=forged)
    result = verify(session)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert entries[3].hash != forged


def test_verify_reports_a_removed_middle_entry(session: Session, clock: FrozenClock, engine: Engine) -> None:
    add_entries(session, clock)
    tamper(session, engine, "DELETE FROM audit_entries WHERE seq = 3")

    result = verify(session)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 3, 2)
    assert "entry 3 is missing" in result.reason


def test_verify_reports_an_inserted_entry(session: Session, clock: FrozenClock, engine: Engine) -> None:
    entries = add_entries(session, clock, 3)
    # Shift the last entry up and slip a made-up one in its place.
    tamper(session, engine, "UPDATE audit_entries SET seq = 4 WHERE seq = 3")
    tamper(
        session,
        engine,
        "INSERT INTO audit_entries (seq, at, action, prev_hash, hash) VALUES (3, :at, 'customer.viewed', :prev, :h)",
        at=clock.now().replace(tzinfo=None) if engine.dialect.name == "sqlite" else clock.now(),
        prev=entries[1].hash,
        h=hashlib.sha256(b"made up").hexdigest(),
    )
    result = verify(session)
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_verify_reports_an_entry_slipped_in_before_the_first(
    session: Session, clock: FrozenClock, engine: Engine
) -> None:
    add_entries(session, clock, 2)
    tamper(
        session,
        engine,
        "INSERT INTO audit_entries (seq, at, action, prev_hash, hash) SELECT 0, at, action, prev_hash, hash "
        "FROM audit_entries WHERE seq = 1",
    )
    result = verify(session)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 0, 0)
    assert "out-of-place seq 0" in result.reason


def test_verify_reports_an_unreadable_entry(session: Session, clock: FrozenClock, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses a non-date in a timestamp column")
    add_entries(session, clock, 3)
    tamper(session, engine, "UPDATE audit_entries SET at = 'yesterday' WHERE seq = 2")
    result = verify(session, batch_size=1)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 2, 1)
    assert "cannot be read" in result.reason


def test_tail_truncation_needs_a_noted_head(session: Session, clock: FrozenClock, engine: Engine) -> None:
    """Removing the newest entries leaves a valid, shorter chain; only a head noted elsewhere
    (seq and hash from an earlier verify) shows it."""
    add_entries(session, clock)
    head = verify(session)
    tamper(session, engine, "DELETE FROM audit_entries WHERE seq >= 4")

    assert verify(session).ok
    result = verify(session, expected_head=(head.last_seq, head.last_hash))  # type: ignore[arg-type]
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "newest entries were removed" in result.reason


def test_noted_head_catches_a_rewritten_entry(session: Session, clock: FrozenClock) -> None:
    add_entries(session, clock, 3)
    assert verify(session, expected_head=(3, verify(session).last_hash or "")).ok
    result = verify(session, expected_head=(2, "0" * 64))
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_changed_secret_fails_from_the_first_entry(session: Session, clock: FrozenClock, settings: Settings) -> None:
    add_entries(session, clock, 2)
    config.configure(settings.model_copy(update={"secret_key": SecretStr("another-secret-" + "q" * 32)}))
    result = verify(session)
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "HOTLINE_SECRET_KEY" in result.reason


@pytest.mark.parametrize("style", ["fresh", "write_locked"])
def test_concurrent_appends_keep_a_valid_chain(engine: Engine, style: str) -> None:
    threads, per_thread = 6, 8
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(per_thread):
                with db.session_scope() as s:
                    if style == "write_locked":
                        # The pattern for a unit of work that reads before it records.
                        db.write_locked(s)
                        s.execute(select(AuditEntry.id).limit(1)).all()
                    record(s, action="customer.viewed", actor_id=worker, object_type="customer", object_id=i)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not errors, errors

    with db.new_session() as s:
        result = verify(s)
        assert result.ok, result.reason
        assert result.checked == threads * per_thread
        assert {e.actor_id for e in audit.entries_for(s, limit=1000)} == set(range(threads))


def test_entries_for_filters_newest_first(session: Session) -> None:
    record(session, action="auth.sign_in", actor_id=1, object_type="user", object_id=1)
    record(session, action="auth.sign_in_failed", actor_id=None, object_type="user", object_id=2)
    record(session, action="customer.viewed", actor_id=1, object_type="customer", object_id=9)
    record(session, action="customer.viewed", actor_id=2, object_type="customer", object_id=9)
    record(session, action="authx.other", actor_id=3)
    session.commit()

    assert [e.seq for e in audit.entries_for(session, object_type="customer", object_id="9")] == [4, 3]
    assert [e.seq for e in audit.entries_for(session, actor_id=1)] == [3, 1]
    assert [e.seq for e in audit.entries_for(session, action_prefix="auth.")] == [2, 1]
    assert [e.seq for e in audit.entries_for(session, action_prefix="auth_")] == []  # "_" is not a wildcard
    assert [e.seq for e in audit.entries_for(session, limit=2)] == [5, 4]

