"""Full-lifecycle load run against the loopback deployment (deploy/loopback.py): nginx in front
of W web processes, two Celery workers (threads) and one beat, on PostgreSQL and Redis, files in
the S3 stand-in. The carrier simulator (in this process) brings new calls at rising rates, every
webhook a real call makes (greeting, menu, wait polls, agent leg and answer, conference events,
status and recording callbacks; the workers copy each recording into storage); N agents answer
their browser phones and talk; 1,000 floor browsers (websocket clients, in a child process)
watch the wallboard through nginx.

    .venv/bin/python -m benchmarks.bench_lifecycle [--webs 1,2] [--agents 2000] [--rates 5,10,15,20,25]
        [--step-seconds 30] [--talk 20] [--browsers 1000]

Prints, per rate step and web-process count: p50/p99 of each webhook kind as the carrier saw it
(through nginx), calls placed and completed, errors; the highest rate at which every kind's p99
stayed under 100 ms with no error; the invariants (no agent on two calls, no caller stranded);
the browsers' connect time and event-to-screen delay; and the CPU each part used (hub processes,
PostgreSQL backends of this database, the simulator, the browsers, nginx, the S3 stand-in),
beside the machine's load from everything else. Bounded: each step runs --step-seconds, then new
calls stop, the calls in progress are given --drain seconds to end, and everything is stopped.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import bench_database, cpu_seconds, percentile  # noqa: E402

DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
TARGET_P99 = 0.100
SKILLS = ("inquiry", "complaint", "membership", "operator")


# Figures ---------------------------------------------------------------------------------------

@dataclass
class Step:
    rate: float
    started: float = 0.0
    placed: int = 0
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def passed(self) -> bool:
        return bool(self.timings) and not any(self.errors.values()) and all(
            percentile(samples, 0.99) < TARGET_P99 for samples in self.timings.values())


class Recorder:
    """Every webhook's time, filed under the rate step during which it was sent."""

    def __init__(self) -> None:
        self.step: Step | None = None
        self.error_samples: list[str] = []

    def observe(self, kind: str, seconds: float, status: int) -> None:
        step = self.step
        if step is None:
            return
        kind = re.sub(r"/\d+", "/{id}", kind)
        step.timings[kind].append(seconds)
        if status >= 400:
            step.errors[kind] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{kind}: HTTP {status}")


# Seeding -------------------------------------------------------------------------------------------

def seed(agents: int) -> tuple[list[int], str]:
    """A site, `agents` agents with every skill, and a supervisor signed in (its cookie is every
    floor browser's)."""
    from argon2 import PasswordHasher
    from starlette.responses import Response

    from core import credentials, organisation, passwords, users
    from core.auth import set_session_cookie
    from core.db import session_scope
    from core.models import Role, Skill, UserSkill

    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # seeding only
    with session_scope() as session:
        site = organisation.create_site(session, name="Load Store", code="load", timezone="Asia/Shanghai")
        team = organisation.create_team(session, name="Load team", site_id=site.id)
        skills = []
        for code in SKILLS:
            skill = session.query(Skill).filter_by(code=code).one_or_none() or Skill(code=code, name=code.title())
            session.add(skill)
            skills.append(skill)
        session.flush()
        ids = []
        for i in range(agents):
            user = users.create_user(session, username=f"agent{i:05d}", password="load-password-1", role=Role.agent,
                                     display_name=f"Agent {i:05d}", site_id=site.id, team_id=team.id)
            for skill in skills:
                session.add(UserSkill(user_id=user.id, skill_id=skill.id, level=3))
            ids.append(user.id)
        boss = users.create_user(session, username="boss", password="load-password-1", role=Role.supervisor,
                                 display_name="Boss", site_id=site.id)
        _row, token = credentials.start_session(session, user=boss, ip="127.0.0.1", user_agent="bench")
    response = Response()
    set_session_cookie(response, token)
    return ids, response.headers["set-cookie"].split(";")[0]


def all_available(agent_ids: list[int]) -> None:
    from core.db import session_scope
    from telephony import presence

    for agent_id in agent_ids:
        with session_scope() as session:
            presence.set_presence(session, user_id=agent_id, state="available")


