"""`hotline demo`: the hub on the embedded default with the carrier simulator, a demo site, staff
and customers, simulated agents who answer, and a traffic generator placing calls at a set
rate, so a person can watch calls arrive, get routed, answered, recorded and closed (and take
some as `agent1` through the agent desktop's phone)."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field

from pydantic import SecretStr

from core import config
from telephony.simulator.customers import Customers

log = logging.getLogger("hotline.demo")

DEMO_PASSWORD = "hotline-demo-2026"
DEMO_SID = "AC" + "de" * 16
DEMO_TOKEN = "demo-simulator-auth-token"
HOTLINE_NUMBER = "+862160000000"
STAFF = (("admin", "admin", "Demo Admin"), ("lead", "team_leader", "Li Lead"), ("boss", "supervisor", "Zhou Boss"),
         ("qa", "qa_inspector", "Qian QA"), ("agent1", "agent", "You (agent1)"), ("agent2", "agent", "Bot Wang"),
         ("agent3", "agent", "Bot Zhang"), ("agent4", "agent", "Bot Liu"))
BOTS = ("agent2", "agent3", "agent4")
CUSTOMERS = (("Wang Fang", "+8613800138001", "gold"), ("Li Na", "+8613800138002", "platinum"),
             ("Zhang Wei", "+8613800138003", "normal"), ("Chen Jing", "+8613800138004", "silver"),
             ("Liu Yang", "+8613800138005", "diamond"))


def demo_settings(host: str, port: int) -> config.Settings:
    settings = config.get_settings()
    updates: dict[str, object] = {"public_url": f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}"}
    if "HOTLINE_LOG_JSON" not in os.environ:
        updates["log_json"] = False  # a person reads the demo's terminal
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        updates.update(twilio_account_sid=DEMO_SID, twilio_auth_token=SecretStr(DEMO_TOKEN))
    if not settings.twilio_caller_id:
        updates["twilio_caller_id"] = HOTLINE_NUMBER  # callbacks are dialled from the hotline's number
    return settings.model_copy(update=updates)


def seed() -> dict[str, int]:
    """Demo site, staff (printed), skills and customers; safe to run again."""
    from sqlalchemy import select

    from core import assignments, organisation, users
    from core.db import session_scope
    from core.models import Site, UserSkill
    from tickets.customers import PhoneTaken, create_customer

    ids: dict[str, int] = {}
    with session_scope() as session:
        site = session.scalar(select(Site).where(Site.code == "demo"))
        if site is None:
            site = organisation.create_site(session, name="Demo Store", code="demo", timezone="Asia/Shanghai")
        team = organisation.list_teams(session, site_id=site.id)
        team_id = team[0].id if team else organisation.create_team(session, name="Hotline A", site_id=site.id).id
        skills = {s.code: s for s in organisation.ensure_default_skills(session)}
        for username, role, name in STAFF:
            user = users.get_by_username(session, username=username)
            if user is None:
                user = users.create_user(session, username=username, password=DEMO_PASSWORD, role=role,
                                         display_name=name, site_id=site.id, team_id=team_id)
                if role == "agent":
                    for code in ("inquiry", "complaint", "membership", "operator", "mandarin"):
                        user.skills.append(UserSkill(skill=skills[code], level=3))
            ids[username] = user.id
        # The store's manager by name: sees the store's customers in full and grants callbacks.
        if not assignments.is_site_manager(session, user_id=ids["boss"], site_id=site.id):
            assignments.assign_site_manager(session, site_id=site.id, user_id=ids["boss"], by=None)
        for name, phone, tier in CUSTOMERS:
            try:
                with session.begin_nested():
                    create_customer(session, by=None, audit=False, data={
                        "name": name, "phones": [phone], "site_id": site.id, "tier": tier,
                        "consent_purposes": ["service"], "consent_method": "phone",
                        "owning_agent_id": ids["agent2"] if tier in ("platinum", "diamond") else None})
            except PhoneTaken:
                pass
        ids["site"] = site.id
    return ids


@dataclass
class Traffic:
    """Simulated callers and agents; `tick()` runs every fraction of a second."""

    calls_per_minute: float
    agents: dict[str, int]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    customers: Customers = field(default_factory=Customers)  # answer some callbacks, miss others
    callers: dict[str, dict[str, float]] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    next_call_at: float = 0.0

    def tick(self, sim, now: float) -> None:  # type: ignore[no-untyped-def]
        if self.calls_per_minute > 0 and now >= self.next_call_at:
            number = self.rng.choice([c[1] for c in CUSTOMERS] + [f"+86139{self.rng.randrange(10**8):08d}"])
            self.callers[sim.place_call(number, HOTLINE_NUMBER)] = {"placed": now, "pressed": 0.0,
                                                                    "patience": self.rng.uniform(90, 400)}
            self.next_call_at = now + self.rng.expovariate(self.calls_per_minute / 60)
        for sid, state in list(self.callers.items()):
            call = sim.call(sid)
            if not call.alive:
                del self.callers[sid]
            elif sim.listening(sid) and now - state["pressed"] > 4:
                state["pressed"] = now
                offer = call.waiting == "queue"
                sim.press(sid, self.rng.choice("12") if offer else self.rng.choice("1112230"))
            elif now - state["placed"] > state["patience"] and call.waiting == "queue":
                sim.hangup(sid)  # some callers give up
        self.customers.tick(sim, now)
        for username in BOTS:
            self._bot(sim, username, now)

    def _bot(self, sim, username: str, now: float) -> None:  # type: ignore[no-untyped-def]
        from core.db import session_scope
        from telephony import bridge

        phone = sim.phone(bridge.agent_identity(self.agents[username]))
        for sid in phone.ringing():
            self.answered.setdefault(sid, now + self.rng.uniform(2, 5))
            if now >= self.answered[sid]:
                phone.answer(sid)
                self.answered[sid] = now + self.rng.uniform(20, 60)
        for sid in phone.active():
            if now >= self.answered.get(sid, now + 30):
                self.answered.pop(sid, None)
                with session_scope() as session:
                    bridge.hangup_by_agent(session, user_id=self.agents[username])


def _wait_for_server(url: str, stop: threading.Event) -> bool:
    import httpx

    while not stop.is_set():
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _run_carrier(settings: config.Settings, traffic: Traffic, stop: threading.Event) -> None:
    import httpx

    from core.db import session_scope
    from telephony import presence
    from telephony.simulator import build
    from telephony.simulator.transport import httpx_transport

    if not _wait_for_server(settings.public_url, stop):
        return
    sim = build(settings, httpx_transport(httpx.Client(timeout=15)), in_process=False, hotline_number=HOTLINE_NUMBER)
    for username in BOTS:
        with session_scope() as session:
            presence.set_presence(session, user_id=traffic.agents[username], state="available")
    log.info("carrier simulator running; placing about %.1f calls a minute", traffic.calls_per_minute)
    while not stop.is_set():
        try:
            sim.pump()
            traffic.tick(sim, time.monotonic())
        except Exception:  # noqa: BLE001 - the demo keeps going; the log says what failed
            log.exception("demo traffic step failed")
        stop.wait(0.1)


def run(host: str = "127.0.0.1", port: int = 8000, *, calls_per_minute: float = 3.0) -> None:
    """Start the demo hub on host:port and block until interrupted."""
    import uvicorn

    from core import db
    from hotline.app import create_app
    from agent_ui.pages.simulator import router as simulator_page
    from hotline.models import load_all
    from telephony.simulator.router import router as simulator_router

    settings = demo_settings(host, port)
    app = create_app(settings)
    load_all().metadata.create_all(db.get_engine())  # tables the migrations do not make yet
    app.include_router(simulator_router)
    app.include_router(simulator_page)  # /simulator: the simulated calls and agents
    agents = seed()
    print(f"\nHotline demo at {settings.public_url}/  (carrier simulator at {settings.public_url}/simulator)")
    print(f"Sign in as any of: {', '.join(u for u, _, _ in STAFF)}  —  password: {DEMO_PASSWORD}")
    print("agent1 is yours: go available and answer calls; agent2-4 are simulated agents.")
    print(f"About {calls_per_minute:g} calls a minute come in to {HOTLINE_NUMBER}. Stop with Ctrl+C.\n")
    stop = threading.Event()
    carrier = threading.Thread(target=_run_carrier, name="hotline-demo-carrier", daemon=True,
                               args=(settings, Traffic(calls_per_minute=calls_per_minute, agents=agents), stop))
    carrier.start()
    try:
        uvicorn.run(app, host=host, port=port, log_config=None)
    finally:
        stop.set()
        carrier.join(5)
