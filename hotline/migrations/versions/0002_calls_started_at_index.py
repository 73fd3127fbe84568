"""Calls by start time: the call log and the reports read calls in a date range.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_started_at", "calls", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calls_started_at", table_name="calls")
