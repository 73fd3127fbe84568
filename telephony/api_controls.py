"""JSON endpoints of the in-call controls (hold, transfer and its cancel, monitor, recording pause, escalate),
server-dialled callbacks and the browser phone's token, and the signed Twilio webhooks of the
legs they add. Routes are thin: roles by typed alias, the object checks in the services.
No response carries a phone number."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal, TypeVar

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.auth import AdminUser, AgentUser, ClientIP, DbSession, TeamLeaderUser
from core.db import session_scope, write_locked
from core.errors import PermissionDenied
from telephony import bridge, callbacks, controls, monitoring, transfers, voice_token
from telephony.models.controls import CallbackAttempt, CallControlEvent
from telephony.signature import TwilioForm

router = APIRouter(tags=["call controls"])


class ControlOut(BaseModel):
    id: int
    call_id: int
    kind: str
    state: str
    actor_id: int | None
    target_user_id: int | None
    target: str | None
    warm: bool
    outcome: str | None
    offset_seconds: int | None
    started_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, event: CallControlEvent) -> ControlOut:
        return cls(id=event.id, call_id=event.call_id, kind=event.kind, state=event.state, actor_id=event.actor_id,
                   target_user_id=event.target_user_id, target=event.target, warm=event.warm, outcome=event.outcome,
                   offset_seconds=event.offset_seconds, started_at=event.started_at, ended_at=event.ended_at)


class Period(BaseModel):
    started_at: datetime
    ended_at: datetime | None
    seconds: int
    offset_seconds: int | None


class CallControlsOut(BaseModel):
    call_id: int
    hold_seconds: int
    holds: list[Period]
    recording_pauses: list[Period]
    data: list[ControlOut]


class TransferIn(BaseModel):
    to_user_id: int | None = None
    to_queue: str | None = Field(default=None, max_length=40)
    warm: bool = True


class MonitorIn(BaseModel):
    mode: Literal["listen", "whisper", "barge"]


class EscalateIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    urgent: bool = False
    to_level: int | str | None = None
    transfer: bool = False


class EscalateOut(BaseModel):
    escalation: ControlOut
    transfer: ControlOut | None


class AttemptOut(BaseModel):
    id: int
    ticket_id: int
    number: int
    state: str
    due_at: datetime
    dialled_at: datetime | None
    ended_at: datetime | None
    answered_by: str | None
    reason: str | None

    @classmethod
    def of(cls, attempt: CallbackAttempt) -> AttemptOut:
        return cls(id=attempt.id, ticket_id=attempt.ticket_id, number=attempt.number, state=attempt.state,
                   due_at=attempt.due_at, dialled_at=attempt.dialled_at, ended_at=attempt.ended_at,
                   answered_by=attempt.answered_by, reason=attempt.reason)


class AttemptsOut(BaseModel):
    data: list[AttemptOut]
    count: int


class VoiceTokenOut(BaseModel):
    token: str
    identity: str
    ttl_seconds: int
    expires_at: datetime
    mode: str


class SitePolicyIn(BaseModel):
    announce_monitoring: bool


# In-call controls ---------------------------------------------------------------------------------

@router.post("/api/v1/calls/{call_id}/hold")
def hold(call_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> ControlOut:
    return ControlOut.of(controls.hold(session, call_id=call_id, user=user, source_ip=ip))


@router.post("/api/v1/calls/{call_id}/resume")
def resume(call_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> ControlOut:
    return ControlOut.of(controls.resume(session, call_id=call_id, user=user, source_ip=ip))


@router.post("/api/v1/calls/{call_id}/transfer")
def transfer(call_id: int, body: TransferIn, session: DbSession, user: AgentUser, ip: ClientIP) -> ControlOut:
    return ControlOut.of(transfers.transfer(session, call_id=call_id, user=user, to_user_id=body.to_user_id,
                                            to_queue=body.to_queue, warm=body.warm, source_ip=ip))


@router.post("/api/v1/calls/{call_id}/transfer/cancel")
def cancel_transfer(call_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> ControlOut:
    return ControlOut.of(transfers.cancel_transfer(session, call_id=call_id, user=user, source_ip=ip))


@router.post("/api/v1/calls/{call_id}/monitor")
def monitor(call_id: int, body: MonitorIn, session: DbSession, user: TeamLeaderUser, ip: ClientIP) -> ControlOut:
    return ControlOut.of(monitoring.monitor(session, call_id=call_id, user=user, mode=body.mode, source_ip=ip))


@router.post("/api/v1/calls/{call_id}/recording/pause")
def pause_recording(call_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> ControlOut:
    return ControlOut.of(controls.pause_recording(session, call_id=call_id, user=user, source_ip=ip))


@router.post("/api/v1/calls/{call_id}/recording/resume")
def resume_recording(call_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> ControlOut:
    return ControlOut.of(controls.resume_recording(session, call_id=call_id, user=user, source_ip=ip))


@router.post("/api/v1/calls/{call_id}/escalate")
def escalate(call_id: int, body: EscalateIn, session: DbSession, user: AgentUser, ip: ClientIP) -> EscalateOut:
    event, moved = transfers.escalate_call(session, call_id=call_id, user=user, reason=body.reason, urgent=body.urgent,
                                           to_level=body.to_level, transfer_to_leader=body.transfer, source_ip=ip)
    return EscalateOut(escalation=ControlOut.of(event), transfer=ControlOut.of(moved) if moved else None)


@router.get("/api/v1/calls/{call_id}/controls")
def call_controls(call_id: int, session: DbSession, user: AgentUser) -> CallControlsOut:
    from telephony.models import Call

    call = session.get(Call, call_id)
    if call is not None and call.agent_id != user.id and not controls.may_supervise(user, call):
        raise PermissionDenied("Only the call's agent and the leaders of its site see its controls.")
    found = controls.controls_of(session, call_id=call_id)

    def period(p: controls.HoldPeriod) -> Period:
        return Period(started_at=p.started_at, ended_at=p.ended_at, seconds=p.seconds, offset_seconds=p.offset_seconds)

    return CallControlsOut(call_id=call_id, hold_seconds=found.hold_seconds, holds=[period(p) for p in found.holds],
                           recording_pauses=[period(p) for p in found.recording_pauses],
                           data=[ControlOut.of(e) for e in found.events])


@router.put("/api/v1/sites/{site_id}/call-policy")
def site_policy(site_id: int, body: SitePolicyIn, session: DbSession, user: AdminUser) -> SitePolicyIn:
    policy = monitoring.set_site_policy(session, site_id=site_id, announce_monitoring=body.announce_monitoring, by=user)
    return SitePolicyIn(announce_monitoring=policy.announce_monitoring)


# Callbacks and the browser phone ---------------------------------------------------------------

@router.post("/api/v1/tickets/{ticket_id}/callback", status_code=202)
def call_back(ticket_id: int, session: DbSession, user: AgentUser, ip: ClientIP) -> AttemptOut:
    return AttemptOut.of(callbacks.request_callback(session, ticket_id=ticket_id, user=user, source_ip=ip))


@router.get("/api/v1/tickets/{ticket_id}/callbacks")
def callback_attempts(ticket_id: int, session: DbSession, user: AgentUser) -> AttemptsOut:
    found = callbacks.attempts_of(session, ticket_id=ticket_id, user=user)
    return AttemptsOut(data=[AttemptOut.of(a) for a in found], count=len(found))


@router.get("/api/v1/voice/token")
def voice_access_token(user: AgentUser, identity: str | None = None) -> VoiceTokenOut:
    issued = voice_token.issue(user=user, identity=identity)
    return VoiceTokenOut(token=issued.token, identity=issued.identity, ttl_seconds=issued.ttl_seconds,
                         expires_at=issued.expires_at, mode=issued.mode)


# Twilio's webhooks for the legs above (signed; 204 or TwiML) -------------------------------------

_T = TypeVar("_T")


def _work(fn: Callable[[Session], _T]) -> _T:
    with session_scope() as session:
        write_locked(session)
        return fn(session)


@router.post("/twilio/controls/leg", status_code=204, include_in_schema=False)
def control_leg(form: TwilioForm, control: int) -> Response:
    params = {k: str(v) for k, v in form.multi_items()}
    def work(session: Session) -> None:
        handed = transfers.on_control_leg(session, params=params, control_id=control)
        if handed is not None:  # a transferred call's new agent: their leg is any agent's leg now
            bridge.agent_leg_status(session, leg=handed, status=params.get("CallStatus") or "")

    _work(work)
    return Response(status_code=204)


@router.post("/twilio/callbacks/answer", include_in_schema=False)
def callback_answer(form: TwilioForm, attempt: int) -> Response:
    params = {k: str(v) for k, v in form.multi_items()}
    xml = _work(lambda s: callbacks.on_answer(s, params=params, attempt_id=attempt))
    return Response(content=xml, media_type="text/xml")


@router.post("/twilio/callbacks/status", status_code=204, include_in_schema=False)
def callback_status(form: TwilioForm, attempt: int) -> Response:
    params = {k: str(v) for k, v in form.multi_items()}
    _work(lambda s: callbacks.on_status(s, params=params, attempt_id=attempt))
    return Response(status_code=204)


@router.post("/twilio/callbacks/agent", status_code=204, include_in_schema=False)
def callback_agent(form: TwilioForm, attempt: int) -> Response:
    params = {k: str(v) for k, v in form.multi_items()}
    _work(lambda s: callbacks.on_agent_leg(s, params=params, attempt_id=attempt))
    return Response(status_code=204)


# Workers that import the API (the embedded mode) know the tasks too.
import telephony.control_tasks  # noqa: E402,F401

__all__ = ["router"]
