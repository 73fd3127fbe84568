"""The customer lifecycle: end-of-period tier assessments (tier_assessments), complaint deadlines
that act (tickets.reply_overdue_at, phone_followup_done_at, phone_followup_overdue_at) and the
outcome of a follow-up call (care_followups.outcome).

Revision ID: 0008
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0008"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tier_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("upgraded", sa.Integer(), nullable=False),
        sa.Column("downgraded", sa.Integer(), nullable=False),
        sa.Column("assessed_at", core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_tier_assessments_site_id_sites"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_assessments")),
        sa.UniqueConstraint("site_id", "period_start", name=op.f("uq_tier_assessments_site_id_period_start")),
    )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("phone_followup_done_at", core.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("reply_overdue_at", core.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("phone_followup_overdue_at", core.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("care_followups") as batch:
        batch.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("care_followups") as batch:
        batch.drop_column("outcome")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("phone_followup_overdue_at")
        batch.drop_column("reply_overdue_at")
        batch.drop_column("phone_followup_done_at")
    op.drop_table("tier_assessments")
