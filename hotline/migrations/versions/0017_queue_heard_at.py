"""When the hub last heard that a queued caller is still there (`queue_entries.heard_at`): the
router offers no caller silent for longer than HOTLINE_QUEUE_ALIVE_SECONDS until Twilio has been
asked, so no offer is made to a caller whose hang-up callbacks were lost or held back. Entries
already waiting count as heard when they were queued.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_entries") as batch:
        batch.add_column(sa.Column("heard_at", core.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE queue_entries SET heard_at = queued_at WHERE state IN ('waiting', 'offered')")


def downgrade() -> None:
    with op.batch_alter_table("queue_entries") as batch:
        batch.drop_column("heard_at")
