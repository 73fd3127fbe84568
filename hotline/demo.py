"""`hotline demo`: the hub on the embedded default with the carrier simulator, a demo site, staff
and customers, simulated agents who answer, and a traffic generator placing calls at a set
rate, so a person can watch calls arrive, get routed, answered, recorded and closed (and take
some as `agent1` through the agent desktop's phone)."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from core import clock, config
from hotline.demo_history import work_ticket
from telephony.simulator.carrier import Simulator
from telephony.simulator.customers import Customers

log = logging.getLogger("hotline.demo")

DEMO_PASSWORD = "hotline-demo-2026"
DEMO_SID = "AC" + "de" * 16
DEMO_TOKEN = "demo-simulator-auth-token"
HOTLINE_NUMBER = "+862160000000"
# (username, role, display name). Display names are people's names, never UI words ("You" is the
# pages' word, translated there); the banner says which sign-in is the operator's own.
STAFF = (("admin", "admin", "Demo Admin"), ("head", "center_head", "Sun Head"), ("boss", "supervisor", "Zhou Boss"),
         ("lead", "team_leader", "Li Lead"), ("lead2", "team_leader", "Ma Lead"), ("qa", "qa_inspector", "Qian QA"),
         ("agent1", "agent", "Zhao Min"), ("agent2", "agent", "Bot Wang"), ("agent3", "agent", "Bot Zhang"),
         ("agent4", "agent", "Bot Liu"))
ROLE_NAMES = {"admin": "administrator", "center_head": "center head", "supervisor": "supervisor",
              "team_leader": "team leader", "qa_inspector": "QA inspector", "agent": "agent"}
BOTS = ("agent2", "agent3", "agent4")
# Each team leader's shift template (hotline.demo_history.TEMPLATES): the day lead hands over to
# the evening lead, who accepts the handover (DOMAIN.md: the outgoing shift closes only then).
LEAD_SHIFTS = {"lead": "Early", "lead2": "Evening"}
NOTES = {"agent1": "yours: go available and answer calls",
         "lead": "day shift (08:00-16:00): writes the handover at /duty",
         "lead2": "evening shift (16:00-24:00): accepts lead's handover at /duty"}
LANGUAGES = ("en", "zh-CN")
LANGUAGE_NAMES = {"en": "English", "zh-CN": "Simplified Chinese"}
# The seed's names (people, customers, the store, its team, shift templates) are data, stored in
# one language: the one the operator runs the demo in (`hotline demo --language`). Built-in
# codes (skills, tiers, kinds of shift) are translated by the pages whatever the seed's language.
SEED_NAMES_ZH = {
    "Demo Admin": "演示管理员", "Sun Head": "孙海", "Zhou Boss": "周波", "Li Lead": "李立", "Ma Lead": "马林",
    "Qian QA": "钱琪", "Zhao Min": "赵敏", "Bot Wang": "王强（模拟）", "Bot Zhang": "张磊（模拟）",
    "Bot Liu": "刘洋（模拟）", "Wang Fang": "王芳", "Li Na": "李娜", "Zhang Wei": "张伟", "Chen Jing": "陈静",
    "Liu Yang": "刘阳", "Demo Store": "演示门店", "Hotline A": "热线一组", "Early": "早班", "Late": "中班",
    "Evening": "晚班",
}
CUSTOMERS = (("Wang Fang", "+8613800138001", "gold"), ("Li Na", "+8613800138002", "platinum"),
             ("Zhang Wei", "+8613800138003", "normal"), ("Chen Jing", "+8613800138004", "silver"),
             ("Liu Yang", "+8613800138005", "diamond"))


def demo_settings(host: str, port: int) -> config.Settings:
    settings = config.get_settings()
    reachable = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    updates: dict[str, object] = {"public_url": f"http://{reachable}:{port}"}
    if "HOTLINE_LOG_JSON" not in os.environ:
        updates["log_json"] = False  # a person reads the demo's terminal
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        updates.update(twilio_account_sid=DEMO_SID, twilio_auth_token=SecretStr(DEMO_TOKEN))
    if not settings.twilio_caller_id:
        updates["twilio_caller_id"] = HOTLINE_NUMBER  # callbacks are dialled from the hotline's number
    return settings.model_copy(update=updates)


def seed_language(requested: str | None = None) -> str:
    """The seed's language: the one asked for (`--language`, HOTLINE_DEMO_LANGUAGE), else the
    terminal's (LC_ALL, LC_MESSAGES, LANG: Chinese for zh_*), else English."""
    wanted = requested or os.environ.get("HOTLINE_DEMO_LANGUAGE") or next(
        (os.environ[v] for v in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(v)), "")
    return "zh-CN" if wanted.lower().replace("_", "-").startswith("zh") else "en"