# Callers and agents -------------------------------------------------------------------------------

@dataclass
class Caller:
    sid: str
    pressed: bool = False
    joined_at: float | None = None
    hung_up: bool = False


class Driver:
    """Open loop: calls are placed at the step's rate whatever the hub answers; each caller
    presses 1 at the menu, waits, talks `talk` seconds once joined to an agent, hangs up; each
    agent's phone answers its ringing leg after a short delay."""

    def __init__(self, sim: Any, *, talk: float, answer_delay: float) -> None:
        self.sim = sim
        self.talk = talk
        self.answer_delay = answer_delay
        self.callers: dict[str, Caller] = {}
        self.finished: dict[str, str] = {}  # caller sid -> "talked" | status
        self.legs: list[tuple[float, str]] = []  # (answer at, leg sid)
        self.new_sids: list[str] = []
        self.two_calls = 0  # an agent asked to answer while on another call
        self.numbers = (f"+86139{n:08d}" for n in itertools.count(random.randrange(10**7)))
        original = sim.new_call

        def new_call(**fields: Any) -> Any:  # the harness noting each call its carrier makes
            call = original(**fields)
            self.new_sids.append(call.sid)
            return call

        sim.new_call = new_call

    def place(self) -> None:
        sid = self.sim.place_call(next(self.numbers))
        self.callers[sid] = Caller(sid)

    def tick(self, now: float) -> None:
        sim = self.sim
        new, self.new_sids = self.new_sids, []
        for sid in new:
            call = sim.calls.get(sid)
            if call is not None and call.direction != "inbound" and call.to.startswith("client:"):
                self.legs.append((now + self.answer_delay, sid))
        due = [leg for leg in self.legs if leg[0] <= now]
        self.legs = [leg for leg in self.legs if leg[0] > now]
        for _at, sid in due:
            call = sim.calls.get(sid)
            if call is None or call.waiting != "ringing":
                continue
            if sim.active_for(call.to.removeprefix("client:")):
                self.two_calls += 1
            try:
                sim.answer(sid)
            except LookupError:
                pass
        for caller in list(self.callers.values()):
            call = sim.calls[caller.sid]
            if not call.alive:
                self.finished[caller.sid] = "talked" if caller.joined_at is not None else call.status
                del self.callers[caller.sid]
                continue
            if not caller.pressed and call.waiting == "gather":
                caller.pressed = sim.press(caller.sid, "1")
            elif call.waiting == "conference" and caller.joined_at is None:
                caller.joined_at = now
            elif caller.joined_at is not None and not caller.hung_up and now - caller.joined_at >= self.talk:
                sim.hangup(caller.sid)
                caller.hung_up = True


