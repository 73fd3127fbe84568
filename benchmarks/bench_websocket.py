"""Live wallboard fan-out: N browser websockets (default 500) on one web process (the real app,
uvicorn on loopback) watch the floor while agents change presence at R events a second (default
50, real writes through the presence service). Prints the delay from each event's publication to
its arrival in each browser (p50, p99, max) and the web process's memory per connection.

    .venv/bin/python benchmarks/bench_websocket.py [--connections 500] [--rate 50] [--seconds 20]

The browsers run in a child process (asyncio + the `websockets` client, which like browsers asks
for per-message compression), so their work does not slow the server; both share this machine's
clock. The database is a throw-away SQLite file (the embedded default), or with --postgres a
throw-away database beside HOTLINE_BENCH_DATABASE_URL; the event bus is in-process, or Redis
when HOTLINE_BROKER_URL is set. Bounded: connects, publishes for --seconds, waits two seconds for
stragglers, and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import bench_database, exit_on_sigterm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVENT = re.compile(r'data-event="([0-9a-f]+)"')


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# The browsers (child process) ------------------------------------------------------------------

def browsers(url: str, cookie: str, connections: int, ready, go_home, results) -> None:  # noqa: ANN001
    asyncio.run(_browsers(url, cookie, connections, ready, go_home, results))


async def _browsers(url: str, cookie: str, connections: int, ready, go_home, results) -> None:  # noqa: ANN001
    from websockets.asyncio.client import connect

    origin = url.replace("ws://", "http://").split("/ws")[0]
    seen: list[list[tuple[str, float]]] = [[] for _ in range(connections)]
    counts = [0] * connections
    sockets = []

    async def watch(index: int, ws) -> None:  # noqa: ANN001
        async for message in ws:
            at = time.time()
            counts[index] += 1
            match = EVENT.search(message)
            if match and match.group(1):
                seen[index].append((match.group(1), at))

    began = time.monotonic()
    for start in range(0, connections, 50):  # connect in waves, as a shift signing in would
        batch = await asyncio.gather(*(connect(url, additional_headers={"Cookie": cookie}, origin=origin,
                                               max_size=2**22, open_timeout=30)
                                       for _ in range(start, min(start + 50, connections))))
        sockets.extend(batch)
    connected_in = time.monotonic() - began
    tasks = [asyncio.create_task(watch(i, ws)) for i, ws in enumerate(sockets)]
    await asyncio.sleep(2)  # every page has had its panels on connect
    ready.set()
    while not go_home.is_set():
        await asyncio.sleep(0.1)
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    results.send({"seen": seen, "messages": sum(counts), "open": len(sockets), "connected_in": connected_in})


# The web process (this one) --------------------------------------------------------------------

def _settings(var_dir: Path, port: int, database_url: str | None):  # type: ignore[no-untyped-def]
    from core import config

    return config.ensure_embedded_keys(config.Settings.model_validate({
        "mode": "embedded", "var_dir": var_dir, "public_url": f"http://127.0.0.1:{port}",
        "database_url": database_url or f"sqlite:///{var_dir / 'bench.db'}",
        "broker_url": os.environ.get("HOTLINE_BROKER_URL") or None, "log_level": "WARNING", "log_json": False}))


def _seed(agents: int) -> tuple[list[int], str]:
    """A site with agents, a supervisor signed in once (every browser shares the cookie)."""
    from starlette.responses import Response

    from core import credentials, organisation, users
    from core.auth import set_session_cookie
    from core.db import session_scope
    from core.models import Role

    with session_scope() as session:
        site = organisation.create_site(session, name="Bench Store", code="bench", timezone="Asia/Shanghai")
        team = organisation.create_team(session, name="Bench team", site_id=site.id)
        ids = [users.create_user(session, username=f"agent{i}", password="bench-password-1", role=Role.agent,
                                 display_name=f"Agent {i:03d}", site_id=site.id, team_id=team.id).id
               for i in range(agents)]
        boss = users.create_user(session, username="boss", password="bench-password-1", role=Role.supervisor,
                                 display_name="Boss", site_id=site.id)
        _row, token = credentials.start_session(session, user=boss, ip="127.0.0.1", user_agent="bench")
    response = Response()
    set_session_cookie(response, token)
    cookie = response.headers["set-cookie"].split(";")[0]
    return ids, cookie


def agent_ui_live_margin() -> float:
    from agent_ui.live_catchup import MARGIN_SECONDS

    return MARGIN_SECONDS + 0.5


def _page_live_path(url: str, cookie: str) -> str:
    """The websocket URL the floor page names (with the time it was rendered)."""
    import html

    import httpx

    page = httpx.get(url, headers={"Cookie": cookie}, timeout=30).text
    match = re.search(r'ws-connect="([^"]+)"', page)
    if match is None:
        raise SystemExit("the floor page names no websocket")
    return html.unescape(match.group(1))


def _publisher(agent_ids: list[int], rate: float, seconds: float, stop: threading.Event) -> None:
    """Open loop: event k is due at start + k / rate, whatever the previous one cost."""
    from core.db import session_scope
    from telephony import presence

    rng = random.Random(7)
    state = {a: "offline" for a in agent_ids}
    start = time.monotonic()
    for k in range(int(rate * seconds)):
        due = start + k / rate
        if (wait := due - time.monotonic()) > 0 and stop.wait(wait):
            return
        agent = rng.choice(agent_ids)
        state[agent] = "break" if state[agent] == "available" else "available"
        with session_scope() as session:
            presence.set_presence(session, user_id=agent, state=state[agent])


def _time_board_renders() -> list[float]:
    """The CPU the wallboard's renders take (in the worker thread that renders): [seconds]. They
    follow the clock (at most five a second), not the events, so they are counted apart."""
    from agent_ui import live_boards

    spent = [0.0]
    render = live_boards.render_boards

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        began = time.thread_time()
        try:
            return render(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - began

    live_boards.render_boards = timed
    return spent


def _delays(published: list[tuple[float, str]], seen: list[list[tuple[str, float]]]) -> tuple[list[float], int]:
    """Per browser: a wallboard reflecting event X covers every event published up to X."""
    order = {event_id: i for i, (_t, event_id) in enumerate(published)}
    times = [t for t, _e in published]
    delays: list[float] = []
    missed = 0
    for frames in seen:
        covered = 0  # events [0, covered) have arrived in this browser
        for event_id, at in frames:
            index = order.get(event_id)
            if index is None or index < covered:
                continue
            delays.extend(at - times[i] for i in range(covered, index + 1))
            covered = index + 1
        missed += len(times) - covered
    return delays, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="presence changes a second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--agents", type=int, default=60)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between two renders of a board (default: the hub's, 0.2)")
    parser.add_argument("--stale", action="store_true",
                        help="connect without the page's time (every panel rendered again per browser)")
    args = parser.parse_args()
    exit_on_sigterm()  # the browsers' process is stopped on the way out
    if args.postgres:
        with bench_database("hotline_bench_ws") as url:
            run(args, url)
    else:
        run(args, None)


def run(args: argparse.Namespace, database_url: str | None) -> None:
    import uvicorn

    from core.events import get_bus
    from hotline.app import create_app
    from hotline.models import load_all

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hotline-bench-ws-") as tmp:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings = _settings(Path(tmp), port, database_url)
        app = create_app(settings, start_background=False)
        render_cpu = _time_board_renders()
        if args.interval is not None:
            app.state.live_min_interval = args.interval
        from core import db

        load_all().metadata.create_all(db.get_engine())
        agent_ids, cookie = _seed(args.agents)
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", backlog=4096,
                                               ws_per_message_deflate=settings.ws_compression))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        published: list[tuple[float, str]] = []
        get_bus().subscribe(lambda e: published.append((time.time(), e.id)) if e.topic == "presence.changed" else None)
        rss_idle = rss_kib()

        context = multiprocessing.get_context("spawn")
        ready, go_home = context.Event(), context.Event()
        receive, send = context.Pipe(duplex=False)
        # As a browser does: the page says when it was rendered, its websocket asks for what changed
        # since (--stale: a page the process cannot vouch for, as after a long outage: everything).
        live_path = "/ws?page=floor"
        if not args.stale:
            time.sleep(agent_ui_live_margin())  # the process has listened longer than the catch-up margin
            live_path = _page_live_path(f"http://127.0.0.1:{port}/floor", cookie)
        child = context.Process(target=browsers, args=(f"ws://127.0.0.1:{port}{live_path}", cookie,
                                                       args.connections, ready, go_home, send), daemon=True)
        began = time.monotonic()
        child.start()
        if not ready.wait(120):
            child.terminate()
            raise SystemExit("the browsers did not connect within 120 s")
        connect_seconds = time.monotonic() - began
        rss_connected = rss_kib()
        cpu_before, wall_before = time.process_time(), time.monotonic()
        stop = threading.Event()
        writes_before = time.thread_time()  # the publisher's own writes, in this thread
        renders_before = render_cpu[0]
        _publisher(agent_ids, args.rate, args.seconds, stop)
        writes_seconds = time.thread_time() - writes_before
        time.sleep(2.0)  # stragglers
        cpu_seconds, wall_seconds = time.process_time() - cpu_before, time.monotonic() - wall_before
        render_seconds = render_cpu[0] - renders_before
        rss_after = rss_kib()
        go_home.set()
        result = receive.recv() if receive.poll(60) else {"seen": [], "messages": 0, "open": 0}
        child.join(30)
        if child.is_alive():
            child.terminate()
        hub = getattr(app.state, "live_boards", None)
        server.should_exit = True
        thread.join(10)

    delays, missed = _delays(sorted(published), result["seen"])
    # How long one refresh takes to reach every browser: first to last arrival of the same board.
    arrivals: dict[str, list[float]] = {}
    for frames in result["seen"]:
        for event_id, at in frames:
            arrivals.setdefault(event_id, []).append(at)
    spreads = sorted(max(times) - min(times) for times in arrivals.values() if len(times) > 1)
    delays.sort()
    events = len(published)
    print(f"websocket fan-out: {result['open']} browsers on /ws?page=floor, {events} presence events at "
          f"{args.rate:g}/s for {args.seconds:g} s ({args.agents} agents, "
          f"{'Redis' if settings.broker_url else 'in-process'} bus, "
          f"per-message compression {'on' if settings.ws_compression else 'off'}, "
          f"{'PostgreSQL' if settings.effective_database_url.startswith('postgresql') else 'SQLite'}; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)")
    print(f"  connected in {result.get('connected_in', float('nan')):.1f} s, first to last handshake "
          f"({'stale pages: every panel' if args.stale else 'fresh pages'}; {connect_seconds:.1f} s with the "
          "browsers' process start and 2 s to settle); "
          f"{result['messages']} messages received; "
          f"{hub.refreshes if hub else '?'} wallboard renders")
    if delays:
        def pct(p: float) -> float:
            return delays[min(len(delays) - 1, int(p * len(delays)))] * 1000

        print(f"  event -> browser delay: p50 {pct(0.50):.0f} ms, p99 {pct(0.99):.0f} ms, "
              f"max {delays[-1] * 1000:.0f} ms, mean {statistics.fmean(delays) * 1000:.0f} ms "
              f"over {len(delays)} (event, browser) pairs;"
              f" {missed} never arrived")
        print(f"  target p99 < 300 ms: {'met' if pct(0.99) < 300 else 'NOT met'}")
        if spreads:
            print(f"  one board to every browser (first to last arrival): median "
                  f"{spreads[len(spreads) // 2] * 1000:.0f} ms, max {spreads[-1] * 1000:.0f} ms")
    print(f"  web process memory: {rss_idle / 1024:.0f} MiB idle, {rss_connected / 1024:.0f} MiB with the browsers "
          f"({(rss_connected - rss_idle) / max(1, result['open']):.0f} KiB per connection), "
          f"{rss_after / 1024:.0f} MiB after the run")
    serving = cpu_seconds - writes_seconds - render_seconds
    # A run longer than --seconds + 2: the publisher fell behind (its writes share the process).
    print(f"  web process CPU during the run: {cpu_seconds:.1f} s in {wall_seconds:.0f} s: the publisher's presence "
          f"writes {writes_seconds:.1f} s, the wallboard's renders {render_seconds:.1f} s, the rest of the live "
          f"pages (bus, panels, fan-out) {serving:.1f} s: {serving / max(1, events) * 1000:.2f} ms per event, "
          f"{serving / max(1, result['messages']) * 1e6:.0f} us per message received")

if __name__ == "__main__":
    main()
