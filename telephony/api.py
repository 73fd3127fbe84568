"""Small JSON endpoints for the agent's phone (the desktop and the demo's simulated phone):
what is ringing, answer, decline, hang up; and recordings served to those allowed to listen,
with HTTP Range for seeking, each listen audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select

from core.auth import AgentUser, ClientIP, CurrentUser, DbSession
from core.errors import Conflict, NotFound
from core.storage.serving import stored_response
from core.worker import enqueue_named
from telephony import bridge, recordings, routing
from telephony.models import Call

router = APIRouter(tags=["phone"])


class PhoneCall(BaseModel):
    leg_id: int
    call_id: int | None
    offer_id: int | None
    ticket_id: int | None
    status: str


class PhoneState(BaseModel):
    identity: str
    ringing: list[PhoneCall]
    active: list[PhoneCall]


def _legs(session: DbSession, user_id: int, statuses: tuple[str, ...]) -> list[Call]:
    return list(session.scalars(select(Call).where(Call.leg == "agent", Call.agent_id == user_id,
                                                   Call.status.in_(statuses)).order_by(Call.id)))


def _public(leg: Call) -> PhoneCall:
    return PhoneCall(leg_id=leg.id, call_id=leg.parent_call_id, offer_id=leg.offer_id, ticket_id=leg.ticket_id,
                     status=leg.status)


RINGING = ("queued", "initiated", "ringing")


@router.get("/api/v1/phone")
def phone_state(session: DbSession, user: AgentUser) -> PhoneState:
    return PhoneState(identity=bridge.agent_identity(user.id),
                      ringing=[_public(c) for c in _legs(session, user.id, RINGING)],
                      active=[_public(c) for c in _legs(session, user.id, ("in-progress",))])


def _ringing_leg(session: DbSession, user_id: int) -> Call:
    legs = _legs(session, user_id, RINGING)
    if not legs:
        raise NotFound("Nothing is ringing for you.")
    return legs[-1]


@router.post("/api/v1/phone/answer")
def answer(session: DbSession, user: AgentUser) -> PhoneCall:
    """The demo's phone: answered at the simulated carrier, as a browser phone would."""
    leg = _ringing_leg(session, user.id)
    try:
        from telephony.simulator import get_simulator

        simulator = get_simulator()
    except LookupError:
        raise Conflict("Answer in your browser phone; this hub talks to real Twilio.") from None
    try:
        simulator.phone(bridge.agent_identity(user.id)).answer(leg.call_sid)
    except (LookupError, KeyError):
        raise Conflict("The call stopped ringing.") from None
    return _public(leg)


@router.post("/api/v1/phone/decline")
def decline(session: DbSession, user: AgentUser) -> PhoneCall:
    leg = _ringing_leg(session, user.id)
    if leg.offer_id is not None:
        routing.offer_declined(session, offer_id=leg.offer_id)
    enqueue_named(session, "telephony.end_leg", leg.id)
    return _public(leg)


@router.post("/api/v1/phone/hangup")
def hangup(session: DbSession, user: AgentUser) -> PhoneCall:
    leg = bridge.hangup_by_agent(session, user_id=user.id)
    if leg is None:
        raise NotFound("You are not on a call.")
    return _public(leg)


@router.get("/recordings/{recording_id}")
def listen(recording_id: int, request: Request, session: DbSession, user: CurrentUser, ip: ClientIP) -> Response:
    # A player fetches many ranges per listen; the first request of a listen is the one audited.
    byte_range = request.headers.get("range", "")
    starts_listen = not byte_range or byte_range.replace(" ", "").startswith("bytes=0-")
    recording = recordings.get_for_listening(session, recording_id=recording_id, user=user, source_ip=ip,
                                             audit_listen=starts_listen)
    return stored_response(recording.media_key or "", range_header=byte_range or None, media_type="audio/wav",
                           filename=f"recording-{recording.id}.wav", etag=recording.sha256,
                           if_range=request.headers.get("if-range"), headers={"Cache-Control": "private, no-store"})
