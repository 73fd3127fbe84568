"""Claims on the REST calls the hub makes outside any transaction: ringing an agent for an offer
(`offers.ring_claimed_at`), moving its caller into the agent's conference once it is answered
(`offers.connect_claimed_at`) and hanging up an agent leg (`calls.hangup_claimed_at`). Each is a
lease: the worker that holds it asks Twilio, and one that died lets it lapse for the repair sweep.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("ring_claimed_at", core.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("connect_claimed_at", core.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("hangup_claimed_at", core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("hangup_claimed_at")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("connect_claimed_at")
        batch.drop_column("ring_claimed_at")
