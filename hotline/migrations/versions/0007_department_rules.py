"""The department's rules as seed 003 writes them: why leave counts as absence and why it was
refused; both parties of a swap assessed on one shift's roll call; the handover's parts for
superiors' instructions and customers' suggestions and complaints, and which parts were "nothing to
report"; each team's QA minimum per agent and month, and the new-agent period a sampling plan
used; reminders from any package as notifications (a key for once-only, values for the text).

Revision ID: 0007
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0007"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scheduling_leave_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("absence_rule", sa.String(length=40), nullable=True))
    with op.batch_alter_table("scheduling_leave_approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=40), nullable=True))
    with op.batch_alter_table("scheduling_roll_calls", schema=None) as batch_op:
        batch_op.drop_constraint("uq_scheduling_roll_calls_shift_id", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_scheduling_roll_calls_shift_id_user_id"),
                                          ["shift_id", "user_id"])
    # Existing handovers get empty parts (the server default fills them, then goes).
    new_parts = (("superiors_instructions", sa.Text(), "''"), ("customer_feedback", sa.Text(), "''"),
                 ("nothing_to_report", sa.JSON(), "'[]'"))
    with op.batch_alter_table("scheduling_handovers", schema=None) as batch_op:
        for name, kind, empty in new_parts:
            batch_op.add_column(sa.Column(name, kind, nullable=False, server_default=sa.text(empty)))
    with op.batch_alter_table("scheduling_handovers", schema=None) as batch_op:
        for name, kind, _empty in new_parts:
            batch_op.alter_column(name, existing_type=kind, server_default=None)
    op.create_table(
        "qa_team_minimums",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("per_agent", sa.Integer(), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column("set_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("per_agent BETWEEN 1 AND 5", name=op.f("ck_qa_team_minimums_per_agent_range")),
        sa.ForeignKeyConstraint(["set_by_id"], ["users.id"], name=op.f("fk_qa_team_minimums_set_by_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_qa_team_minimums_team_id_teams"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_qa_team_minimums")),
    )
    with op.batch_alter_table("qa_sampling_plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("new_agent_days", sa.Integer(), nullable=False, server_default=sa.text("90")))
    with op.batch_alter_table("qa_sampling_plans", schema=None) as batch_op:
        batch_op.alter_column("new_agent_days", existing_type=sa.Integer(), server_default=None)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_notifications_key"), ["key"])


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_notifications_key"), type_="unique")
        batch_op.drop_column("params")
        batch_op.drop_column("key")
    with op.batch_alter_table("qa_sampling_plans", schema=None) as batch_op:
        batch_op.drop_column("new_agent_days")
    op.drop_table("qa_team_minimums")
    with op.batch_alter_table("scheduling_handovers", schema=None) as batch_op:
        for name in ("nothing_to_report", "customer_feedback", "superiors_instructions"):
            batch_op.drop_column(name)
    # Both parties of a swap assessed for one shift cannot go back to one entry per shift.
    op.execute("DELETE FROM scheduling_roll_calls WHERE user_id NOT IN "
               "(SELECT user_id FROM scheduling_shifts WHERE scheduling_shifts.id = scheduling_roll_calls.shift_id)")
    with op.batch_alter_table("scheduling_roll_calls", schema=None) as batch_op:
        batch_op.drop_constraint("uq_scheduling_roll_calls_shift_id_user_id", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_scheduling_roll_calls_shift_id"), ["shift_id"])
    with op.batch_alter_table("scheduling_leave_approvals", schema=None) as batch_op:
        batch_op.drop_column("reason")
    with op.batch_alter_table("scheduling_leave_requests", schema=None) as batch_op:
        batch_op.drop_column("absence_rule")
