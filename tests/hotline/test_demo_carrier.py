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