def seed_name(name: str, language: str) -> str:
    """A seed name in the seed's language (English is the table's key)."""
    return SEED_NAMES_ZH.get(name, name) if language == "zh-CN" else name


def seed(language: str = "en") -> dict[str, int]:
    """Demo site, staff (printed), skills and customers, named in `language` when first made
    (what exists keeps its name); safe to run again."""
    from sqlalchemy import select

    from core import assignments, organisation, users
    from core.db import session_scope
    from core.models import Site, UserSkill
    from tickets.customers import PhoneTaken, create_customer

    ids: dict[str, int] = {}
    with session_scope() as session:
        site = session.scalar(select(Site).where(Site.code == "demo"))
        if site is None:
            site = organisation.create_site(session, name=seed_name("Demo Store", language), code="demo",
                                            timezone="Asia/Shanghai")
        team = organisation.list_teams(session, site_id=site.id)
        if team:
            team_id = team[0].id
        else:
            team_id = organisation.create_team(session, name=seed_name("Hotline A", language), site_id=site.id).id
        skills = {s.code: s for s in organisation.ensure_default_skills(session)}
        for username, role, name in STAFF:
            user = users.get_by_username(session, username=username)
            if user is None:
                user = users.create_user(session, username=username, password=DEMO_PASSWORD, role=role,
                                         display_name=seed_name(name, language), site_id=site.id, team_id=team_id)
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
                        "name": seed_name(name, language), "phones": [phone], "site_id": site.id, "tier": tier,
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
    talk_seconds: tuple[float, float] = (15, 45)
    ready_checked_at: float = -1e9

    def tick(self, sim: Simulator, now: float) -> None:
        self.callers_act(sim, now)
        self.customers.tick(sim, now)
        if now - self.ready_checked_at >= 2:
            self.ready_checked_at = now
            self.bots_ready()
        for username in BOTS:
            self._bot(sim, username, now)

    def callers_act(self, sim: Simulator, now: float) -> None:
        """New callers ring in; those listening press keys, those waiting too long give up, and
        those with an agent hang up a few minutes on (`Customers.talk`)."""
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
            elif call.conference is not None:
                self.customers.talk(sid, now)  # with an agent: they hang up a few minutes on

    def bots_ready(self) -> None:
        """A simulated agent who is away (an offer timed out), on a break or offline goes
        available again, as a person at the desk would; so does one in wrap-up, whose ticket is
        written up by then (`_bot` does it as it hangs up), as a person clicks "Ready" rather than
        sit out the whole wrap-up time. One still on a call waits."""
        from core.db import session_scope
        from core.errors import DomainError
        from telephony import presence

        for username in BOTS:
            state = "unknown"
            try:
                with session_scope() as session:
                    state = presence.get_presence(session, user_id=self.agents[username]).state
                    if state in (presence.AWAY, presence.BREAK, presence.OFFLINE, presence.WRAP_UP):
                        presence.set_presence(session, user_id=self.agents[username], state=presence.AVAILABLE)
            except DomainError as exc:  # unread notices, say: it tries again in a moment
                log.debug("simulated agent %s stays %s: %s", username, state, exc.code)

    def _bot(self, sim: Simulator, username: str, now: float) -> None:
        from core.db import session_scope
        from telephony import bridge

        phone = sim.phone(bridge.agent_identity(self.agents[username]))
        for sid in phone.ringing():
            self.answered.setdefault(sid, now + self.rng.uniform(2, 5))
            if now >= self.answered[sid]:
                phone.answer(sid)
                self.answered[sid] = now + self.rng.uniform(*self.talk_seconds)
        for sid in phone.active():
            if now >= self.answered.get(sid, now + 30):
                self.answered.pop(sid, None)
                with session_scope() as session:
                    bridge.hangup_by_agent(session, user_id=self.agents[username])
                # Wrap-up: the simulated agent writes up the call's ticket, as a person would.
                work_ticket(self.agents[username], self.rng, since=clock.now() - timedelta(minutes=15))


