"""Scheduling's tables: shifts and rosters, the floor's records (roll call, notices, duty logs,
handovers) and people's requests (leave, swaps)."""

from scheduling.models.floor import DutyLog, Handover, HandoverAddition, Notice, NoticeAck, RollCallEntry
from scheduling.models.requests import LeaveApproval, LeaveRequest, SwapRequest
from scheduling.models.shifts import DayOffRequest, Roster, RosterJob, Shift, ShiftTemplate

__all__ = [
    "DayOffRequest", "DutyLog", "Handover", "HandoverAddition", "LeaveApproval", "LeaveRequest", "Notice",
    "NoticeAck", "RollCallEntry", "Roster", "RosterJob", "Shift", "ShiftTemplate", "SwapRequest",
]
