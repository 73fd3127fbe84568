"""Helpers for the call-control and callback tests: a caller connected to an agent through the
real app and the simulated carrier, API tokens per person, and reading what the app committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditEntry
from core.models import User
from telephony.models import Call
from telephony.models.controls import CallControlEvent
from telephony.simulator import Simulator
from tests.factories import fresh, make_api_token
from tests.telephony.hub import CALLER, available


def bearer(session: Session, user: User) -> dict[str, str]:
    fresh(session)  # a read snapshot held open would stop this write on SQLite
    return {"Authorization": f"Bearer {make_api_token(session, user)}"}


def connected_call(session: Session, sim: Simulator, agent: User, *, caller: str = CALLER) -> tuple[Call, str]:
    """A caller who chose the inquiry queue and was answered by `agent`: (their Call, CallSid)."""
    available(session, agent)
    sid = sim.place_call(caller)
    sim.pump()
    assert sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{agent.id}").answer()
    sim.pump()
    sim.advance(5)
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call is not None and call.agent_id == agent.id and call.conference_sid, call
    return call, sid


def participant(sim: Simulator, call_sid: str) -> Any:
    for conference in sim.conferences.values():
        if call_sid in conference.participants:
            return conference.participants[call_sid]
    return None


def events(session: Session, call_id: int, kind: str | None = None) -> list[CallControlEvent]:
    fresh(session)
    query = select(CallControlEvent).where(CallControlEvent.call_id == call_id)
    if kind:
        query = query.where(CallControlEvent.kind == kind)
    return list(session.scalars(query.order_by(CallControlEvent.id)))


def audit_actions(session: Session, prefix: str) -> list[str]:
    fresh(session)
    return list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like(prefix + "%"))
                                .order_by(AuditEntry.seq)))


def presence_state(session: Session, user: User) -> str:
    from telephony.presence import get_presence

    fresh(session)
    state = get_presence(session, user_id=user.id).state
    session.rollback()
    return state
