"""A claim on the in-call controls of a call (`calls.control_claimed_at`): hold, recording pause,
monitoring and transfers ask Twilio with no transaction open, and the request that holds the
claim is the only one acting on the call's controls meanwhile (a second click is refused at once).
A lease: a claim whose request died lapses, and the next request takes it.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("control_claimed_at", core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("control_claimed_at")
