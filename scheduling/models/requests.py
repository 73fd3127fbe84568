"""People's requests: leave (with its approval steps) and shift swaps (with paybacks)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, TimestampMixin


class LeaveRequest(TimestampMixin, Base):
    __tablename__ = "scheduling_leave_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))  # personal | sick | special | business | study
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")
    holiday_special_case: Mapped[bool] = mapped_column(default=False)
    # pending | approved | refused | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Roles that approve, in order ("supervisor", then "center_head" for more than one day).
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    # Asked too late: approved, it is leave; refused, the time counts as absence.
    late: Mapped[bool] = mapped_column(default=False)
    counts_as_absence: Mapped[bool] = mapped_column(default=False)
    # Why the time counts as absence (a rule code: refused though late, certificate overdue).
    absence_rule: Mapped[str | None] = mapped_column(String(40))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    certificate_due_on: Mapped[date | None] = mapped_column(Date)
    certificate_received_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]


class LeaveApproval(Base):
    __tablename__ = "scheduling_leave_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    leave_id: Mapped[int] = mapped_column(ForeignKey("scheduling_leave_requests.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approved | refused
    # A refusal's reason, a rule code shown translated to the requester ("leave.refused.staffing").
    reason: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=lambda: clock.now())


class SwapRequest(TimestampMixin, Base):
    """`partner` works the requester's `shift`. A payback (`pays_back_id`) is the same thing the
    other way round, settling an earlier swap. The shifts change hands only once both parties
    have confirmed and both team leaders have approved."""

    __tablename__ = "scheduling_swaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("scheduling_shifts.id", ondelete="CASCADE"))
    pays_back_id: Mapped[int | None] = mapped_column(ForeignKey("scheduling_swaps.id", ondelete="SET NULL"))
    # The local month of the shift, "2026-01": what "two swaps per month" counts.
    month: Mapped[str] = mapped_column(String(7), index=True)
    # proposed | registered | refused | cancelled
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    requester_confirmed_at: Mapped[datetime | None] = mapped_column(default=lambda: clock.now())
    partner_confirmed_at: Mapped[datetime | None]
    requester_leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requester_leader_at: Mapped[datetime | None]
    partner_leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    partner_leader_at: Mapped[datetime | None]
    registered_at: Mapped[datetime | None]
    paid_back_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")
