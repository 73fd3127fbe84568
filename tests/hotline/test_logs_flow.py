"""A whole flow through the real hub (uvicorn with its access log, the carrier simulator, the
pages and the API; customers created, looked up, called in, called back), then every line the
hub's log handler wrote is searched for every phone number the flow used, in any spelling
(E.164, national, spaced, URL-encoded): no number is found."""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from core import config, db
from core.clock import FrozenClock
from tests.agent_ui.desk import CALLER, Desk, make_desk, set_presence
from tests.conftest import PG_URL, _Template, build_settings
from tests.factories import cheap_password_hashing, fresh, make_api_token, signed_in_client
from tests.telephony.hub import eager_tasks  # noqa: F401 - a fixture

__all__ = ["cheap_password_hashing"]

HOTLINE_NUMBER = "+862160000000"
NEW_NUMBERS = ("139 0000 1234", "+86 139-0000-5678")
STRANGER = "+8613911112222"
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def settings(tmp_path: Path, db_template: _Template, data_keys: list[str],
             listener: socket.socket) -> Iterator[config.Settings]:
    """JSON log lines at INFO, as in production, and the live server's public URL."""
    url, engine = db_template.fresh(tmp_path)
    current = build_settings(tmp_path / "var", url, data_keys, log_json=True, log_level="INFO",
                             twilio_caller_id=HOTLINE_NUMBER,
                             public_url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    config.configure(current)
    db.configure_engine(engine)
    yield current
    if not PG_URL:
        engine.dispose()
    db.configure_engine(None)
    config.configure(None)


def _national(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def hits(log_text: str, numbers: list[str]) -> list[str]:
    """Lines holding any of `numbers` in any spelling: separators and %-escapes are dropped and
    the digits of each line searched for each number's national digits."""
    found = []
    for line in log_text.splitlines():
        digits = re.sub(r"\D", "", _ESCAPE.sub("", line).replace("+", ""))
        if any(_national(n) in digits for n in numbers):
            found.append(line)
    return found


def test_hits_finds_every_spelling() -> None:
    numbers = ["+8613811110003"]
    for line in ("phone=%2B8613811110003", "138 1111 0003", "138+1111+0003", "138%201111%200003", "13811110003"):
        assert hits(line, numbers) == [line]
    assert hits("phone=[phone] at 2026-12-05 12:33:53", numbers) == []


def test_no_phone_number_reaches_the_logs(settings: config.Settings, listener: socket.socket, session: Session,
                                          clock: FrozenClock, tmp_path: Path, eager_tasks: None) -> None:  # noqa: F811
    import uvicorn

    from hotline.app import create_app
    from telephony.gateway import install_gateway
    from telephony.simulator import build, install_simulator
    from telephony.simulator.router import router as simulator_router
    from telephony.simulator.transport import httpx_transport

    desk: Desk = make_desk(session)
    app = create_app(settings, start_background=False)
    app.include_router(simulator_router)
    log_path = tmp_path / "hub.log"
    log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_hotline", False))
    handler.setStream(log_file)  # what the hub writes to stderr, kept whole
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=True, lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    waiter = threading.Event()
    while not server.started:
        waiter.wait(0.02)
    webhooks = httpx.Client(timeout=15)
    sim = build(settings, httpx_transport(webhooks), in_process=True, hotline_number=HOTLINE_NUMBER)
    base = settings.public_url
    try:
        agent_token = {"Authorization": f"Bearer {make_api_token(session, desk.agent)}"}
        boss_token = {"Authorization": f"Bearer {make_api_token(session, desk.supervisor)}"}
        with httpx.Client(base_url=base, timeout=15) as api:
            # Customers made and found through the API, the number in JSON bodies only.
            for number in NEW_NUMBERS:
                made = api.post("/api/v1/customers", headers=agent_token, json={
                    "name": "Zhao Lei", "phones": [{"number": number}], "consent_method": "phone"})
                assert made.status_code == 201, made.text
                found = api.post("/api/v1/customers/lookup", headers=agent_token, json={"phone": number})
                assert found.status_code == 200
            assert api.post("/api/v1/customers/lookup", headers=agent_token,
                            json={"phone": STRANGER}).status_code == 404
            assert api.post("/api/v1/customers/lookup", headers=agent_token,
                            json={"phone": "call 139-0000-9999 now"}).status_code == 422
            # An old client still putting the number in the address: refused, and the access log
            # line that records it is redacted.
            for query in ("phone=%2B8613900001234", "phone=139+0000+5678", "phone=139%200000%201234"):
                assert api.get(f"/api/v1/customers/lookup?{query}", headers=agent_token).status_code == 405
        with httpx.Client(base_url=base, timeout=15) as browser:
            signed_in_client(browser, desk.agent)
            assert browser.post("/customers", data={"phone": NEW_NUMBERS[0]}).status_code == 200
            assert browser.post("/customers", data={"phone": "not 1234567 a number"}).status_code == 422
        # The known customer calls in, is offered to the agent, talks, hangs up.
        set_presence(desk.agent, "available")
        sid = sim.place_call(CALLER)
        sim.pump()
        assert sim.press(sid, "1")
        sim.pump()
        sim.phone(f"agent_{desk.agent.id}").answer()
        sim.pump()
        sim.advance(40)
        sim.hangup(sid)
        sim.pump()
        # A stranger calls and hangs up in the menu.
        stranger = sim.place_call(STRANGER)
        sim.pump()
        sim.hangup(stranger)
        sim.pump()
        ticket_id = fresh(session).execute(
            __import__("sqlalchemy").text("SELECT ticket_id FROM calls WHERE call_sid = :sid"), {"sid": sid}).scalar()
        assert ticket_id is not None
        # The supervisor authorises a callback; the server dials the customer.
        with httpx.Client(base_url=base, timeout=15) as api:
            granted = api.post("/api/v1/grants", headers=boss_token, json={
                "customer_id": desk.customer.id, "agent_id": desk.agent.id, "reason": "promised a call back",
                "ticket_id": ticket_id})
            assert granted.status_code == 201, granted.text
            clock.advance(seconds=60)
            set_presence(desk.agent, "available")
            dialled = api.post(f"/api/v1/tickets/{ticket_id}/callback", headers=agent_token)
            assert dialled.status_code == 202, dialled.text
            sim.pump()
    finally:
        server.should_exit = True
        thread.join(10)
        webhooks.close()
        install_simulator(None)
        install_gateway(None)
        handler.setStream(__import__("sys").stderr)
        log_file.close()
    written = log_path.read_text(encoding="utf-8")
    assert "/api/v1/customers/lookup" in written and "/twilio/voice" in written  # the access log was kept
    numbers = [CALLER, STRANGER, *NEW_NUMBERS, "139-0000-9999"]
    leaked = hits(written, numbers)
    assert leaked == [], f"{len(leaked)} log lines hold a phone number: {leaked[:5]}"
    assert sim.errors == [], sim.errors
