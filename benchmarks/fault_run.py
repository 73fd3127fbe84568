"""The fault run: the carrier simulator, in this process, drives calls against the production shape
on loopback (nginx, two `hotline serve` web processes, two Celery workers and beat, PostgreSQL, a
Redis of the run's own, files in the S3 stand-in) while it injects faults: callbacks dropped,
duplicated, delayed, reordered and delivered concurrently, agents who answer late, answer a leg
being withdrawn or hang up at once, slow, failing and rate-limited REST answers, and `kill -9` of
a web process, a worker and beat, and a restart of Redis. Two workers, as a center runs them
(docs/production.md §3): every carrier effect is a task, so with one worker its restart would be a
pause in which nobody is rung and no caller left alone is rescued (31 s on a loaded machine);
the surviving worker's sweeps redo what the killed one held.

A checker compares what the carrier knows (the truth of the phone network) with the hub's
database, continuously and at the end:
- no agent on two live calls (at the carrier);
- no caller stranded (alone in a conference, or waiting in the carrier's queue while the hub has
  stopped queueing them, for longer than the grace);
- no call non-final in the hub once the reconcile window has passed since the carrier ended it;
- every recording copied, attached to its ticket and deleted at the carrier;
- every voicemail and callback request on a ticket;
- no offer made to a caller who had already hung up.
It counts violations (distinct incidents) and the time to repair after each kind of fault: from
the fault until the hub's record of every affected call agrees with the carrier's.

The checks and the report live in benchmarks/fault_checks.py. `benchmarks/bench_faults.py` runs
it long; the `faults` test runs it short."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.fault_checks import PROCESS_FAULTS, Checker, Report
from deploy.processes import Managed, spawn, wait_for_port
from telephony.simulator.faults import FaultPlan, Faults

__all__ = ["ALL_FAULTS", "RunConfig", "Report", "postgres_database", "run"]

ALL_FAULTS = FaultPlan(seed=0, drop=0.03, duplicate=0.05, delay=0.05, reorder=0.03, concurrent=0.03,
                       answer_late=0.05, answer_stale=0.05, hang_up_at_once=0.08, rest_slow=0.03, rest_fail=0.02,
                       rest_429=0.02, delay_seconds=(1.0, 6.0), late_seconds=(12.0, 25.0))


@dataclass
class RunConfig:
    calls: int = 300
    rate: float = 1.5  # new calls a second
    agents: int = 8
    plan: FaultPlan = ALL_FAULTS
    seed: int = 1
    talk: tuple[float, float] = (4.0, 12.0)
    answer_after: tuple[float, float] = (0.5, 2.5)
    patience: tuple[float, float] = (25.0, 90.0)
    menu: tuple[tuple[str, float], ...] = (("1", 0.75), ("2", 0.1), ("4", 0.15))  # inquiry, complaint, callback
    wait_limit: int = 15  # seconds in the queue before voicemail or a callback is offered
    offer_timeout: int = 10
    wrap_up: int = 2
    reconcile_window: float = 90.0  # after the carrier ended a call, the hub must agree within this
    strand_grace: float = 15.0
    offer_grace: float = 2.0  # an offer this soon after the hang-up crossed the callback in flight
    kills: bool = True
    down_seconds: float = 3.0
    drain: float = 60.0
    redis_port: int = 8290
    check_every: float = 2.0
    trace: Path | None = None  # where to keep the carrier's trace (write_trace), if anywhere
    # The hub's repair settings for the run (names the hub ignores are harmless): short, so that
    # a lost webhook is repaired well within the reconcile window the checker allows.
    hub_env: tuple[tuple[str, str], ...] = (
        ("HOTLINE_RECONCILE_RINGING_SECONDS", "10"), ("HOTLINE_RECONCILE_IN_CALL_SECONDS", "30"),
        ("HOTLINE_QUEUE_ALIVE_SECONDS", "10"), ("HOTLINE_RECONCILE_RECORDING_SECONDS", "20"),
        ("HOTLINE_TASK_VISIBILITY_TIMEOUT_SECONDS", "60"))


# Processes --------------------------------------------------------------------------------------

class OwnRedis:
    """A redis-server of the run's own (never the machine's shared one), restartable."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir = port, workdir
        self.managed: Managed | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.managed = spawn(f"redis-{int(time.time())}", [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir)], env=dict(os.environ), log_dir=self.workdir)
        wait_for_port("127.0.0.1", self.port, timeout=30, process=self.managed.process, what="redis-server",
                      log=self.managed.log)

    def stop(self) -> None:
        if self.managed is not None:
            self.managed.stop(sig=signal.SIGKILL)
            self.managed = None


