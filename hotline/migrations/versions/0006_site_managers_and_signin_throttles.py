"""Named site managers and QA coverage (staff_assignments), and sign-in throttles per client
address and per username at an address (signin_throttles).

Revision ID: 0006
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0006"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('site_manager', 'qa_coverage')", name=op.f("ck_staff_assignments_kind_known")),
        sa.ForeignKeyConstraint(["assigned_by_id"], ["users.id"], name=op.f("fk_staff_assignments_assigned_by_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_staff_assignments_site_id_sites"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_staff_assignments_team_id_teams"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_staff_assignments_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_assignments")),
    )
    op.create_index(op.f("ix_staff_assignments_site_id"), "staff_assignments", ["site_id"], unique=False)
    op.create_index("ix_staff_assignments_user_kind", "staff_assignments", ["user_id", "kind"], unique=False)
    op.create_table(
        "signin_throttles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("last_failed_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("blocked_until", core.db.UTCDateTime(), nullable=True),
        sa.Column("succeeded_at", core.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint("scope IN ('address', 'user_address')", name=op.f("ck_signin_throttles_scope_known")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_signin_throttles")),
    )
    op.create_index("ix_signin_throttles_blocked_until", "signin_throttles", ["blocked_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_signin_throttles_blocked_until", table_name="signin_throttles")
    op.drop_table("signin_throttles")
    op.drop_index("ix_staff_assignments_user_kind", table_name="staff_assignments")
    op.drop_index(op.f("ix_staff_assignments_site_id"), table_name="staff_assignments")
    op.drop_table("staff_assignments")
