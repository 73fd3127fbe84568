"""Fixtures for the call hub's tests: the carrier simulator wired to the real app (signed
webhooks through the TestClient, the twilio client answered in-process), tasks run eagerly,
and a site with available agents. Test modules import what they use from here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from core.models import Site, User
from core.worker import celery_app
from telephony import presence
from telephony.gateway import install_gateway
from telephony.simulator import Simulator, build, install_simulator
from telephony.simulator.transport import httpx_transport
from tests.conftest import TEST_TWILIO_SID, TEST_TWILIO_TOKEN
from tests.factories import make_site, make_user
from tests.telephony.routing_factories import skill

HOTLINE = "+862160000000"
CALLER = "+8613800138000"
BASE = "http://testserver"


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Tasks run at once, in the committing thread, instead of going to a broker."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def sim(client: TestClient, settings: Any, eager_tasks: None) -> Iterator[Simulator]:
    """The simulated carrier; the test fails if the hub ever sent TwiML Twilio would refuse."""
    simulator = build(settings, httpx_transport(client), in_process=True, hotline_number=HOTLINE)
    yield simulator
    install_simulator(None)
    install_gateway(None)
    assert simulator.errors == [], simulator.errors


@dataclass
class Hub:
    site: Site
    agent: User
    other_agent: User
    supervisor: User
    qa: User


@pytest.fixture
def hub(session: Session) -> Hub:
    site = make_site(session, timezone="Asia/Shanghai")
    agents = []
    for name in ("agent-a", "agent-b"):
        user = make_user(session, username=name, site=site)
        for code in ("inquiry", "complaint", "membership", "operator"):
            from core.models import UserSkill

            user.skills.append(UserSkill(skill=skill(session, code), level=3))
        agents.append(user)
    session.commit()
    supervisor = make_user(session, role="supervisor", username="boss", site=site)
    qa = make_user(session, role="qa_inspector", username="qa1", site=site)
    return Hub(site=site, agent=agents[0], other_agent=agents[1], supervisor=supervisor, qa=qa)


def available(session: Session, *users: User) -> None:
    """Agents go available, each in a unit of work of its own (the router's writes take the
    SQLite write lock for the rest of a session, which would block the app's threads)."""
    from core.db import session_scope

    for user in users:
        with session_scope() as own:
            presence.set_presence(own, user_id=user.id, state="available")


def queued_call(sim: Simulator, caller: str = CALLER, key: str = "2") -> str:
    """A caller dials and chooses a queue (`key` at the menu); returns their CallSid."""
    sid = sim.place_call(caller)
    sim.pump()
    sim.press(sid, key)
    sim.pump()
    return sid


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def voice_params(call_sid: str | None = None, *, from_: str = CALLER, status: str = "ringing",
                 **extra: str) -> dict[str, str]:
    params = {"AccountSid": TEST_TWILIO_SID, "ApiVersion": "2010-04-01", "CallSid": call_sid or new_call_sid(),
              "CallStatus": status, "Direction": "inbound", "From": from_, "To": HOTLINE, "Caller": from_,
              "Called": HOTLINE, "FromCountry": "CN", "ToCountry": "CN"}
    params.update(extra)
    return params


def signature(url: str, params: dict[str, str], token: str = TEST_TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post_webhook(client: TestClient, path: str, params: dict[str, str], *, signed: bool = True,
                 token: str = TEST_TWILIO_TOKEN) -> Any:
    """POST form params to `path` (with its query) as Twilio would, signed over the public URL."""
    headers = {"X-Twilio-Signature": signature(BASE + path, params, token)} if signed else {}
    return client.post(path, data=params, headers=headers)


__all__ = ["BASE", "CALLER", "HOTLINE", "Hub", "available", "eager_tasks", "hub", "new_call_sid", "post_webhook",
           "signature", "sim", "voice_params"]