def respawn(loopback: Any, name: str) -> None:
    """Start a killed process of the deployment again with the command and settings it had."""
    old = loopback.processes[name]
    command = [str(part) for part in old.process.args]
    if old.handle is not None:
        old.handle.close()
        old.handle = None
    loopback.processes[name] = spawn(name, command, env=loopback.env(), log_dir=loopback.logs)


def kill9(loopback: Any, name: str) -> None:
    loopback.processes[name].process.send_signal(signal.SIGKILL)
    loopback.processes[name].process.wait(10)


@contextmanager
def postgres_database(base_url: str, prefix: str = "hotline_faults") -> Iterator[str]:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# Callers and agents -----------------------------------------------------------------------------

@dataclass
class Caller:
    sid: str
    choice: str
    patience: float
    placed: float
    pressed: bool = False
    joined_at: float | None = None
    talk: float = 0.0
    alone_since: float | None = None
    offered: bool = False
    asked_callback: bool = False


class Driver:
    """Callers who dial, choose, wait, talk and hang up; agents' browser phones that ring and
    are answered (on time, late, or just as the hub withdraws them) and hung up (after the talk,
    or at once)."""

    def __init__(self, sim: Any, faults: Faults, config: RunConfig) -> None:
        self.sim, self.faults, self.config = sim, faults, config
        self.rng = random.Random(config.seed)
        self.callers: dict[str, Caller] = {}
        self.all_callers: dict[str, Caller] = {}
        self.finished: dict[str, str] = {}
        self.legs: dict[str, float] = {}  # ringing agent leg -> when its agent answers
        self.hang_ups: dict[str, float] = {}  # answered agent leg -> when its agent hangs up at once
        self.seen: set[str] = set()
        self.breaks: list[int] = []  # agents who go on a break while their phone rings
        self.numbers = (f"+86139{n:08d}" for n in range(self.rng.randrange(10**7), 10**8))

    def place(self, now: float) -> None:
        r, total, choice = self.rng.random(), 0.0, "1"
        for digit, share in self.config.menu:
            total += share
            if r < total:
                choice = digit
                break
        sid = self.sim.place_call(next(self.numbers))
        caller = Caller(sid, choice, self.rng.uniform(*self.config.patience), now,
                        talk=self.rng.uniform(*self.config.talk), asked_callback=choice == "4")
        self.callers[sid] = self.all_callers[sid] = caller

    def tick(self, now: float) -> None:
        sim = self.sim
        with sim.lock:
            fresh = [c for sid, c in sim.calls.items() if sid not in self.seen]
            for call in fresh:
                self.seen.add(call.sid)
                if call.direction != "inbound" and call.to.startswith("client:"):
                    if self.faults.withdrawn_while_ringing(call.sid):
                        self.breaks.append(int(call.to.removeprefix("client:agent_")))
                        self.legs[call.sid] = now + 1.5  # picked up anyway, a moment later
                    else:
                        self.legs[call.sid] = now + self.faults.answer_delay(call.sid, self.rng.uniform(
                            *self.config.answer_after))
        for agent_id in self.breaks:
            take_a_break(agent_id)
        self.breaks = []
        for sid, due in list(self.legs.items()):
            call = sim.calls[sid]
            if call.waiting != "ringing" or not call.alive:
                if not call.alive or call.status == "in-progress":
                    del self.legs[sid]
                continue
            if now >= due:
                del self.legs[sid]
                try:
                    sim.answer(sid)
                except LookupError:
                    continue
                at_once = self.faults.hangs_up_at_once(sid)
                if at_once is not None:
                    self.hang_ups[sid] = now + at_once
        for sid, due in list(self.hang_ups.items()):
            if now >= due:
                del self.hang_ups[sid]
                with sim.lock:
                    if sim.calls[sid].alive:
                        sim.hangup(sid)
        for caller in list(self.callers.values()):
            self._caller(caller, now)

    def _caller(self, caller: Caller, now: float) -> None:
        sim = self.sim
        with sim.lock:
            call = sim.calls[caller.sid]
            if not call.alive:
                self.finished[caller.sid] = self._outcome(caller, call)
                del self.callers[caller.sid]
                return
            if call.waiting == "gather" and not caller.pressed:
                caller.pressed = sim.press(caller.sid, caller.choice)
            elif call.waiting == "queue":
                if sim.listening(caller.sid) and not caller.offered:
                    caller.offered = True
                    pick = self.rng.random()
                    if pick < 0.5:
                        sim.press(caller.sid, "1")  # voicemail
                    elif pick < 0.7:
                        caller.asked_callback = sim.press(caller.sid, "2")  # callback
                elif now - caller.placed > caller.patience:
                    sim.hangup(caller.sid)  # gave up waiting
            elif call.waiting == "conference":
                conference = sim.conferences.get(call.conference or "")
                others = len(conference.participants) - 1 if conference else 0
                if others > 0:
                    caller.alone_since = None
                    caller.joined_at = caller.joined_at or now
                    if now - caller.joined_at >= caller.talk:
                        sim.hangup(caller.sid)
                else:
                    caller.alone_since = caller.alone_since or now
                    if now - caller.alone_since > 60:
                        sim.hangup(caller.sid)  # nobody came: a real caller gives up too

    @staticmethod
    def _outcome(caller: Caller, call: Any) -> str:
        if caller.joined_at is not None:
            return "talked"
        if any(h.startswith("[beep]") for h in call.heard):
            return "voicemail"
        if caller.asked_callback:
            return "asked for a callback"
        if caller.offered or call.queue_name:
            return "gave up waiting"
        return f"ended ({call.status}) before the queue"


