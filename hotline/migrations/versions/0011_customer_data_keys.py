"""A data key per customer (envelope encryption, crypto-shredding) and erasure requests.

Existing rows move under their customer's new data key: personal fields, phones, change history,
grant reasons, message bodies, follow-up notes, tickets' free text and the numbers of their calls
in the call log. Recordings' media is sealed later by `hotline keys seal-media` (it lives in the
storage, not the database). Customers erased before this lose what the old erasure left: the
numbers of their calls.

Revision ID: 0011
Revises: 0008
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op
from cryptography.fernet import Fernet

import core.crypto
import core.db
from core import clock

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

# table: (encrypted columns, how a row finds its customer)
_SEALED = {
    "customers": (("name", "gender", "birthday", "age", "email", "address", "id_number", "preferences",
                   "special_needs"), "id"),
    "customer_phones": (("number",), "customer_id"),
    "customer_changes": (("reason", "old_values"), "customer_id"),
    "callback_grants": (("reason",), "customer_id"),
    "outbound_messages": (("body",), "customer_id"),
    "care_followups": (("note",), "customer_id"),
    "tickets": (("subject", "description", "resolution"), "customer_id"),
    "calls": (("from_number",), "customer_id"),
}


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("wrapped", core.crypto.Encrypted(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("shredded_at", core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
    )
    op.create_index(op.f("ix_data_keys_owner"), "data_keys", ["owner"], unique=False)
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("data_key_id", sa.String(length=32), nullable=True))
        batch.create_index(batch.f("ix_customers_data_key_id"), ["data_key_id"], unique=False)
    op.create_table(
        "customer_erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_name", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("immediate", sa.Boolean(), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("notice_sent", sa.Boolean(), nullable=False),
        sa.Column("due_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_customer_erasures_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"],
                                name=op.f("fk_customer_erasures_requested_by_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_erasures")),
    )
    op.create_index(op.f("ix_customer_erasures_customer_id"), "customer_erasures", ["customer_id"], unique=False)
    op.create_index("ix_customer_erasures_status_due", "customer_erasures", ["status", "due_at"], unique=False)
    _seal_existing_rows()


def _seal_existing_rows() -> None:
    connection = op.get_bind()
    customers = sa.table("customers", sa.column("id", sa.Integer), sa.column("erased_at", sa.DateTime),
                         sa.column("data_key_id", sa.String))
    data_keys = sa.table("data_keys", sa.column("id", sa.String), sa.column("owner", sa.String),
                         sa.column("wrapped", sa.Text), sa.column("created_at", core.db.UTCDateTime()))
    calls = sa.table("calls", sa.column("customer_id", sa.Integer), sa.column("from_number", sa.Text),
                     sa.column("from_index", sa.String))
    now = clock.now()
    erased = [r[0] for r in connection.execute(sa.select(customers.c.id).where(customers.c.erased_at.is_not(None)))]
    for customer_id in erased:
        connection.execute(calls.update().where(calls.c.customer_id == customer_id)
                           .values(from_number=None, from_index=None))
    keys: dict[int, tuple[str, Fernet]] = {}
    for (customer_id,) in connection.execute(sa.select(customers.c.id).where(customers.c.erased_at.is_(None))):
        material = Fernet.generate_key().decode()
        key_id = secrets.token_hex(16)
        keys[customer_id] = (key_id, Fernet(material))
        connection.execute(data_keys.insert().values(id=key_id, owner=f"customer:{customer_id}",
                                                     wrapped=core.crypto.wrap(material), created_at=now))
        connection.execute(customers.update().where(customers.c.id == customer_id).values(data_key_id=key_id))
    if not keys:
        return
    master = core.crypto._fernet()
    for name, (columns, owner_column) in _SEALED.items():
        pk = "id"
        raw = sa.table(name, sa.column(pk, sa.Integer), sa.column(owner_column, sa.Integer),
                       *(sa.column(c, sa.Text) for c in columns)) if owner_column != pk else \
            sa.table(name, sa.column(pk, sa.Integer), *(sa.column(c, sa.Text) for c in columns))
        owner = raw.c[owner_column]
        rows = connection.execute(sa.select(raw).where(owner.in_(list(keys)))).all()
        for row in rows:
            key_id, fernet = keys[row._mapping[owner_column]]
            values = {}
            for column in columns:
                token = row._mapping[column]
                if token is None or token.startswith(core.crypto.DATA_KEY_PREFIX):
                    continue
                plain = master.decrypt(token.encode("ascii"))
                values[column] = core.crypto.DATA_KEY_PREFIX + key_id + ":" + fernet.encrypt(plain).decode("ascii")
            if values:
                connection.execute(raw.update().where(raw.c[pk] == row._mapping[pk]).values(**values))


def _tables(columns: tuple[str, ...], name: str) -> sa.TableClause:
    return sa.table(name, sa.column("id", sa.Integer), *(sa.column(c, sa.Text) for c in columns))


def _unseal_rows() -> None:
    """Back under the master keys (shredded values stay gone)."""
    connection = op.get_bind()
    data_keys = sa.table("data_keys", sa.column("id", sa.String), sa.column("wrapped", sa.Text))
    fernets = {key_id: Fernet(core.crypto.unwrap(wrapped))
               for key_id, wrapped in connection.execute(sa.select(data_keys.c.id, data_keys.c.wrapped)) if wrapped}
    master = core.crypto._fernet()
    for name, (columns, _owner) in _SEALED.items():
        raw = _tables(columns, name)
        for row in connection.execute(sa.select(raw)).all():
            values = {}
            for column in columns:
                token = row._mapping[column]
                if token is None or not token.startswith(core.crypto.DATA_KEY_PREFIX):
                    continue
                key_id, _, sealed = token[len(core.crypto.DATA_KEY_PREFIX):].partition(":")
                fernet = fernets.get(key_id)
                values[column] = None if fernet is None else \
                    master.encrypt(fernet.decrypt(sealed.encode("ascii"))).decode("ascii")
            if values:
                connection.execute(raw.update().where(raw.c.id == row._mapping["id"]).values(**values))


def downgrade() -> None:
    _unseal_rows()
    op.drop_index("ix_customer_erasures_status_due", table_name="customer_erasures")
    op.drop_index(op.f("ix_customer_erasures_customer_id"), table_name="customer_erasures")
    op.drop_table("customer_erasures")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index(batch.f("ix_customers_data_key_id"))
        batch.drop_column("data_key_id")
    op.drop_index(op.f("ix_data_keys_owner"), table_name="data_keys")
    op.drop_table("data_keys")
