"""The demo's carrier: callbacks are dialled from the hotline's number (unless one is set), and
its simulated customers answer some callbacks and miss others."""

from __future__ import annotations

from hotline import demo
from telephony.simulator import Simulator
from telephony.simulator.customers import Customers
from tests.conftest import TEST_TWILIO_SID, TEST_TWILIO_TOKEN


def test_the_demo_dials_callbacks_from_the_hotlines_number(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert demo.demo_settings("127.0.0.1", 8000).twilio_caller_id == demo.HOTLINE_NUMBER
    monkeypatch.setattr(settings, "twilio_caller_id", "+862100000001")
    assert demo.demo_settings("127.0.0.1", 8000).twilio_caller_id == "+862100000001"  # a configured one stays


def test_the_demos_traffic_brings_customers_who_answer_callbacks() -> None:
    sim = Simulator(account_sid=TEST_TWILIO_SID, auth_token=TEST_TWILIO_TOKEN, public_url="http://testserver",
                    transport=lambda url, params, headers: (200, "<Response><Pause length='30'/></Response>"))
    traffic = demo.Traffic(calls_per_minute=0, agents={}, customers=Customers(answer=1.0, busy=0.0,
                                                                               pick_up_after=(3.0, 3.0)))
    call = sim.create_call(to="+8613800138001", from_=demo.HOTLINE_NUMBER, url="http://testserver/twilio/x",
                           twiml=None, status_callback=None, events=frozenset(), timeout=30)
    sim.pump()
    traffic.customers.tick(sim, 10.0)
    assert call.waiting == "ringing"
    traffic.customers.tick(sim, 13.0)
    assert call.status == "in-progress"


def test_a_customer_who_picked_up_hangs_up_a_few_minutes_on() -> None:
    """An agent who walks away from a demo call is not left on it for ever: a customer who
    answered a callback, like a caller who reached an agent, talks a few minutes and hangs up."""
    sim = Simulator(account_sid=TEST_TWILIO_SID, auth_token=TEST_TWILIO_TOKEN, public_url="http://testserver",
                    transport=lambda url, params, headers: (200, "<Response><Pause length='30'/></Response>"))
    customers = Customers(answer=1.0, busy=0.0, pick_up_after=(3.0, 3.0), talk_for=(200.0, 200.0))
    call = sim.create_call(to="+8613800138001", from_=demo.HOTLINE_NUMBER, url="http://testserver/twilio/x",
                           twiml=None, status_callback=None, events=frozenset(), timeout=30)
    sim.pump()
    customers.tick(sim, 10.0)
    customers.tick(sim, 13.0)
    assert call.status == "in-progress"
    customers.tick(sim, 212.0)
    assert call.alive
    customers.tick(sim, 213.0)
    assert not call.alive and call.status == "completed"
    customers.tick(sim, 500.0)  # a call already gone is forgotten quietly
    assert customers.talking == {}


def test_a_caller_who_reached_an_agent_hangs_up_a_few_minutes_on() -> None:
    sim = Simulator(account_sid=TEST_TWILIO_SID, auth_token=TEST_TWILIO_TOKEN, public_url="http://testserver",
                    transport=lambda url, params, headers: (
                        200, "<Response><Dial><Conference>agent-room</Conference></Dial></Response>"))
    traffic = demo.Traffic(calls_per_minute=0, agents={}, customers=Customers(talk_for=(300.0, 300.0)))
    sid = sim.place_call("+8613800138001", demo.HOTLINE_NUMBER)
    sim.pump()
    assert sim.call(sid).conference is not None  # with the agent, as the hub's TwiML puts them
    traffic.callers[sid] = {"placed": 0.0, "pressed": 0.0, "patience": 100.0}
    for now in (50.0, 349.0):
        traffic.callers_act(sim, now)
        traffic.customers.tick(sim, now)
    assert sim.call(sid).alive  # past their patience in the queue, but not in the queue
    traffic.callers_act(sim, 350.0)
    traffic.customers.tick(sim, 350.0)
    assert not sim.call(sid).alive
