"""Leave (request, approve, refuse, withdraw) and shift swaps (request, confirm, approve, refuse).
A refusal by the rules answers 422 with every broken rule in `errors` (rule, msg, params)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from core import clock
from core.auth import AgentUser, DbSession, SupervisorUser, TeamLeaderUser
from scheduling import days_off, leave, swaps

router = APIRouter()


def _leave(r: Any, refusal: Any = None) -> dict[str, Any]:
    return {"id": r.id, "user_id": r.user_id, "requested_by_id": r.requested_by_id, "kind": r.kind,
            "start_at": r.start_at.isoformat(), "end_at": r.end_at.isoformat(), "status": r.status,
            "steps": r.steps, "step_index": r.step_index, "late": r.late, "counts_as_absence": r.counts_as_absence,
            "absence_rule": r.absence_rule, "conditions": r.conditions,
            "certificate_due_on": r.certificate_due_on.isoformat() if r.certificate_due_on else None,
            "refusal": {"step": refusal.step, "reason": refusal.reason, "note": refusal.note,
                        "at": refusal.at.isoformat()} if refusal else None}


class LeaveIn(BaseModel):
    kind: str
    start: datetime
    end: datetime
    user_id: int | None = None
    shift_id: int | None = None
    reason: str = ""
    holiday_special_case: bool = False


@router.post("/leave", status_code=201)
def request_leave(body: LeaveIn, session: DbSession, user: AgentUser) -> dict[str, Any]:
    data = body.model_dump()
    data["user_id"] = data["user_id"] or user.id
    return _leave(leave.request(session, by=user, **data))


@router.get("/leave")
def list_leave(session: DbSession, user: AgentUser, status: str | None = None) -> dict[str, Any]:
    found = leave.list_requests(session, viewer=user, status=status)
    refusals = leave.refusals_of(session, [r.id for r in found if r.status == "refused"])
    return {"data": [_leave(r, refusals.get(r.id)) for r in found], "count": len(found)}


class NoteIn(BaseModel):
    note: str = ""


class RefusalIn(BaseModel):
    reason: str = "other"  # staffing | notice | documents | other (which needs the note)
    note: str = ""


@router.post("/leave/{leave_id}/approve")
def approve_leave(leave_id: int, body: NoteIn, session: DbSession, user: SupervisorUser) -> dict[str, Any]:
    return _leave(leave.approve(session, leave_id=leave_id, by=user, note=body.note))


@router.post("/leave/{leave_id}/refuse")
def refuse_leave(leave_id: int, body: RefusalIn, session: DbSession, user: SupervisorUser) -> dict[str, Any]:
    refused = leave.refuse(session, leave_id=leave_id, by=user, reason=body.reason, note=body.note)
    return _leave(refused, leave.refusal_of(session, leave_id=refused.id))


@router.post("/leave/{leave_id}/cancel")
def cancel_leave(leave_id: int, session: DbSession, user: AgentUser) -> dict[str, Any]:
    return _leave(leave.cancel(session, leave_id=leave_id, by=user))


@router.get("/leave/certificates")
def certificates_due(session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    """Sick leave whose medical certificate is still to come, with `overdue` (UTC day)."""
    today = clock.now().date()
    data = [{**_leave(r), "overdue": leave.certificate_overdue(r, today=today)}
            for r in leave.certificates_due(session, viewer=user)]
    return {"data": data, "count": len(data)}


class DayOffIn(BaseModel):
    day: date
    user_id: int | None = None
    reason: str = ""


def _day_off(d: Any) -> dict[str, Any]:
    return {"id": d.id, "user_id": d.user_id, "day": d.day.isoformat(), "reason": d.reason}


@router.post("/days-off", status_code=201)
def request_day_off(body: DayOffIn, session: DbSession, user: AgentUser) -> dict[str, Any]:
    return _day_off(days_off.request(session, user_id=body.user_id or user.id, day=body.day, by=user,
                                     reason=body.reason))


@router.delete("/days-off/{day_off_id}", status_code=204)
def withdraw_day_off(day_off_id: int, session: DbSession, user: AgentUser) -> None:
    days_off.withdraw(session, day_off_id=day_off_id, by=user)


@router.post("/leave/{leave_id}/certificate")
def certificate(leave_id: int, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _leave(leave.record_certificate(session, leave_id=leave_id, by=user))


def _swap(s: Any) -> dict[str, Any]:
    def at(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {"id": s.id, "requester_id": s.requester_id, "partner_id": s.partner_id, "shift_id": s.shift_id,
            "pays_back_id": s.pays_back_id, "month": s.month, "status": s.status,
            "partner_confirmed_at": at(s.partner_confirmed_at), "requester_leader_id": s.requester_leader_id,
            "partner_leader_id": s.partner_leader_id, "registered_at": at(s.registered_at),
            "paid_back_at": at(s.paid_back_at)}


class SwapIn(BaseModel):
    shift_id: int
    partner_id: int
    pays_back_id: int | None = None
    note: str = ""


@router.post("/swaps", status_code=201)
def request_swap(body: SwapIn, session: DbSession, user: AgentUser) -> dict[str, Any]:
    return _swap(swaps.request(session, by=user, **body.model_dump()))


@router.get("/swaps")
def list_swaps(session: DbSession, user: AgentUser, status: str | None = None) -> dict[str, Any]:
    found = swaps.list_swaps(session, viewer=user, status=status)
    return {"data": [_swap(s) for s in found], "count": len(found)}


@router.post("/swaps/{swap_id}/confirm")
def confirm_swap(swap_id: int, session: DbSession, user: AgentUser) -> dict[str, Any]:
    return _swap(swaps.confirm(session, swap_id=swap_id, by=user))


@router.post("/swaps/{swap_id}/approve")
def approve_swap(swap_id: int, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _swap(swaps.approve(session, swap_id=swap_id, by=user))


@router.post("/swaps/{swap_id}/refuse")
def refuse_swap(swap_id: int, body: NoteIn, session: DbSession, user: AgentUser) -> dict[str, Any]:
    return _swap(swaps.refuse(session, swap_id=swap_id, by=user, note=body.note))
