"""Browser tests: the real app (`hotline.app.create_app`) served by uvicorn on a loopback port in
a thread, with the carrier simulator mounted and pumped, tasks run at once, time on the test's
FrozenClock; and Debian's Chromium driven by Playwright, one browser for the whole session."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import config, db
from tests.conftest import PG_URL, _SharedApp, _Template, build_settings
from tests.factories import DEFAULT_PASSWORD
from tests.telephony.hub import eager_tasks  # noqa: F401 - a fixture

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
# Without these Chromium stalls on a closed network (update checks, QUIC, sync).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Chromium at {CHROMIUM}")


def eventually(condition: Callable[[], Any], *, within: float = 5.0, what: str = "condition") -> Any:
    """Wait (in real time) for something another thread does: the server, the carrier, the page."""
    deadline = time.monotonic() + within
    waiter = threading.Event()
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s")
        waiter.wait(0.02)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """The server's socket, bound first: the public URL (which webhooks are signed for) needs the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def settings(tmp_path: Path, db_template: _Template, data_keys: list[str],
             listener: socket.socket) -> Iterator[config.Settings]:
    """The root `settings` fixture, with the public URL of the live server."""
    url, engine = db_template.fresh(tmp_path)
    current = build_settings(tmp_path / "var", url, data_keys,
                             public_url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    config.configure(current)
    db.configure_engine(engine)
    yield current
    if not PG_URL:
        engine.dispose()
    db.configure_engine(None)
    config.configure(None)


@dataclass
class LiveServer:
    url: str
    sim: Any
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def carrier(self) -> Iterator[Any]:
        """The simulator, with the background pump held off while the test drives it."""
        with self._lock:
            yield self.sim

    def pump(self) -> None:
        with self._lock:
            self.sim.pump()


def _as_the_demo_serves_it(app: Any) -> None:
    from agent_ui.pages.simulator import router as simulator_page
    from telephony.simulator.router import router as simulator_router

    app.include_router(simulator_router)
    app.include_router(simulator_page)  # as the demo mounts them
    app.state.live_min_interval = 0.1


@pytest.fixture(scope="session")
def _shared_live_app() -> _SharedApp:
    """The served app, shared as the `app` fixture's is (each test's own public URL is read per
    request, like its database)."""
    return _SharedApp(per_test=frozenset({"database_url", "var_dir", "public_url"}), extend=_as_the_demo_serves_it)


@pytest.fixture
def live_server(settings: config.Settings, listener: socket.socket, eager_tasks: None,  # noqa: F811
                _shared_live_app: _SharedApp) -> Iterator[LiveServer]:
    import uvicorn

    from telephony.gateway import install_gateway
    from telephony.simulator import build, install_simulator
    from telephony.simulator.transport import httpx_transport

    app = _shared_live_app.get(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="live-server", daemon=True)
    thread.start()
    eventually(lambda: server.started, what="the live server's start")
    webhooks = httpx.Client(timeout=15)
    sim = build(settings, httpx_transport(webhooks), in_process=True, hotline_number="+862160000000")
    live = LiveServer(url=settings.public_url, sim=sim)
    stop = threading.Event()

    def pump() -> None:  # what the demo's carrier thread does: deliver what is due, now
        while not stop.wait(0.02):
            try:
                live.pump()
            except Exception:  # noqa: BLE001 - the test sees the consequence; keep pumping
                import logging

                logging.getLogger("tests.browser").exception("simulator pump failed")

    pumper = threading.Thread(target=pump, name="carrier-pump", daemon=True)
    pumper.start()
    yield live
    stop.set()
    pumper.join(5)
    server.should_exit = True
    thread.join(10)
    webhooks.close()
    install_simulator(None)
    install_gateway(None)
    _shared_live_app.release(app)
    assert sim.errors == [], sim.errors


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Browsing:
    """Pages opened by the test, each in a context of its own (its own cookies), with the errors
    they logged (a CSP violation is logged as an error)."""

    browser: Any
    base_url: str
    errors: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def signed_in(self, username: str, *, path: str = "/", locale: str = "en-GB") -> Any:
        context = self.browser.new_context(base_url=self.base_url, locale=locale)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: self.errors.append(f"{username}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{username}: {e}"))
        page.goto("/signin?next=" + path)
        page.locator("#username").fill(username)
        page.locator("#password").fill(DEFAULT_PASSWORD)
        page.locator('main form[action="/signin"] button[type="submit"]').click()
        page.wait_for_url("**" + path)
        return page


@pytest.fixture
def browsing(browser: Any, live_server: LiveServer) -> Iterator[Browsing]:
    visit = Browsing(browser, live_server.url)
    yield visit
    for context in visit.contexts:
        context.close()
    assert visit.errors == [], visit.errors


__all__ = ["Browsing", "LiveServer", "eventually"]
