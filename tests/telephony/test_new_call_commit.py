"""A new call's one statement on PostgreSQL commits without waiting for the WAL flush (the
call is soft state Twilio still holds; telephony.calls._relaxes_commit), and nothing else does:
not the rest of its connection's life, not a statement inside a larger transaction, and not
when the operator asks for durable new calls."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from core import db
from telephony import calls
from tests.conftest import pg_only
from tests.telephony.hub import Hub, post_webhook, voice_params

pytestmark = pg_only()


def _statements_of_a_new_call(client) -> list[tuple[str, bool, Any]]:  # type: ignore[no-untyped-def]
    """(SQL, autocommit, DB-API connection) of each statement an incoming call sends, once the
    IVR settings and the site's calendar are remembered from a first call."""
    assert post_webhook(client, "/twilio/voice", voice_params()).status_code == 200
    seen: list[tuple[str, bool, Any]] = []

    def spy(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        raw = conn.connection.dbapi_connection
        seen.append((statement, raw.autocommit, raw))

    engine = db.get_engine()
    event.listen(engine, "before_cursor_execute", spy)
    try:
        assert post_webhook(client, "/twilio/voice", voice_params()).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    return seen


def test_the_new_calls_statement_relaxes_its_own_commit_and_nothing_after(client, hub: Hub) -> None:
    [(statement, autocommit, raw)] = _statements_of_a_new_call(client)
    assert autocommit and "set_config" in statement and "synchronous_commit" in statement
    # The setting was local to that statement's transaction: the pooled connection is back to durable.
    try:
        assert raw.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    finally:
        raw.rollback()


def test_inside_a_larger_transaction_nothing_is_relaxed(session: Session, hub: Hub) -> None:
    session.connection()  # the unit of work has begun: the insert joins its transaction
    calls.open_inbound(session, params=voice_params(), log_as="voice", identify=True, autocommit=True)
    assert session.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_the_relaxed_statement_really_sets_its_transactions_commit(session: Session, hub: Hub,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen from inside a transaction (a real autocommit statement ends its own before anyone can
    # look): the statement itself turns synchronous_commit off until its transaction ends.
    monkeypatch.setattr(calls, "_autocommitting", lambda s: (s.connection(), True))
    call, created = calls.open_inbound(session, params=voice_params(), log_as="voice", identify=True,
                                       autocommit=True)
    assert created and call.id is not None
    assert session.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    session.rollback()
    assert session.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_operators_can_keep_new_calls_durable(client, hub: Hub, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "new_call_synchronous_commit", True)
    [(statement, autocommit, _raw)] = _statements_of_a_new_call(client)
    assert autocommit and "set_config" not in statement
