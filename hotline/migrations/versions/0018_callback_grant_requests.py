"""Callback authorisation requests (callback_grant_requests): someone who makes callbacks asks for an
authorisation for one customer with a reason; a site manager, a supervisor of the site or the
center head grants it (linking the grant) or declines it with a reason. Reasons are sealed under
the customer's data key like grant reasons.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.crypto
import core.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_grant_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", core.crypto.Encrypted(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=100), nullable=True),
        sa.Column("decided_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", core.crypto.Encrypted(), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_callback_grant_requests_agent_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_callback_grant_requests_customer_id_customers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"],
                                name=op.f("fk_callback_grant_requests_decided_by_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["grant_id"], ["callback_grants.id"],
                                name=op.f("fk_callback_grant_requests_grant_id_callback_grants"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_callback_grant_requests_site_id_sites"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_callback_grant_requests_ticket_id_tickets"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_grant_requests")),
    )
    with op.batch_alter_table("callback_grant_requests") as batch:
        batch.create_index(batch.f("ix_callback_grant_requests_agent_id"), ["agent_id"], unique=False)
        batch.create_index(batch.f("ix_callback_grant_requests_site_id"), ["site_id"], unique=False)
        batch.create_index("ix_callback_grant_requests_pair", ["customer_id", "agent_id"], unique=False)


def downgrade() -> None:
    op.drop_table("callback_grant_requests")
