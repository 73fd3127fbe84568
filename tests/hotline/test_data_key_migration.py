"""Migration 0011 moves existing rows under a new data key per customer (personal fields, phones,
the numbers of their calls), forgets the call-log numbers the old erasure left behind, and
downgrades back under the master keys."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import text

from core import crypto, db
from hotline import migrate

_ROW = "CURRENT_TIMESTAMP"


def _master(value: str) -> str:
    return crypto.Encrypted().process_bind_param(value, None)


def _data_key_plain(conn, token: str) -> str:  # type: ignore[no-untyped-def]
    assert token.startswith(crypto.DATA_KEY_PREFIX)
    key_id, _, sealed = token[len(crypto.DATA_KEY_PREFIX):].partition(":")
    wrapped = conn.execute(text("SELECT wrapped FROM data_keys WHERE id = :id"), {"id": key_id}).scalar_one()
    return Fernet(crypto.unwrap(wrapped)).decrypt(sealed.encode()).decode()


def test_existing_rows_move_under_their_customers_data_key(settings, empty_database: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    before = ScriptDirectory.from_config(migrate.alembic_config(empty_database)).get_revision("0011").down_revision
    migrate.upgrade(empty_database, str(before))
    engine = db.make_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO sites (id, name, code, timezone, created_at, updated_at) "
                              f"VALUES (1, 'Store', 's1', 'UTC', {_ROW}, {_ROW})"))
            for cid, erased in ((1, None), (2, "2025-01-01 00:00:00")):
                conn.execute(text(f"INSERT INTO customers (id, site_id, name, email, consent_purposes, tier, points, "
                                  f"spend_cents, erased_at, created_at, updated_at) VALUES (:id, 1, :name, :email, "
                                  f"'[]', 'normal', 0, 0, :erased, {_ROW}, {_ROW})"),
                             {"id": cid, "name": None if erased else _master("Wang Li"),
                              "email": None if erased else _master("wang@example.org"), "erased": erased})
                conn.execute(text(f"INSERT INTO calls (call_sid, leg, direction, status, started_at, language, degraded, "
                                  f"customer_id, from_number, from_index, created_at, updated_at) VALUES (:sid, 'caller', "
                                  f"'inbound', 'completed', {_ROW}, 'zh-CN', false, :cid, :number, 'idx{cid}', {_ROW}, "
                                  f"{_ROW})"), {"sid": f"CA{cid}", "cid": cid, "number": _master(f"+861391234000{cid}")})
            conn.execute(text(f"INSERT INTO customer_phones (customer_id, number, number_index, is_primary, created_at) "
                              f"VALUES (1, :n, 'idx1', true, {_ROW})"), {"n": _master("+8613912340001")})
        migrate.upgrade(empty_database, "0011")
        with engine.connect() as conn:
            key_id, name, email = conn.execute(text("SELECT data_key_id, name, email FROM customers WHERE id = 1")).one()
            assert key_id and name.startswith(f"dk1:{key_id}:")
            assert _data_key_plain(conn, name) == "Wang Li" and _data_key_plain(conn, email) == "wang@example.org"
            phone = conn.execute(text("SELECT number FROM customer_phones")).scalar_one()
            assert _data_key_plain(conn, phone) == "+8613912340001"
            calls = dict(conn.execute(text("SELECT call_sid, from_number FROM calls")).all())
            assert _data_key_plain(conn, calls["CA1"]) == "+8613912340001"
            assert calls["CA2"] is None  # the erased customer's number, left by the old erasure, is gone
            assert conn.execute(text("SELECT data_key_id FROM customers WHERE id = 2")).scalar_one() is None
        migrate.downgrade(empty_database, str(before))
        with engine.connect() as conn:
            name = conn.execute(text("SELECT name FROM customers WHERE id = 1")).scalar_one()
            assert crypto.Encrypted().process_result_value(name, None) == "Wang Li"
    finally:
        engine.dispose()
