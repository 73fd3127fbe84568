"""The agent's desk (telephony.desk): the caller's number, which no webhook reads, is read and
masked where the desk shows it."""

from __future__ import annotations

from telephony import desk
from tests.factories import fresh
from tests.telephony.hub import CALLER, Hub, available


def test_desk_shows_the_callers_number_masked_while_offered_and_on_the_call(sim, hub: Hub, session) -> None:
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    assert sim.press(sid, "1")
    sim.pump()
    offered = desk.agent_desk(fresh(session), user_id=hub.agent.id)
    assert offered.offer is not None and offered.offer.masked_number == "+86 138****8000"
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.pump()
    on_call = desk.agent_desk(fresh(session), user_id=hub.agent.id)
    assert on_call.call is not None and on_call.call.masked_number == "+86 138****8000"
