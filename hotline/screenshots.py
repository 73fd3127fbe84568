"""`hotline screenshots`: refresh docs/screenshots/ with each live page, in English and Simplified
Chinese, captured by Chromium from a throw-away demo hub with the demo's week of history and a day
of simulated calls."""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LANGUAGES = {"en": "en-GB", "zh": "zh-CN"}
# 08:30 in Shanghai: the day's calls are simulated from here on a frozen clock, so the pictures
# show the same day whenever they are taken.
START = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}  # the size the pages are made to work at


@contextmanager
def _hub(var_dir: Path) -> Iterator[tuple[str, Any, Callable[[], Any]]]:
    """The demo hub on a free loopback port, tasks run at once: its address, its settings, and what
    starts the carrier simulator (after the demo's history, which plays through a simulator of its own)."""
    import httpx
    import uvicorn
    from pydantic import SecretStr

    from agent_ui.pages.simulator import router as simulator_page
    from core import config, db
    from core.worker import celery_app
    from hotline import demo
    from hotline.app import create_app
    from hotline.models import load_all
    from telephony.simulator import build, install_simulator
    from telephony.simulator.router import router as simulator_router
    from telephony.simulator.transport import httpx_transport

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = config.ensure_embedded_keys(config.Settings.model_validate({
        "mode": "embedded", "var_dir": var_dir, "database_url": f"sqlite:///{var_dir / 'hotline.db'}",
        "public_url": url, "twilio_account_sid": demo.DEMO_SID, "twilio_auth_token": SecretStr(demo.DEMO_TOKEN),
        "twilio_caller_id": demo.HOTLINE_NUMBER, "log_level": "WARNING", "log_json": False}))
    celery_app.conf.task_always_eager = True
    app = create_app(settings, start_background=False)
    load_all().metadata.create_all(db.get_engine())
    app.include_router(simulator_router)
    app.include_router(simulator_page)  # /simulator: the simulated calls and agents
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    webhooks = httpx.Client(timeout=15)

    def carrier() -> Any:
        return build(settings, httpx_transport(webhooks), in_process=True, hotline_number=demo.HOTLINE_NUMBER)

    try:
        yield url, settings, carrier
    finally:
        server.should_exit = True
        thread.join(10)
        webhooks.close()
        install_simulator(None)


@contextmanager
def _pumping(sim: Any) -> Iterator[threading.Lock]:
    """Deliver the carrier's due work in the background, as the demo does, while the browser
    answers the phone; the returned lock holds the pump off while the script drives the carrier."""
    lock, stop = threading.Lock(), threading.Event()

    def pump() -> None:
        while not stop.wait(0.05):
            with lock:
                sim.pump()

    thread = threading.Thread(target=pump, name="screenshots-carrier", daemon=True)
    thread.start()
    try:
        yield lock
    finally:
        stop.set()
        thread.join(5)


def _presence(user_id: int, state: str) -> None:
    from core.db import session_scope
    from core.errors import DomainError
    from telephony import presence

    try:
        with session_scope() as session:
            presence.set_presence(session, user_id=user_id, state=state)
    except DomainError:
        pass  # on a call or being offered one: the change waits for the next round


def _simulate_day(sim: Any, clock: Any, people: dict[str, int], until: datetime) -> None:
    """Calls through the morning and afternoon, answered by the three simulated agents (some
    callers give up), so the wallboard and today's charts have something to show."""
    from telephony.simulator.carrier import Phone

    rng = random.Random(2026)
    numbers = ["+8613800138001", "+8613800138002", "+8613800138003", "+8613800138004", "+8613800138005"]
    bots = [people[name] for name in ("agent2", "agent3", "agent4")]
    for bot in bots:
        _presence(bot, "available")
    while clock.now() < until:
        for bot in bots:  # back at the desk before the next call, whatever the last one did
            _presence(bot, "available")
        sid = sim.place_call(rng.choice(numbers + [f"+86139{rng.randrange(10**8):08d}"]), None)
        sim.pump()
        sim.press(sid, rng.choice("1112"))
        sim.pump()
        ringing = [(bot, s) for bot in bots for s in Phone(sim, f"agent_{bot}").ringing()]
        luck = rng.random()
        if not ringing or luck < 0.1:
            sim.advance(rng.choice([6, 12, 30]))
            sim.hangup(sid)  # the caller gives up
        else:
            if luck < 0.3:  # the first agent misses the offer: it times out and goes to the next
                sim.advance(16)
                ringing = [(bot, s) for bot in bots for s in Phone(sim, f"agent_{bot}").ringing()]
            sim.advance(rng.choice([3, 5, 8, 12]))
            if ringing:
                bot, leg = ringing[0]
                Phone(sim, f"agent_{bot}").answer(leg)
                sim.pump()
                sim.advance(rng.randint(60, 420))
            sim.hangup(sid)
        sim.pump()
        sim.advance(rng.randint(3, 25) * 60)