# CPU -------------------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _postgres_backends(database: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if command.startswith("postgres:") and f" {database} " in command:
                found.append(int(entry.name))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU seconds of each named group of processes between start() and stop()."""

    def __init__(self, groups: dict[str, Any]) -> None:
        self.groups = groups  # name -> callable returning pids
        self.before: dict[int, float] = {}
        self.seen: dict[str, set[int]] = defaultdict(set)

    def sample(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                self.seen[name].add(pid)
                self.before.setdefault(pid, cpu_seconds(pid))

    def start(self) -> None:
        self.machine = machine_busy()
        self.began = time.monotonic()
        self.sample()

    def stop(self) -> dict[str, float]:
        self.sample()
        totals = {}
        for name, pids in self.seen.items():
            totals[name] = sum(max(0.0, cpu_seconds(pid) - self.before[pid]) for pid in pids
                               if cpu_seconds(pid) >= 0)
        busy, total = machine_busy()
        ticks = os.sysconf("SC_CLK_TCK")
        self.wall = time.monotonic() - self.began
        totals["(machine, all processes)"] = (busy - self.machine[0]) / ticks
        return totals


# The run -------------------------------------------------------------------------------------------

def _live_path(base: str, cookie: str) -> str:
    import html

    import httpx

    page = httpx.get(base + "/floor", headers={"Cookie": cookie}, timeout=60).text
    match = re.search(r'ws-connect="([^"]+)"', page)
    if match is None:
        raise SystemExit("the floor page names no websocket")
    return html.unescape(match.group(1))


def run(args: argparse.Namespace, webs: int) -> dict[str, Any]:
    from benchmarks.bench_websocket import _delays, browsers
    from core import config, db
    from core.events import configure_bus, get_bus
    from deploy.carrier import LoopbackCarrier
    from deploy.loopback import TWILIO_SID, TWILIO_TOKEN, Loopback
    from deploy.processes import free_port
    from agent_ui.live_boards import TOPICS as BOARD_TOPICS

    recorder = Recorder()
    with bench_database("hotline_bench_life") as url, tempfile.TemporaryDirectory(prefix="hotline-bench-life-") as tmp:
        carrier = LoopbackCarrier(free_port(), pumps=args.pumps, observe=recorder.observe, connections=128)
        loopback = Loopback(database_url=url, broker_url=args.broker, workdir=Path(tmp), webs=webs,
                            workers=2, simulator_port=carrier.port,
                            worker_args=("--pool", "threads"), worker_concurrency=args.worker_threads,
                            extra_env={"HOTLINE_LOG_LEVEL": "WARNING"})
        print(f"\n== {webs} web process{'es' if webs > 1 else ''}: starting the loopback deployment", flush=True)
        began = time.monotonic()
        loopback.start(timeout=180)
        env = loopback.env()
        settings = config.Settings(
            mode="embedded", var_dir=Path(tmp) / "bench-var", database_url=url, broker_url=args.broker,
            public_url=loopback.public_url, secret_key=env["HOTLINE_SECRET_KEY"], data_keys=env["HOTLINE_DATA_KEYS"],
            blind_index_key=env["HOTLINE_BLIND_INDEX_KEY"], twilio_account_sid=TWILIO_SID,
            twilio_auth_token=TWILIO_TOKEN, storage_backend="s3", s3_bucket=loopback.bucket,
            s3_endpoint_url=loopback.s3_endpoint, s3_access_key_id="hotline", s3_secret_access_key="hotline-secret",
            log_level="WARNING", log_json=False)
        config.configure(settings)
        db.configure_engine(db.make_engine(url, pool_size=4, max_overflow=4))
        configure_bus(settings)
        from hotline import hooks
        hooks.wire()  # this process changes presence (seeding): the hooks a hub process has
        result: dict[str, Any] = {"webs": webs}
        child = None
        try:
            agent_ids, cookie = seed(args.agents)
            all_available(agent_ids)
            print(f"   started and seeded {args.agents} agents in {time.monotonic() - began:.0f} s", flush=True)
            published: list[tuple[float, str]] = []
            get_bus().subscribe(lambda e: published.append((time.time(), e.id)) if e.topic in BOARD_TOPICS else None)
            carrier.start(settings)

            # The floor browsers, through nginx, as pages rendered a moment ago.
            time.sleep(6)  # the web processes have listened longer than the live pages' catch-up margin
            live = _live_path(loopback.public_url, cookie)
            context = multiprocessing.get_context("spawn")
            ready, go_home = context.Event(), context.Event()
            receive, send = context.Pipe(duplex=False)
            ws_url = loopback.public_url.replace("http://", "ws://") + live
            if args.browsers:
                child = context.Process(target=browsers, args=(ws_url, cookie, args.browsers, ready, go_home, send),
                                        daemon=True)
                child.start()
                if not ready.wait(300):
                    raise SystemExit("the browsers did not connect within 300 s")

            pids = loopback.pids()
            meter = CpuMeter({
                "web processes": lambda: [p for n, p in pids.items() if n.startswith("web")],
                "workers": lambda: [p for n, p in pids.items() if n.startswith("worker")],
                "beat": lambda: [pids["beat"]],
                "nginx": lambda: [pids["nginx"], *_children(pids["nginx"])],
                "S3 stand-in": lambda: [pids["s3"]] if "s3" in pids else [],
                "PostgreSQL (this database)": lambda: _postgres_backends(url.rsplit("/", 1)[1]),
                "simulator and driver (this process)": lambda: [os.getpid()],
                "floor browsers": lambda: [child.pid] if child is not None else [],
            })
            meter.start()
            driver = Driver(carrier.sim, talk=args.talk, answer_delay=args.answer_delay)
            steps = []
            for rate in args.rates:
                step = Step(rate=rate, started=time.monotonic())
                recorder.step = step
                steps.append(step)
                next_call = step.started
                end = step.started + args.step_seconds
                while (now := time.monotonic()) < end:
                    while next_call <= now:
                        driver.place()
                        step.placed += 1
                        next_call += 1.0 / rate
                    driver.tick(now)
                    time.sleep(0.01)
                print(f"   {rate:g} new calls/s: {step.placed} placed, {len(driver.callers)} in progress, "
                      f"{sum(step.errors.values())} webhook errors", flush=True)
            recorder.step = Step(rate=0)  # the drain is not a step
            drain_end = time.monotonic() + args.drain
            while driver.callers and time.monotonic() < drain_end:
                driver.tick(time.monotonic())
                time.sleep(0.02)
            cpu = meter.stop()
            result.update(steps=steps, cpu=cpu, wall=meter.wall, driver=driver, errors=recorder.error_samples,
                          stranded=len(driver.callers), load=os.getloadavg(),
                          stranded_states=dict(_count(f"{carrier.sim.calls[c].status}/{carrier.sim.calls[c].waiting}"
                                                      for c in driver.callers)))
            result["hub_view"] = hub_view_of(list(driver.callers))
            result["overlaps"] = agent_overlaps()
            result["recordings"] = recordings_copied()
            if child is not None:
                go_home.set()
                got = receive.recv() if receive.poll(120) else {"seen": [], "open": 0}
                delays, missed = _delays(sorted(published), got["seen"])
                result.update(browsers_open=got.get("open"), connected_in=got.get("connected_in"),
                              delays=sorted(delays), missed=missed)
            result["sim_errors"] = list(carrier.sim.errors[:10])
        finally:
            if child is not None and child.is_alive():
                go_home.set()
                child.join(30)
                if child.is_alive():
                    child.terminate()
            if carrier.sim is not None:
                carrier.stop()
            loopback.stop()
            db.get_engine().dispose()
            db.configure_engine(None)
            config.configure(None)
    return result


def hub_view_of(sids: list[str]) -> dict[str, int]:
    """What the hub holds for callers the carrier still has: their call's status, their queue
    entry's state and their last offer's state, with the agents free at the end, so a stranded
    caller says where it stuck (never routed, offered and ringing, answered but not joined)."""
    from sqlalchemy import text

    from core.db import session_scope

    if not sids:
        return {}
    with session_scope(reader=True) as session:
        rows = session.execute(text(
            "SELECT c.status, coalesce(q.state, '-'), coalesce(("
            "  SELECT o.state FROM offers o WHERE o.entry_id = q.id ORDER BY o.id DESC LIMIT 1), 'no offer') "
            "FROM calls c LEFT JOIN queue_entries q ON q.call_id = c.id WHERE c.call_sid = ANY(:sids)"),
            {"sids": sids}).all()
        free = session.execute(text("SELECT count(*) FROM agent_presence WHERE state = 'available'")).scalar()
    out: dict[str, int] = {"agents available at the end": int(free or 0), "known to the hub": len(rows)}
    for status, entry, offer in rows:
        key = f"call {status} / entry {entry} / offer {offer}"
        out[key] = out.get(key, 0) + 1
    return out


def agent_overlaps() -> int:
    """Pairs of answered agent legs of one agent whose times overlap (an agent on two calls)."""
    from sqlalchemy import text

    from core.db import session_scope

    with session_scope() as session:
        return int(session.execute(text(
            "SELECT count(*) FROM calls a JOIN calls b ON a.agent_id = b.agent_id AND a.id < b.id "
            "WHERE a.leg = 'agent' AND b.leg = 'agent' AND a.answered_at IS NOT NULL AND b.answered_at IS NOT NULL "
            "AND a.answered_at < coalesce(b.ended_at, now()) AND b.answered_at < coalesce(a.ended_at, now())"
        )).scalar())


def recordings_copied() -> tuple[int, int]:
    from sqlalchemy import text

    from core.db import session_scope

    with session_scope() as session:
        row = session.execute(text("SELECT count(*), count(copied_at) FROM recordings WHERE status = 'completed'")).one()
        return int(row[0]), int(row[1])


def report(result: dict[str, Any]) -> None:
    webs = result["webs"]
    print(f"\n== {webs} web process{'es' if webs > 1 else ''} behind nginx, 2 workers (threads), 1 beat; "
          f"load average at the end {result['load'][0]:.1f} (2 cores, shared with everything else on the machine)")
    best = None
    for step in result["steps"]:
        print(f"-- {step.rate:g} new calls/s: {step.placed} calls placed; "
              f"{'PASS' if step.passed() else 'fail'} (every kind p99 < {TARGET_P99 * 1000:.0f} ms, 0 errors)")
        print(f"   {'webhook':<22}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for kind in sorted(step.timings):
            samples = step.timings[kind]
            print(f"   {kind:<22}{len(samples):>7}{percentile(samples, 0.5) * 1000:>9.1f}"
                  f"{percentile(samples, 0.99) * 1000:>9.1f}{step.errors.get(kind, 0):>8}")
        if step.passed():
            best = step.rate
    driver = result["driver"]
    talked = sum(1 for outcome in driver.finished.values() if outcome == "talked")
    print(f"highest new-call rate with every p99 < 100 ms and no error: {best if best is not None else 'none'} /s")
    print(f"calls: {len(driver.finished)} ended, {talked} talked with an agent, {result['stranded']} still in "
          f"progress after the drain (stranded); other outcomes: "
          f"{dict(sorted(_count(o for o in driver.finished.values() if o != 'talked').items()))}")
    print(f"invariants: agent legs overlapping (an agent on two calls): {result['overlaps']}; answers asked of an "
          f"agent already on a call: {driver.two_calls}; callers stranded: {result['stranded']}"
          + (f" (status/waiting: {result['stranded_states']})" if result["stranded"] else ""))
    if result.get("hub_view"):
        print(f"stranded callers as the hub sees them: {result['hub_view']}")
    total, copied = result["recordings"]
    print(f"recordings: {copied} of {total} copied into the S3 stand-in by the workers")
    if result.get("errors"):
        print(f"first webhook errors: {result['errors']}")
    if result.get("sim_errors"):
        print(f"simulator's application errors: {result['sim_errors']}")
    if result.get("delays") is not None:
        delays = result["delays"]
        if delays:
            print(f"floor browsers: {result['browsers_open']} connected in {result['connected_in']:.1f} s; "
                  f"event -> screen p50 {percentile(delays, 0.5) * 1000:.0f} ms, p99 "
                  f"{percentile(delays, 0.99) * 1000:.0f} ms over {len(delays)} (event, browser) pairs, "
                  f"{result['missed']} never arrived")
        else:
            print(f"floor browsers: {result['browsers_open']} connected in {result['connected_in']:.1f} s; no events")
    wall = result["wall"]
    print(f"CPU over the {wall:.0f} s of load (seconds; {wall * 2:.0f} core-seconds exist):")
    for name, seconds in sorted(result["cpu"].items(), key=lambda item: -item[1]):
        print(f"   {name:<38}{seconds:>8.1f}")


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webs", default="1,2", help="web process counts to run, comma-separated")
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--rates", default="5,10,15,20,25", help="new calls a second, one step each")
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--talk", type=float, default=20.0, help="seconds a caller talks once joined")
    parser.add_argument("--answer-delay", type=float, default=1.0, help="seconds before an agent answers")
    parser.add_argument("--drain", type=float, default=90.0)
    parser.add_argument("--browsers", type=int, default=1000)
    parser.add_argument("--pumps", type=int, default=8, help="simulator threads sending webhooks")
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--broker", default=os.environ.get("HOTLINE_BENCH_BROKER_URL") or DEFAULT_REDIS)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    # Stopped with SIGTERM, the run still stops the deployment it started (its `finally`).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    for webs in (int(w) for w in args.webs.split(",")):
        report(run(args, webs))


if __name__ == "__main__":
    main()