# The run ----------------------------------------------------------------------------------------

def seed_hub(config: RunConfig) -> list[int]:
    from benchmarks.bench_lifecycle import all_available, seed
    from core.db import session_scope
    from telephony import ivr, priority

    agent_ids, _cookie = seed(config.agents)
    with session_scope() as session:
        priority.set_routing_setting(session, name="offer_timeout_seconds", value=config.offer_timeout)
        priority.set_routing_setting(session, name="wrap_up_seconds", value=config.wrap_up)
        ivr.update_settings(session, wait_limit_seconds=config.wait_limit)
    all_available(agent_ids)
    return agent_ids


def _restart(kind: str, redis: OwnRedis, loopback: Any) -> None:
    if kind == "restart_redis":
        redis.start()
    else:
        respawn(loopback, {"kill_web": "web1", "kill_worker": "worker1", "kill_beat": "beat"}[kind])


def exited_by_themselves(loopback: Any, down: set[str], seen: set[str]) -> list[tuple[str, int]]:
    """Processes of the deployment that ended although nobody killed them (a worker that gave up
    after a Redis restart, say), each reported once: (name, exit code)."""
    out = []
    for name, managed in loopback.processes.items():
        if name not in down and name not in seen and not managed.alive():
            seen.add(name)
            out.append((name, managed.process.returncode))
    return out


def promised_callback(sim: Any, sid: str) -> bool:
    """Whether the caller heard the hub confirm their callback (in either language)."""
    from telephony.ivr_texts import DEFAULT_TEXTS

    confirmations = {texts["callback_confirm"] for texts in DEFAULT_TEXTS.values()}
    with sim.lock:
        return any(heard in confirmations for heard in sim.calls[sid].heard)


def _where(sim: Any, sid: str) -> str:
    with sim.lock:
        call = sim.calls[sid]
        return f"{call.status}/{call.waiting}"


def take_a_break(agent_id: int) -> None:
    """An agent goes on a break while their phone rings for an offer (the hub withdraws it)."""
    from core.db import session_scope
    from telephony import presence

    try:
        with session_scope() as session:
            presence.set_presence(session, user_id=agent_id, state="break", reason="fault run")
    except Exception:  # noqa: BLE001 - refused (or the database briefly away): no break then
        pass


def back_to_work(agent_ids: list[int]) -> None:
    """Agents the hub set away (a missed offer, a lost phone) come back, as people do."""
    from core.db import session_scope
    from telephony import presence

    for agent_id in agent_ids:
        with session_scope() as session:
            if presence.get_presence(session, user_id=agent_id).state in ("away", "offline", "break"):
                try:
                    presence.set_presence(session, user_id=agent_id, state="available")
                except Exception:  # noqa: BLE001 - a refused change (on a call, say) is the hub's to make
                    session.rollback()


