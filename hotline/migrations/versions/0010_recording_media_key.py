"""Recordings name their media by a storage key, not a local path: files go through the storage
port (a shared folder or S3-compatible object storage) so any host reads what another wrote.

A path written before (".../recordings/2025/03/RE….wav" under the recordings folder) becomes the
key "recordings/2025/03/RE….wav", which is where the filesystem backend keeps it when its folder
is the old var folder (the default); a path of another shape is kept as it was, for an operator
to move.

Revision ID: 0010
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

recordings = sa.table("recordings", sa.column("id", sa.Integer), sa.column("media_key", sa.String(500)))


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.alter_column("local_path", new_column_name="media_key", existing_type=sa.String(500),
                           existing_nullable=True)
    connection = op.get_bind()
    rows = connection.execute(sa.select(recordings.c.id, recordings.c.media_key)
                              .where(recordings.c.media_key.like("%/recordings/%"))).all()
    for row_id, path in rows:
        key = "recordings/" + path.replace("\\", "/").rsplit("/recordings/", 1)[1]
        connection.execute(recordings.update().where(recordings.c.id == row_id).values(media_key=key))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.alter_column("media_key", new_column_name="local_path", existing_type=sa.String(500),
                           existing_nullable=True)