def _scene(people: dict[str, int], site_id: int) -> None:
    """Late afternoon: a notice, an escalated ticket and a complaint on the floor, a callback
    authorisation for agent1 and the answer to one they asked for (a reminder on their desktop),
    and the simulated agents busy or on a break."""
    from core.db import session_scope
    from core.users import get as get_user
    from tickets import grant_requests, grants
    from tickets import service as ticket_service
    from tickets.customers import find_by_phone

    with session_scope() as session:
        boss, agent = get_user(session, user_id=people["boss"]), get_user(session, user_id=people["agent1"])
        customer = find_by_phone(session, phone="+8613800138004")
        assert customer is not None
        request = ticket_service.open_ticket(session, category="callback_request", by=agent, customer_id=customer.id)
        grants.create_grant(session, customer_id=customer.id, agent_id=agent.id, reason="Promised a call back today",
                            by=boss, ticket_id=request.id, duration_minutes=120)
        other = find_by_phone(session, phone="+8613800138002")
        assert other is not None
        later = ticket_service.open_ticket(session, category="callback_request", by=agent, customer_id=other.id)
        asked = grant_requests.ask(session, customer_id=other.id, by=agent, reason="Asked to be called after 18:00",
                                   ticket_id=later.id)
        grant_requests.grant(session, request_id=asked.id, by=boss, duration_minutes=240)
        complaint = ticket_service.open_ticket(session, category="complaint", by=get_user(session,
                                               user_id=people["agent3"]), customer_id=customer.id)
        ticket_service.escalate(session, ticket_id=complaint.id, by=get_user(session, user_id=people["agent3"]),
                                reason="The customer asks for the team leader")
    _presence(people["agent2"], "break")


# (file name, demo user, path, selector that shows the page is ready)
STILL_PAGES = (
    ("tickets", "lead", "/tickets", "main h1"),
    ("customers", "boss", "/customers", "main h1"),
    ("calls", "boss", "/calls", "#call-table"),
    ("reports", "boss", "/reports", ".report-charts[data-loaded='true']"),
    ("reports-customers", "boss", "/reports/customers", "main h1"),
    ("reports-complaints", "boss", "/reports/complaints", "main h1"),
    ("authorisations", "boss", "/authorisations", "main h1"),
    ("qa-queue", "qa", "/qa", "main h1"),
    ("qa-coverage", "lead", "/qa/coverage", "main h1"),
    ("qa-mine", "agent2", "/qa/mine", "main h1"),
    ("shifts", "agent2", "/shifts", "main h1"),
    ("notices", "agent2", "/notices", "main h1"),
    ("rosters", "lead", "/shifts/rosters", "main h1"),
    ("shift-templates", "lead", "/shifts/templates", "main h1"),
    ("duty", "lead", "/duty", "main h1"),
    ("admin-people", "admin", "/admin/people", "main h1"),
    ("admin-sites", "admin", "/admin/sites", "main h1"),
    ("admin-skills", "admin", "/admin/skills", "main h1"),
    ("admin-sla", "admin", "/admin/sla", "main h1"),
    ("admin-scorecards", "admin", "/admin/scorecards", "main h1"),
    ("admin-customers", "admin", "/admin/lifecycle", "main h1"),
    ("admin-backups", "admin", "/admin/backups", "main h1"),
    ("simulator", "admin", "/simulator", "main h1"),
)
# Screenshots are kept as palette PNGs: a few hundred colours show the pages as they are, at about
# a third of the size.
PALETTE_COLOURS = 256


def _signed_in(browser: Any, url: str, username: str, lang: str, path: str) -> Any:
    from hotline import demo

    context = browser.new_context(base_url=url, locale=LANGUAGES[lang], viewport=VIEWPORT)
    page = context.new_page()
    page.goto("/signin?next=" + path)
    page.locator("#username").fill(username)
    page.locator("#password").fill(demo.DEMO_PASSWORD)
    page.locator('main form[action="/signin"] button[type="submit"]').click()
    page.wait_for_url("**" + path)
    page.wait_for_selector("html[data-live='open']")
    return page