def write_trace(path: Path, sim: Any, faults: Faults, report: Report, *, began: float) -> None:
    """The carrier's side of a run as JSON lines, to trace a violation: every call (its number
    ends and times), every webhook (sent, answered, path, what it reported, the hub's status),
    every fault injected and every violation (seconds since the run began; times in UTC)."""
    import json

    def iso(at: Any) -> str | None:
        return at.isoformat() if at is not None else None

    with sim.lock:
        calls = [{"type": "call", "sid": c.sid, "direction": c.direction, "to": c.to, "status": c.status,
                  "created": iso(c.created_at), "answered": iso(c.answer_time), "ended": iso(c.end_time)}
                 for c in sim.calls.values()]
        hooks = [{"type": "webhook", "sent": iso(sent), "answered": iso(done), "path": path_, "sid": sid,
                  "reports": what, "status": status} for sent, done, path_, sid, what, status in sim.trace or []]
    injected = [{"type": "fault", "kind": f.kind, "s": round(f.at - began, 3), "sid": f.call_sid, "what": f.what}
                for f in faults.log]
    found = [{"type": "violation", "kind": v.kind, "s": round(v.at - began, 3), "key": v.key, "detail": v.detail}
             for v in report.violations]
    with path.open("w", encoding="utf-8") as out:
        for line in [*calls, *hooks, *injected, *found]:
            out.write(json.dumps(line) + "\n")


