"""Leg identity (issue 14, item 1): an agent's leg acts only on its own offer. A stale leg, from
an offer withdrawn while the agent's phone rang, never ends the customer's call nor frees the
agent who took it; answered, it is told politely the call was taken and hung up. And the
database keeps an agent on one live customer call at most."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import session_scope
from telephony import presence
from telephony.models import Call, Offer, QueueEntry
from telephony.models.routing import AgentPresence
from telephony.simulator.twiml import parse
from tests.factories import fresh
from tests.telephony.hub import CALLER, Hub, available, new_call_sid, post_webhook, voice_params


def _queued(sim, session) -> str:  # noqa: ANN001
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.press(sid, "2")
    sim.pump()
    return sid


def _caller(session, sid: str) -> Call:
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call is not None
    return call


def _offer_of(session, user_id: int) -> Offer:
    fresh(session)
    return session.scalars(select(Offer).where(Offer.user_id == user_id).order_by(Offer.id.desc())).first()


def test_a_stale_leg_answered_then_completed_neither_ends_the_call_nor_frees_the_agent(
        client, sim, hub: Hub, session) -> None:
    available(session, hub.agent)
    sid = _queued(sim, session)
    a, b = hub.agent, hub.other_agent
    assert sim.phone(f"agent_{a.id}").ringing()
    stale_offer = _offer_of(session, a.id)
    stale_leg = session.scalar(select(Call).where(Call.offer_id == stale_offer.id, Call.leg == "agent"))
    assert stale_leg is not None
    stale_sid = stale_leg.call_sid
    # A goes on break while the phone rings: the offer is withdrawn and the call goes to B.
    available(session, b)
    with session_scope() as own:
        presence.set_presence(own, user_id=a.id, state="break")
    sim.pump()
    sim.phone(f"agent_{b.id}").answer()
    sim.pump()
    sim.advance(3)
    caller = _caller(session, sid)
    assert caller.agent_id == b.id and sim.call(sid).waiting == "conference"

    # A answers the stale leg (the carrier connected it before the hub's cancel arrived).
    answer = post_webhook(client, f"/twilio/agent/answer?offer={stale_offer.id}",
                          voice_params(stale_sid, from_="hotline", status="in-progress", To=f"client:agent_{a.id}"))
    assert answer.status_code == 200
    verbs = parse(answer.text)
    assert [v.name for v in verbs] == ["Say", "Say", "Hangup"]
    assert "其他同事接听" in verbs[0].text and "taken by a colleague" in verbs[1].text
    # ... and its completed callback arrives.
    done = post_webhook(client, "/twilio/status",
                        voice_params(stale_sid, from_="hotline", status="completed", CallDuration="2",
                                     To=f"client:agent_{a.id}"))
    assert done.status_code == 204
    sim.pump()

    fresh(session)
    assert session.get(AgentPresence, b.id).state == "on_call"
    assert session.get(AgentPresence, b.id).current_call_id == caller.id
    assert session.get(AgentPresence, a.id).state == "break"
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == caller.id))
    assert entry.state == "connected" and entry.ended_at is None
    assert _caller(session, sid).status == "in-progress"
    assert sim.call(sid).alive and sim.call(sid).waiting == "conference"


def test_a_withdrawn_offer_stops_the_agents_ringing_phone(client, sim, hub: Hub, session) -> None:
    available(session, hub.agent)
    _queued(sim, session)
    phone = sim.phone(f"agent_{hub.agent.id}")
    assert phone.ringing()
    with session_scope() as own:
        presence.set_presence(own, user_id=hub.agent.id, state="break")
    sim.pump()
    assert phone.ringing() == []


def _leg(session, agent_id: int, status: str) -> Call:
    leg = Call(call_sid=new_call_sid(), leg="agent", direction="outbound-api", agent_id=agent_id, status=status)
    session.add(leg)
    return leg


def test_the_database_keeps_an_agent_on_one_live_call(session, hub: Hub) -> None:
    _leg(session, hub.agent.id, "in-progress")
    _leg(session, hub.agent.id, "completed")
    _leg(session, hub.agent.id, "ringing")
    _leg(session, hub.other_agent.id, "in-progress")
    session.commit()
    _leg(session, hub.agent.id, "in-progress")
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_an_agent_already_on_a_call_who_answers_another_offer_is_refused(client, sim, hub: Hub, session) -> None:
    available(session, hub.agent)
    first = _queued(sim, session)
    phone = sim.phone(f"agent_{hub.agent.id}")
    phone.answer()
    sim.pump()
    sim.advance(3)
    assert sim.call(first).waiting == "conference"
    # A second leg for the same agent is answered (a duplicated offer, as before the fix).
    caller = _caller(session, first)
    offer = _offer_of(session, hub.agent.id)
    leg_sid = new_call_sid()
    answer = post_webhook(client, f"/twilio/agent/answer?offer={offer.id}",
                          voice_params(leg_sid, from_="hotline", status="in-progress", To=f"client:agent_{hub.agent.id}"))
    assert [v.name for v in parse(answer.text)] == ["Say", "Say", "Hangup"]
    fresh(session)
    live = session.scalars(select(Call).where(Call.leg == "agent", Call.agent_id == hub.agent.id,
                                              Call.status == "in-progress")).all()
    assert len(live) == 1 and live[0].parent_call_id == caller.id