def _shoot(page: Any, path: Path) -> None:
    from PIL import Image

    page.wait_for_timeout(400)  # let the fragments sent on connect settle before the picture
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as taken:
        small = taken.convert("RGB").quantize(colors=PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    click.echo(f"  {path}")


def take(out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from core import clock as clock_module
    from core.clock import FrozenClock
    from hotline import demo

    out.mkdir(parents=True, exist_ok=True)
    frozen = FrozenClock(START)
    previous = clock_module.get_clock()
    clock_module.install(frozen)
    shots: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="hotline-screenshots-") as tmp, \
                _hub(Path(tmp)) as (url, settings, start_carrier):
            people = demo.seed()
            # The week before, as the demo plays it on its first start, so reports, charts, the call
            # log and QA coverage show a history; then shift templates, a published roster covering
            # today and the month's QA sampling (the roster solver runs here, for up to 20 s).
            demo.make_history(settings, people)
            sim = start_carrier()
            _simulate_day(sim, frozen, people, until=START + timedelta(hours=8, minutes=40))
            _scene(people, people["site"])
            for bot in ("agent3", "agent4"):
                _presence(people[bot], "break")
            with _pumping(sim) as carrier, sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                for lang in LANGUAGES:
                    page = browser.new_page(locale=LANGUAGES[lang], viewport=VIEWPORT)
                    page.goto(url + "/signin")
                    _shoot(page, out / f"signin-{lang}.png")
                    shots.append(out / f"signin-{lang}.png")
                    page.close()
                agents = {lang: _signed_in(browser, url, "agent1", lang, "/desktop") for lang in LANGUAGES}
                agents["en"].get_by_role("button", name="Available").click()
                agents["en"].wait_for_selector("#presence-panel.state-available")
                with carrier:
                    sid = sim.place_call("+8613800138001", None)  # Wang Fang, gold
                    sim.pump()
                    sim.press(sid, "1")
                    sim.pump()
                for lang, page in agents.items():
                    page.wait_for_selector("#offer-panel[data-offer-id]")
                    _shoot(page, out / f"desktop-offer-{lang}.png")
                    shots.append(out / f"desktop-offer-{lang}.png")
                agents["en"].locator("#answer-button").click()
                agents["en"].wait_for_selector("#ticket-form")
                agents["en"].get_by_label("Notes").fill("Asked when the spring catalogue arrives; checked the "
                                                        "delivery date with the store.")
                agents["en"].get_by_label("Notes").press("End")
                agents["en"].wait_for_selector("#ticket-save-status.saved")
                frozen.advance(seconds=95)
                with carrier:
                    waiting = sim.place_call("+8613800138003", None)  # someone waits while agent1 talks
                    sim.pump()
                    sim.press(waiting, "2")
                    sim.pump()
                for lang, page in agents.items():
                    page.reload()
                    page.wait_for_selector("html[data-live='open']")
                    _shoot(page, out / f"desktop-call-{lang}.png")
                    shots.append(out / f"desktop-call-{lang}.png")
                for lang in LANGUAGES:
                    floor = _signed_in(browser, url, "boss", lang, "/floor")
                    floor.wait_for_selector(".charts[data-loaded='true']")
                    _shoot(floor, out / f"floor-{lang}.png")
                    shots.append(out / f"floor-{lang}.png")
                # The pages without a live websocket, as the person who uses each one sees it;
                # each is ready when its selector shows.
                for name, username, path, ready in STILL_PAGES:
                    for lang in LANGUAGES:
                        shown = browser.new_context(base_url=url, locale=LANGUAGES[lang], viewport=VIEWPORT).new_page()
                        shown.goto("/signin?next=" + path)
                        shown.locator("#username").fill(username)
                        shown.locator("#password").fill(demo.DEMO_PASSWORD)
                        shown.locator('main form[action="/signin"] button[type="submit"]').click()
                        shown.wait_for_url("**" + path)
                        shown.wait_for_selector(ready)
                        _shoot(shown, out / f"{name}-{lang}.png")
                        shots.append(out / f"{name}-{lang}.png")
                        shown.context.close()
                browser.close()
    finally:
        clock_module.install(previous)
    return shots


@click.command("screenshots")
@click.option("--out", default="docs/screenshots", show_default=True, type=click.Path(path_type=Path),
              help="Where the PNG files go.")
@click.option("--chromium", default="/usr/bin/chromium", show_default=True, help="The Chromium to drive.")
def screenshots(out: Path, chromium: str) -> None:
    """Refresh the README's screenshots: sign-in, the agent desktop (an incoming call, then the
    call with its ticket), the floor and every other page people work in, in English and
    Simplified Chinese."""
    if shutil.which(chromium) is None:  # found out now, not after the demo day has been simulated
        raise click.ClickException(f"no Chromium at {chromium}; install it (Debian: apt-get install chromium) "
                                   "or name it with --chromium")
    shots = take(out, chromium)
    click.echo(f"{len(shots)} screenshots in {out}")


if __name__ == "__main__":
    screenshots()
