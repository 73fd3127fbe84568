"""Roll call, notices (acknowledge, read receipts), duty logs and handovers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from core.auth import AgentUser, DbSession, TeamLeaderUser
from scheduling import dutylog, handover, notices, rollcall

router = APIRouter()


def _entry(shift: Any, e: Any) -> dict[str, Any]:
    return {"shift_id": shift.id, "user_id": e.user_id, "status": e.status, "minutes_late": e.minutes_late,
            "arrived_at": e.arrived_at.isoformat() if e.arrived_at else None,
            "longest_away_minutes": e.longest_away_minutes, "violations": e.violations, "note": e.note}


class RollCallIn(BaseModel):
    site_id: int
    start: datetime
    window_minutes: int = 60


@router.post("/roll-call")
def take_roll_call(body: RollCallIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    data = [_entry(s, e) for s, e in rollcall.roll_call(session, by=user, **body.model_dump())]
    return {"data": data, "count": len(data)}


class ExcuseIn(BaseModel):
    note: str
    user_id: int | None = None  # the shift's owner by default; the other party of a swap that left it empty


@router.post("/roll-call/{shift_id}/excuse")
def excuse(shift_id: int, body: ExcuseIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    entry = rollcall.excuse(session, shift_id=shift_id, by=user, note=body.note, user_id=body.user_id)
    return _entry(type("S", (), {"id": shift_id})(), entry)


def _notice(n: Any) -> dict[str, Any]:
    return {"id": n.id, "title": n.title, "body": n.body, "site_id": n.site_id, "team_id": n.team_id,
            "published_at": n.published_at.isoformat()}


class NoticeIn(BaseModel):
    title: str
    body: str
    site_id: int | None = None
    team_id: int | None = None


@router.post("/notices", status_code=201)
def publish_notice(body: NoticeIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _notice(notices.publish_notice(session, by=user, **body.model_dump()))


@router.get("/notices")
def my_notices(session: DbSession, user: AgentUser, unread: bool = False) -> dict[str, Any]:
    found = notices.unacknowledged(session, user=user) if unread else notices.notices_for(session, user=user)
    return {"data": [_notice(n) for n in found], "count": len(found)}


@router.post("/notices/{notice_id}/ack")
def acknowledge(notice_id: int, session: DbSession, user: AgentUser) -> dict[str, Any]:
    ack = notices.acknowledge(session, notice_id=notice_id, by=user)
    return {"notice_id": notice_id, "user_id": user.id, "at": ack.at.isoformat()}


class WithdrawIn(BaseModel):
    reason: str = ""


@router.post("/notices/{notice_id}/withdraw")
def withdraw_notice(notice_id: int, body: WithdrawIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    notice = notices.withdraw(session, notice_id=notice_id, by=user, reason=body.reason)
    return {**_notice(notice), "withdrawn_at": notice.withdrawn_at.isoformat() if notice.withdrawn_at else None}


@router.get("/notices/{notice_id}/receipts")
def receipts(notice_id: int, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return notices.read_receipts(session, notice_id=notice_id, by=user)


def _log(log: Any) -> dict[str, Any]:
    return {"id": log.id, "site_id": log.site_id, "team_id": log.team_id, "day": log.day.isoformat(),
            "shift_kind": log.shift_kind, "leader_id": log.leader_id, "figures_source": log.figures_source,
            "closed_at": log.closed_at.isoformat() if log.closed_at else None,
            **{f: getattr(log, f) for f in dutylog.TEXT_FIELDS + dutylog.COUNT_FIELDS}}


class DutyLogIn(BaseModel):
    site_id: int
    day: date
    shift_kind: str
    team_id: int | None = None


@router.post("/duty-logs")
def open_duty_log(body: DutyLogIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _log(dutylog.open_log(session, by=user, **body.model_dump()))


@router.patch("/duty-logs/{log_id}")
def edit_duty_log(log_id: int, body: dict[str, Any], session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _log(dutylog.update(session, log_id=log_id, by=user, changes=body))


@router.get("/duty-logs/weekly")
def weekly(site_id: int, week_start: date, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return dutylog.weekly(session, site_id=site_id, week_start=week_start, by=user)


def _handover(session: Any, h: Any) -> dict[str, Any]:
    return {"id": h.id, "duty_log_id": h.duty_log_id, "status": h.status, "site_id": h.site_id,
            "outgoing_leader_id": h.outgoing_leader_id, "incoming_leader_id": h.incoming_leader_id,
            "next_start": h.next_start.isoformat(), "next_end": h.next_end.isoformat(), "listed": h.listed,
            "questions": h.questions, **{f: getattr(h, f) for f in handover.FIELDS},
            "nothing_to_report": h.nothing_to_report or [],
            "additions": [{"id": a.id, "author_id": a.author_id, "at": a.at.isoformat(), "text": a.text,
                           "added_after_acceptance": True}
                          for a in handover.additions(session, handover_id=h.id)]}


class HandoverIn(BaseModel):
    equipment_status: str | None = None
    difficult_issues: str | None = None
    unresolved_issues: str | None = None
    staffing_changes: str | None = None
    notices: str | None = None
    superiors_instructions: str | None = None
    customer_feedback: str | None = None  # customers' suggestions and complaints
    nothing_to_report: list[str] | None = None  # the parts left empty on purpose


@router.put("/duty-logs/{log_id}/handover")
def write_handover(log_id: int, body: HandoverIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    h = handover.write(session, duty_log_id=log_id, by=user, **body.model_dump(exclude_none=True))
    return _handover(session, h)


@router.post("/handovers/{handover_id}/submit")
def submit_handover(handover_id: int, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _handover(session, handover.submit(session, handover_id=handover_id, by=user))


@router.post("/handovers/{handover_id}/accept")
def accept_handover(handover_id: int, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _handover(session, handover.accept(session, handover_id=handover_id, by=user))


class QuestionsIn(BaseModel):
    questions: str


@router.post("/handovers/{handover_id}/return")
def return_handover(handover_id: int, body: QuestionsIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return _handover(session, handover.return_with_questions(session, handover_id=handover_id, by=user,
                                                             questions=body.questions))


class AdditionIn(BaseModel):
    text: str


@router.post("/handovers/{handover_id}/additions", status_code=201)
def append_handover(handover_id: int, body: AdditionIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    handover.append(session, handover_id=handover_id, by=user, text=body.text)
    return _handover(session, handover.get(session, handover_id=handover_id))