def run(config: RunConfig, *, database_url: str, workdir: Path, s3_endpoint: str | None = None,
        say: Any = print) -> Report:
    """One fault run against a fresh loopback deployment on `database_url` (migrated here)."""
    from core import clock, config as core_config, db
    from core.events import configure_bus
    from deploy.carrier import LoopbackCarrier
    from deploy.loopback import TWILIO_SID, TWILIO_TOKEN, Loopback
    from deploy.processes import free_port
    from hotline import hooks

    report = Report()
    redis = OwnRedis(config.redis_port, workdir / "redis")
    (workdir / "redis").mkdir(parents=True, exist_ok=True)
    redis.start()
    carrier = LoopbackCarrier(free_port(), pumps=4, connections=64)
    loopback = Loopback(database_url=database_url, broker_url=redis.url, workdir=workdir / "loopback", webs=2,
                        workers=2, simulator_port=carrier.port, s3_endpoint=s3_endpoint,
                        bucket=f"hotline-faults-{uuid.uuid4().hex[:8]}", worker_args=("--pool", "threads"),
                        worker_concurrency=4, extra_env={"HOTLINE_LOG_LEVEL": "WARNING", **dict(config.hub_env)})
    checker: Checker | None = None
    try:
        loopback.start(timeout=180)
        env = loopback.env()
        settings = core_config.Settings(
            mode="embedded", var_dir=workdir / "var", database_url=database_url, broker_url=redis.url,
            public_url=loopback.public_url, secret_key=env["HOTLINE_SECRET_KEY"], data_keys=env["HOTLINE_DATA_KEYS"],
            blind_index_key=env["HOTLINE_BLIND_INDEX_KEY"], twilio_account_sid=TWILIO_SID,
            twilio_auth_token=TWILIO_TOKEN, storage_backend="s3", s3_bucket=loopback.bucket,
            s3_endpoint_url=loopback.s3_endpoint, s3_access_key_id="hotline", s3_secret_access_key="hotline-secret",
            log_level="WARNING", log_json=False)
        core_config.configure(settings)
        db.configure_engine(db.make_engine(database_url, pool_size=4, max_overflow=4))
        configure_bus(settings)
        # This process only seeds and sends agents back to work; the Redis restart is expected.
        logging.getLogger("hotline.events").setLevel(logging.ERROR)
        logging.getLogger("hotline.simulator").setLevel(logging.ERROR)
        clock.install(clock.SystemClock())
        hooks.wire()  # this process changes presence (seeding, breaks): the hooks a hub process has
        agent_ids = seed_hub(config)
        carrier.start(settings)
        sim = carrier.sim
        faults = Faults(config.plan)
        sim.faults = faults
        if config.trace is not None:
            sim.trace = []
        driver = Driver(sim, faults, config)
        checker = Checker(sim, faults, config)
        stop = threading.Event()
        errors: list[str] = []

        def check_loop() -> None:
            while not stop.wait(config.check_every):
                try:
                    checker.check()
                except Exception as exc:  # noqa: BLE001 - the database may be briefly unreachable
                    errors.append(type(exc).__name__)

        checking = threading.Thread(target=check_loop, name="fault-run-checker", daemon=True)
        checking.start()
        placing = config.calls / config.rate
        schedule = [(0.25, "kill_web"), (0.45, "kill_worker"), (0.6, "kill_beat"), (0.75, "restart_redis")] \
            if config.kills else []
        restarts: list[tuple[float, str]] = []
        down: set[str] = set()  # killed by the run and not started again yet
        exited: set[str] = set()
        say(f"   placing {config.calls} calls at {config.rate:g}/s with {config.agents} agents; faults: "
            f"{', '.join(config.plan.kinds())}{', ' + ', '.join(PROCESS_FAULTS) if config.kills else ''}")
        began = time.monotonic()
        next_call, last_back = began, began
        while True:
            now = time.monotonic()
            if report.placed < config.calls:
                while next_call <= now and report.placed < config.calls:
                    driver.place(now)
                    report.placed += 1
                    next_call += 1.0 / config.rate
            elif not driver.callers or now - began > placing + config.drain:
                break
            while schedule and now - began >= schedule[0][0] * placing:
                _, kind = schedule.pop(0)
                checker.process_fault(kind)
                name = {"kill_web": "web1", "kill_worker": "worker1", "kill_beat": "beat"}.get(kind)
                if name is not None:
                    down.add(name)
                    kill9(loopback, name)
                    restarts.append((now + config.down_seconds, kind))
                else:
                    redis.stop()
                    restarts.append((now + config.down_seconds, kind))
                say(f"   {now - began:5.0f} s: {kind}")
            for due, kind in list(restarts):
                if now >= due:
                    restarts.remove((due, kind))
                    _restart(kind, redis, loopback)
                    down.discard({"kill_web": "web1", "kill_worker": "worker1", "kill_beat": "beat"}.get(kind, ""))
                    checker.back[kind] = time.monotonic()
            for name, code in exited_by_themselves(loopback, down, exited):
                checker.violation("process_exited", name, f"{name} exited by itself (code {code}) "
                                  f"{now - began:.0f} s in")
                say(f"   {now - began:5.0f} s: {name} exited by itself (code {code})")
            driver.tick(now)
            if now - last_back > 5:
                last_back = now
                try:
                    back_to_work(agent_ids)
                except Exception:  # noqa: BLE001 - Redis or a process may be down right now
                    pass
            time.sleep(0.05)  # the driver's pace in real time: the hub's processes run on real time
        for _, kind in restarts:
            _restart(kind, redis, loopback)
            checker.back[kind] = time.monotonic()
        report.seconds = time.monotonic() - began
        # Every call the carrier ended must be final in the hub once the reconcile window passed.
        say(f"   {report.seconds:.0f} s: calls done; waiting {config.reconcile_window:.0f} s (the reconcile window)")
        settle_until = time.monotonic() + config.reconcile_window + config.check_every
        while time.monotonic() < settle_until:
            driver.tick(time.monotonic())
            for name, code in exited_by_themselves(loopback, set(), exited):
                checker.violation("process_exited", name, f"{name} exited by itself (code {code}) while settling")
            time.sleep(0.2)
        stop.set()
        checking.join(30)
        # A callback the hub promised must be on a ticket. A caller who pressed for one was not
        # always promised it: an agent took the call in that instant (the hub connects them
        # instead), or the carrier's request for the choice failed (an application error, which
        # the report counts); neither leaves a callback the hub owes.
        asked = {sid for sid, caller in driver.all_callers.items() if caller.asked_callback}
        checker.asked_callback = {sid for sid in asked if promised_callback(sim, sid)}
        if asked - checker.asked_callback:
            report.notes.append(f"callers who pressed for a callback but were not promised one (an agent took "
                                f"the call first, or the request failed): {len(asked - checker.asked_callback)}")
        checker.check(final=True)
        report.outcomes.update(driver.finished.values())
        report.outcomes.update(f"still in progress ({_where(sim, sid)})" for sid in driver.callers)
        report.faults.update(faults.summary())
        report.faults.update(Counter(entry.kind for entry in checker.process_faults))
        report.violations = sorted(checker.found.values(), key=lambda v: v.at)
        report.repairs = checker.repairs
        report.unrepaired = Counter(kind for kind, _at, _sids in checker.pending)
        report.hub_two_calls = checker.hub_two_calls
        report.recordings = checker.recordings
        if errors:
            report.notes.append(f"checker passes that failed (a process down): {dict(Counter(errors))}")
        if sim.errors:
            report.notes.append(f"application errors at the carrier: {len(sim.errors)} (first: {sim.errors[:3]})")
        if config.trace is not None:
            write_trace(config.trace, sim, faults, report, began=began)
            report.notes.append(f"carrier trace kept in {config.trace}")
        return report
    finally:
        if carrier.sim is not None:
            carrier.stop()
        loopback.stop()
        redis.stop()
        db.get_engine().dispose()
        db.configure_engine(None)
        core_config.configure(None)