def _wait_for_server(url: str, stop: threading.Event) -> bool:
    import httpx

    while not stop.is_set():
        try:
            httpx.get(url + "/healthz", timeout=1)  # any answer: the server is up (this thread is one of its checks)
            return True
        except httpx.HTTPError:
            pass
        stop.wait(0.2)
    return False


def settle_leftovers() -> int:
    """What a stopped run left behind (calls in progress, agents on them, offers, wrap-ups) is
    settled through the hub's own repair, as in production after a lost callback: every call not
    final is reconciled with the carrier (the fresh simulator has never heard of it, so it ends
    as Twilio reports an unknown call: failed), which ends the agents' calls; then the router's
    sweep expires offers and ends wrap-ups. Returns the calls settled."""
    from telephony import tasks as telephony_tasks

    settled = 0
    for _ in range(20):  # 100 calls a pass
        fixed = telephony_tasks.reconcile_sweep(now=clock.now() + timedelta(days=1))
        settled += fixed
        if fixed == 0:
            break
    telephony_tasks.routing_sweep()
    if settled:
        log.info("settled %d calls left from the last run", settled)
    return settled


def carrier_loop(settings: config.Settings, traffic: Traffic, stop: threading.Event,
                 beat: Callable[[], None]) -> None:
    """The simulated carrier and people: runs until `stop`; any error escapes to the supervisor,
    which restarts it (after settling again)."""
    import httpx

    from telephony.simulator import build
    from telephony.simulator.transport import httpx_transport

    if not _wait_for_server(settings.public_url, stop):
        return
    sim = build(settings, httpx_transport(httpx.Client(timeout=15)), in_process=False, hotline_number=HOTLINE_NUMBER)
    traffic.callers.clear()
    traffic.answered.clear()
    settle_leftovers()
    traffic.bots_ready()
    log.info("carrier simulator running; placing about %.1f calls a minute", traffic.calls_per_minute)
    failures = 0
    while not stop.is_set():
        try:
            sim.pump()
            traffic.tick(sim, time.monotonic())
            failures = 0
        except Exception:
            failures += 1
            if failures >= 50:  # five seconds of nothing but errors: start over
                raise
            log.exception("demo traffic step failed")
        beat()
        stop.wait(0.1)


class Supervisor:
    """Runs a loop in a thread, restarts it when it dies, and reports it on /healthz: not ok
    while it is down or silent (no beat for `silent_after` seconds)."""

    def __init__(self, name: str, loop: Callable[[threading.Event, Callable[[], None]], None], *,
                 restart_after: float = 2.0, silent_after: float = 15.0) -> None:
        self.name, self.loop = name, loop
        self.restart_after, self.silent_after = restart_after, silent_after
        self.stop_event = threading.Event()
        self.restarts = 0
        self.last_error: str | None = None
        self.last_beat: float | None = None
        self.running = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Supervisor:
        from hotline import health

        health.register_component(self.name, self.health)
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        from hotline import health

        self.stop_event.set()
        self.thread.join(timeout)
        health.unregister_component(self.name)

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self.running = True
            try:
                self.loop(self.stop_event, self.beat)
                return
            except Exception as exc:  # noqa: BLE001 - reported on /healthz and restarted
                self.last_error = type(exc).__name__
                log.exception("%s stopped; restarting in %g s", self.name, self.restart_after)
            finally:
                self.running = False
            self.restarts += 1
            self.stop_event.wait(self.restart_after)

    def health(self) -> dict[str, object]:
        silent = self.last_beat is None or time.monotonic() - self.last_beat > self.silent_after
        return {"ok": self.thread.is_alive() and self.running and not silent, "restarts": self.restarts,
                "last_error": self.last_error,
                "last_step_s_ago": None if self.last_beat is None else round(time.monotonic() - self.last_beat, 1)}


