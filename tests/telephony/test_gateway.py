"""The Twilio gateway: the real twilio client against the simulator, 429 and 5xx retried with
growing backoff, clear failures otherwise, nothing half-written when Twilio refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from core import config
from telephony import gateway
from telephony.gateway import GatewayError, SimulatorHttpClient, TwilioGateway, get_gateway
from telephony.models import Call, Offer
from tests.factories import fresh
from tests.telephony.hub import CALLER, available


def _sleeps(gw: TwilioGateway) -> list[float]:
    slept: list[float] = []
    gw.sleep = slept.append
    return slept


def _live_call(sim) -> str:  # type: ignore[no-untyped-def]
    sid = sim.place_call(CALLER)
    sim.pump()
    return sid


def test_rate_limited_update_is_retried_with_backoff(client, sim, hub) -> None:
    gw = get_gateway()
    slept = _sleeps(gw)
    sid = _live_call(sim)
    sim.fail_next(method="POST", path_contains=f"/Calls/{sid}.json", status=429, code=20429, times=2)
    gw.update_call(sid, url="http://testserver/twilio/voicemail")
    assert len(slept) == 2 and slept[0] <= gw.base_delay <= slept[1] <= 2 * gw.base_delay
    sim.advance(3)
    assert sim.call(sid).heard[-1] == "[beep]"


def test_server_errors_on_safe_requests_are_retried_then_reported(client, sim, hub) -> None:
    gw = get_gateway()
    slept = _sleeps(gw)
    sid = _live_call(sim)
    sim.fail_next(method="GET", path_contains=f"/Calls/{sid}.json", status=503, code=20503, times=10)
    with pytest.raises(GatewayError) as failure:
        gw.fetch_call(sid)
    assert failure.value.status == 503 and failure.value.retryable and len(slept) == gw.attempts - 1


def test_creating_is_not_repeated_on_a_server_error(client, sim, hub) -> None:
    gw = get_gateway()
    slept = _sleeps(gw)
    sim.fail_next(method="POST", path_contains="/Calls.json", status=500, code=20500)
    with pytest.raises(GatewayError) as failure:
        gw.create_call(to="client:agent_1", from_="+862160000000", url="http://testserver/twilio/agent/answer")
    assert slept == [] and not failure.value.retryable
    assert not any(c.direction == "outbound-api" for c in sim.calls.values())


def test_client_errors_fail_at_once_with_twilios_message(client, sim, hub) -> None:
    gw = get_gateway()
    slept = _sleeps(gw)
    with pytest.raises(GatewayError) as failure:
        gw.update_call("CA" + "0" * 32, url="http://testserver/twilio/voice")
    assert failure.value.status == 404 and failure.value.twilio_code == 20404 and slept == []
    assert failure.value.params["action"] == "update the call" and "not found" in failure.value.message


def test_wrong_credentials_are_refused(client, sim, hub) -> None:
    from telephony.simulator.transport import SimulatorAdapter

    http = SimulatorHttpClient("http://testserver/simulator", adapter=SimulatorAdapter(sim))
    wrong = TwilioGateway(Client(sim.account_sid, "wrong-token", http_client=http), sleep=lambda _s: None)
    with pytest.raises(GatewayError) as failure:
        wrong.fetch_call("CA" + "0" * 32)
    assert failure.value.status == 401


def test_refused_ring_writes_no_leg_and_offers_the_call_to_the_next_agent(client, sim, hub, session,
                                                                          clock) -> None:
    from telephony.models.routing import AgentPresence

    available(session, hub.agent)
    clock.advance(seconds=1)
    available(session, hub.other_agent)
    sim.fail_next(method="POST", path_contains="/Calls.json", status=400, code=21210, times=1)
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.press(sid, "1")
    sim.pump()
    fresh(session)
    offers = session.scalars(select(Offer).order_by(Offer.id)).all()
    assert [(o.user_id, o.state) for o in offers] == [(hub.agent.id, "withdrawn"), (hub.other_agent.id, "pending")]
    assert session.get(AgentPresence, hub.agent.id).state == "away"
    legs = session.scalars(select(Call).where(Call.leg == "agent")).all()
    assert [leg.agent_id for leg in legs] == [hub.other_agent.id]
    assert sim.phone(f"agent_{hub.other_agent.id}").ringing()


def test_recording_pause_and_resume_use_the_current_recording(client, sim, hub, session) -> None:
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.advance(10)
    recording = sim.recordings[sim.call(sid).recordings[-1]]
    gw = get_gateway()
    gw.set_recording_status(sid, status="paused", pause_behavior="skip")
    assert recording.status == "paused"
    sim.advance(20)
    gw.set_recording_status(sid, status="in-progress")
    sim.advance(10)
    sim.hangup(sid)
    sim.pump()
    assert recording.status == "completed" and recording.duration() == 20


def test_sms_is_sent_through_the_messages_api(client, sim, hub) -> None:
    sid = get_gateway().send_sms(to="+8613800138000", from_="+862160000000", body="你好")
    message = sim.messages[sid]
    assert sid.startswith("SM") and message.body == "你好"
    sim.pump()
    assert message.status == "delivered"


def test_get_gateway_is_the_simulator_unless_in_production(settings) -> None:
    gateway.install_gateway(None)
    embedded = get_gateway()
    assert isinstance(embedded.client.http_client, SimulatorHttpClient)
    assert embedded.client.http_client.rewrite(
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json"
    ) == "http://testserver/simulator/2010-04-01/Accounts/AC1/Calls.json"
    production = settings.model_copy(update={"mode": "production"})
    config.configure(production)
    try:
        real = get_gateway()
        assert type(real.client.http_client) is TwilioHttpClient
    finally:
        config.configure(settings)


def test_reconcile_asks_twilio_about_calls_that_look_stuck(client, sim, hub, session, clock) -> None:
    from datetime import timedelta

    from telephony.tasks import reconcile_sweep

    sid = sim.place_call(CALLER)
    sim.pump()
    sim.webhooks.clear()
    # The completed callback is lost: Twilio does not guarantee ordinary webhooks.
    sim.transport, real = (lambda url, params, headers: (503, "")), sim.transport
    sim.hangup(sid)
    sim.pump()
    sim.transport = real
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call.status == "ringing"
    assert reconcile_sweep() == 0  # not stuck yet
    clock.advance(timedelta(minutes=31))
    assert reconcile_sweep() == 1
    fresh(session)
    assert session.get(Call, call.id).status == "completed"


def test_queued_sms_are_sent_and_reported(client, sim, hub, session) -> None:
    from telephony.tasks import send_sms_sweep
    from tests.tickets.factories_customers import make_customer
    from tickets import care
    from tickets.models.customers import OutboundMessage

    customer = make_customer(session, site=hub.site)
    care.queue_message(session, customer_id=customer.id, kind="birthday")
    session.commit()
    assert send_sms_sweep() == 1
    fresh(session)
    message = session.scalar(select(OutboundMessage))
    assert message.status == "sent" and message.provider_ref in sim.messages


def test_the_embedded_simulator_is_not_reached_on_a_connection_its_server_is_closing() -> None:
    """The demo reaches its simulator over HTTP on its own server, which closes a connection idle
    for its keep-alive time (uvicorn: 5 s). A call placed on a pooled connection just as it is
    closed failed with ConnectionError, unretried (placing a call is not safe to repeat), and the
    agent was set away. Here a server answers one request per connection and drops any second
    request on it unanswered, as that race does: each call to the simulator takes a fresh one."""
    import socket
    import threading

    body = b'{"sid": "CA' + b"1" * 32 + b'", "status": "queued"}'
    answer = (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def one_connection(conn: socket.socket) -> None:
        with conn:
            requests_seen = 0
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                requests_seen += 1
                if requests_seen > 1:
                    break  # the keep-alive timer fired as this request arrived: closed, unanswered
                conn.sendall(answer)

    def serve() -> None:
        # Each connection on its own thread: one the client has not closed yet (its socket is
        # closed when collected) must not hold back the next.
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            threading.Thread(target=one_connection, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    http = SimulatorHttpClient(f"http://127.0.0.1:{port}/simulator")
    gw = TwilioGateway(Client("AC" + "0" * 32, "token", http_client=http), sleep=lambda _s: None)
    try:
        for _ in range(3):
            assert gw.create_call(to="client:agent_1", from_="+862160000000",
                                  url="http://127.0.0.1/twilio/agent/answer") == "CA" + "1" * 32
    finally:
        listener.close()
    assert len(connections) == 3
