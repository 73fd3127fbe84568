"""Calls that survive the real carrier: an agent on one live call at most (one answered,
unfinished agent leg per agent), and recordings' last check at Twilio for the reconcile sweep.

Revision ID: 0003
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0003"
down_revision = "0006"
branch_labels = None
depends_on = None

_LIVE_AGENT_LEG = sa.text("leg = 'agent' AND status = 'in-progress' AND agent_id IS NOT NULL")


def upgrade() -> None:
    op.create_index("uq_calls_agent_live_leg", "calls", ["agent_id"], unique=True,
                    postgresql_where=_LIVE_AGENT_LEG, sqlite_where=_LIVE_AGENT_LEG)
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("last_checked_at", core.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("last_checked_at")
    op.drop_index("uq_calls_agent_live_leg", table_name="calls")