class _QuietWebhooks(logging.Filter):
    """The demo's carrier posts a webhook every few seconds, and the simulator's HTTP client logs
    each request; a page also fetches its scripts and styles, and long work's progress is polled
    every second: those lines go to DEBUG so the banner stays on screen (the pages people open
    stay at INFO)."""

    PATHS = ("/twilio/", "/simulator/", "/static/", "/healthz", "/jobs/")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage() if record.args else str(record.msg)
        if record.levelno <= logging.INFO and any(p in text for p in self.PATHS):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def quiet_webhook_lines(quiet: bool = True) -> None:
    """Webhook lines to DEBUG in this process (the demo's), or back to INFO with `quiet=False`."""
    for name in ("uvicorn.access", "httpx"):
        logger = logging.getLogger(name)
        for installed in [f for f in logger.filters if isinstance(f, _QuietWebhooks)]:
            logger.removeFilter(installed)
        if quiet:
            logger.addFilter(_QuietWebhooks())


def banner(settings: config.Settings, calls_per_minute: float, *, language: str = "en") -> str:
    # Pages name people by display name; each line says whose sign-in it is.
    width = max(len(u) for u, _, _ in STAFF)
    role_width = max(len(ROLE_NAMES[r]) for _, r, _ in STAFF)
    notes = {**NOTES, **{bot: "simulated: answers calls" for bot in BOTS}}
    people = "\n".join(f"  {u:<{width}}  {ROLE_NAMES[r]:<{role_width}}  {seed_name(name, language)}"
                       + (f"  ({notes[u]})" if u in notes else "")
                       for u, r, name in STAFF)
    return (f"\nHotline demo at {settings.public_url}/signin\n"
            f"Simulated calls and agents: {settings.public_url}/simulator\n"
            f"Sign in as any of these, password {DEMO_PASSWORD}:\n{people}\n"
            f"About {calls_per_minute:g} calls a minute come in to {HOTLINE_NUMBER}. Stop with Ctrl+C.\n"
            f"Pages follow each browser's language; the demo's names were made in {LANGUAGE_NAMES[language]} "
            f"(--language en or zh-CN on a fresh var directory).\n")


def make_history(settings: config.Settings, agents: dict[str, int], *, days: int = 7, calls_per_day: int = 8,
                 language: str = "en") -> None:
    """On the first start, a week of calls (fast, on the injected clock); on every start, shift
    templates and a published roster covering today, and the month's QA sampling built at once."""
    from hotline import demo_history

    if not demo_history.has_calls():
        print(f"First start: playing {days} days of calls through the simulator (about {days * calls_per_day} "
              "calls, a minute or two)...", flush=True)

        def progress(done: int, total: int) -> None:
            if done % 10 == 0 or done == total:
                print(f"  {done}/{total} calls", flush=True)

        demo_history.play_week(settings, agents=agents, bots=BOTS, numbers=[c[1] for c in CUSTOMERS],
                               hotline_number=HOTLINE_NUMBER, zone="Asia/Shanghai", days=days,
                               calls_per_day=calls_per_day, progress=progress)
    status = demo_history.ensure_schedule(site_id=agents["site"], lead_id=agents["lead"],
                                          names={n: seed_name(n, language) for n, _s, _k in demo_history.TEMPLATES},
                                          agent_ids=[agents[u] for u, r, _ in STAFF if r == "agent"])
    if status not in ("done", "kept"):
        log.warning("the demo roster could not be generated (%s)", status)
    demo_history.ensure_lead_shifts(site_id=agents["site"],
                                    leads=[(agents[u], template) for u, template in LEAD_SHIFTS.items()])
    demo_history.build_sampling()


