"""The simulator this process runs (the demo's or a test's), and building one wired to the hub's
settings with the gateway pointed at it."""

from __future__ import annotations

import threading
import time

from core.config import Settings
from telephony.simulator.carrier import Simulator
from telephony.simulator.engine import WebhookTransport

_current: Simulator | None = None
_lock = threading.Lock()


def install_simulator(sim: Simulator | None) -> None:
    global _current
    with _lock:
        _current = sim


def get_simulator() -> Simulator:
    if _current is None:
        raise LookupError("no simulator installed")
    return _current


def build(settings: Settings, transport: WebhookTransport, *, in_process: bool = True,
          hotline_number: str = "+862160000000") -> Simulator:
    """A simulator speaking for the settings' Twilio account, installed together with a gateway
    whose twilio client reaches it: in-process (tests) or over HTTP at `<public_url>/simulator`."""
    from twilio.rest import Client

    from telephony.gateway import SimulatorHttpClient, TwilioGateway, install_gateway
    from telephony.simulator.transport import SimulatorAdapter

    sid = settings.twilio_account_sid or "AC" + "0" * 32
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else "simulator"
    sim = Simulator(account_sid=sid, auth_token=token, public_url=settings.public_url, transport=transport,
                    hotline_number=hotline_number)
    adapter = SimulatorAdapter(sim) if in_process else None
    http_client = SimulatorHttpClient(settings.public_url + "/simulator", adapter=adapter)
    # In-process (tests): backoff is not slept, so retries cost no time.
    sleep = (lambda _seconds: None) if in_process else time.sleep
    install_gateway(TwilioGateway(Client(sid, token, http_client=http_client), sleep=sleep))
    install_simulator(sim)
    return sim
