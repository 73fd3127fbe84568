"""One store for the numbers an administrator may change: the four settings tables of QA,
scheduling, tickets and routing become rows of `tunables` (namespace, key, value, who changed it
and when). Every stored override moves over; the downgrade moves them back (who and when are
lost: the old tables did not keep them).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db
from core import clock

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# namespace -> (old table, the column holding the key, that column's length)
_OLD = {
    "qa": ("qa_settings", "key", 60),
    "scheduling": ("scheduling_settings", "key", 64),
    "tickets": ("ticket_settings", "key", 64),
    "routing": ("routing_settings", "name", 64),
}

tunables = sa.table("tunables", sa.column("namespace", sa.String(40)), sa.column("key", sa.String(64)),
                    sa.column("value", sa.Integer), sa.column("changed_at", core.db.UTCDateTime()))


def _old(namespace: str) -> sa.TableClause:
    table, key_column, _ = _OLD[namespace]
    return sa.table(table, sa.column(key_column, sa.String(64)), sa.column("value", sa.Integer))


def upgrade() -> None:
    op.create_table(
        "tunables",
        sa.Column("namespace", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["changed_by_id"], ["users.id"], name=op.f("fk_tunables_changed_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("namespace", "key", name=op.f("pk_tunables")),
    )
    connection = op.get_bind()
    now = clock.now()
    for namespace, (_table, key_column, _length) in _OLD.items():
        old = _old(namespace)
        rows = connection.execute(sa.select(old.c[key_column], old.c.value)).all()
        if rows:
            connection.execute(tunables.insert(), [{"namespace": namespace, "key": key[:64], "value": value,
                                                    "changed_at": now} for key, value in rows])
    for table, _key_column, _length in _OLD.values():
        op.drop_table(table)


def downgrade() -> None:
    op.create_table(
        "qa_settings",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_qa_settings")),
    )
    op.create_table(
        "routing_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_settings")),
        sa.UniqueConstraint("name", name=op.f("uq_routing_settings_name")),
    )
    op.create_table(
        "scheduling_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_scheduling_settings")),
    )
    op.create_table(
        "ticket_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ticket_settings")),
    )
    connection = op.get_bind()
    for namespace, (_table, key_column, length) in _OLD.items():
        rows = connection.execute(sa.select(tunables.c.key, tunables.c.value)
                                  .where(tunables.c.namespace == namespace)).all()
        # A key longer than the old column held cannot go back (none of the declared ones is).
        kept = [{key_column: key, "value": value} for key, value in rows if len(key) <= length]
        if kept:
            connection.execute(_old(namespace).insert(), kept)
    op.drop_table("tunables")