def _quiet_stop_server() -> type:
    """uvicorn's server, stopping in steps on Ctrl+C or SIGTERM: the simulated traffic and the
    embedded worker first, while the server still answers their webhooks and carrier requests,
    then the server itself (so a clean stop logs no failed webhook). A second Ctrl+C stops at once."""
    import uvicorn

    class QuietStopServer(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, before_exit: Callable[[], None]) -> None:
            super().__init__(config)
            self.before_exit = before_exit
            self.stopping: threading.Thread | None = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.stopping is not None:  # asked again: stop now
                super().handle_exit(sig, frame)
                return
            self.stopping = threading.Thread(target=self._stop_in_steps, args=(sig, frame), name="demo-stop",
                                             daemon=True)
            self.stopping.start()  # the signal handler returns at once: the server keeps serving meanwhile

        def _stop_in_steps(self, sig: int, frame: Any) -> None:
            try:
                self.before_exit()
            except Exception:  # noqa: BLE001 - the server stops whatever happened
                log.exception("stopping the demo's traffic failed")
            finally:
                super().handle_exit(sig, frame)

    return QuietStopServer


class Demo:
    """The demo hub: the app, its seed data and the carrier's supervised traffic thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8000, *, calls_per_minute: float = 3.0,
                 talk_seconds: tuple[float, float] = (15, 45), history_days: int = 7,
                 history_calls_per_day: int = 8, language: str = "en") -> None:
        self.language = language
        self.host, self.port, self.calls_per_minute, self.talk_seconds = host, port, calls_per_minute, talk_seconds
        self.history_days, self.history_calls_per_day = history_days, history_calls_per_day
        self.settings = demo_settings(host, port)
        self.server: Any = None
        self.app: Any = None
        self.traffic: Traffic | None = None
        self.supervisor: Supervisor | None = None

    def prepare(self) -> Any:
        """The app, its tables and the seed data (before the server starts)."""
        import uvicorn

        from agent_ui.pages.simulator import router as simulator_page
        from core import db
        from hotline.app import create_app
        from hotline.models import load_all
        from telephony.simulator.router import router as simulator_router

        app = create_app(self.settings)
        load_all().metadata.create_all(db.get_engine())  # tables the migrations do not make yet
        app.include_router(simulator_router)
        app.include_router(simulator_page)  # /simulator: the simulated calls and agents
        quiet_webhook_lines()
        agents = seed(self.language)
        if self.history_calls_per_day > 0:
            make_history(self.settings, agents, days=self.history_days, calls_per_day=self.history_calls_per_day,
                         language=self.language)
        self.traffic = Traffic(calls_per_minute=self.calls_per_minute, agents=agents, talk_seconds=self.talk_seconds)
        self.app = app
        server_class = _quiet_stop_server()
        self.server = server_class(uvicorn.Config(app, host=self.host, port=self.port, log_config=None),
                                   before_exit=self.stop_background)
        return app

    def stop_background(self) -> None:
        """The simulated traffic, then the embedded worker (its tasks may still call the carrier):
        what talks to the server stops before it."""
        if self.supervisor is not None:
            self.supervisor.stop()
        embedded = getattr(self.app.state, "embedded_worker", None) if self.app is not None else None
        if embedded is not None:
            embedded.stop()

    def start_traffic(self) -> None:
        assert self.traffic is not None
        settings, traffic = self.settings, self.traffic
        self.supervisor = Supervisor("demo_traffic", lambda stop, beat: carrier_loop(settings, traffic, stop, beat))
        self.supervisor.start()

    def stop(self) -> None:
        self.stop_background()
        if self.server is not None:
            self.server.should_exit = True


def run(host: str = "127.0.0.1", port: int = 8000, *, calls_per_minute: float = 3.0,
        history_calls_per_day: int = 8, language: str | None = None) -> None:
    """Start the demo hub on host:port and block until interrupted."""
    demo = Demo(host, port, calls_per_minute=calls_per_minute, history_calls_per_day=history_calls_per_day,
                language=seed_language(language))
    demo.prepare()
    print(banner(demo.settings, calls_per_minute, language=demo.language))
    demo.start_traffic()

    class Stopped(Exception):
        pass

    def stopped(_sig: int, _frame: Any) -> None:
        raise Stopped

    # The server passes the signal it stopped for on once it is down: SIGTERM then ends the demo
    # like Ctrl+C, with a clean exit (not "Terminated" from make).
    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        demo.server.run()
    except (KeyboardInterrupt, Stopped):  # the server has shut down and passed the signal on (as uvicorn.run)
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        demo.stop()
