"""When Twilio was asked for an ended call's recordings (`calls.recordings_listed_at`): the hub
learnt of a recording only from its status callbacks, so one whose callbacks were all lost was
never copied, attached or deleted at Twilio. A call's end now lists its recordings at Twilio
once; the reconcile sweep lists those whose listing was lost, found through a partial index of
the calls not listed yet. Calls that ended before this revision count as listed (their
recordings were found as before), so the index starts empty.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

UNLISTED = sa.text("status = 'completed' AND leg <> 'agent' AND recordings_listed_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recordings_listed_at", core.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE calls SET recordings_listed_at = ended_at WHERE ended_at IS NOT NULL")
    op.create_index("ix_calls_recordings_unlisted", "calls", ["ended_at"], postgresql_where=UNLISTED,
                    sqlite_where=UNLISTED)


def downgrade() -> None:
    op.drop_index("ix_calls_recordings_unlisted", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recordings_listed_at")
