"""The SQL statements each webhook of a whole call costs, pinned per webhook kind: the web
process's CPU per call is mostly its statement count (docs/production.md §8), so a change that
adds statements to a hot path fails here. Counts, not timings: they are the same on every run.
A kind is the webhook's path with the event it reports (a status callback's CallStatus, a
conference event's StatusCallbackEvent, a recording's RecordingStatus); statements of tasks run
eagerly inside a webhook are counted apart, as a worker's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from celery import signals
from fastapi.testclient import TestClient
from sqlalchemy import event

from core import config
from hotline.app import create_app
from tests.telephony.hub import CALLER, Hub, available

# A webhook runs the same statements every time; SQLite's counts include the BEGIN IMMEDIATE of
# each unit of work, and PostgreSQL does some steps in one statement that SQLite does in several.
# The agent's answer and the caller's join check the agent's other leg at Twilio with no
# transaction open, so each reads before and writes after in a unit of work of its own.
# The wait URL notes that the caller is still in the queue (one UPDATE): the router offers no
# caller silent too long before Twilio has been asked (docs/reconcile.md, "No ghost offers").
# On PostgreSQL a webhook finds (and locks) its call and logs itself in one statement
# (calls.find_and_log), and a status callback that changes nothing but the status (initiated,
# ringing) is whole in that statement; so is a conference's start (its ConferenceSid noted) and
# a participant's join (asked whether a control names them). The agent's answer reads the offer
# and the agent's other live leg together, and the database's unique index alone keeps an agent
# on one live call (no read before the answer's UPDATE). A presence row is locked with its
# agent's site and team (the audience of the change), and a queue entry is inserted unless the
# call has one (ON CONFLICT DO NOTHING), not looked for first.
# Tunables are remembered per process for a few seconds (core.tunables): the call's first read
# of them loads them, and so does the first after the clock has moved past the memory's TTL.
# The caller's hang-up ends the conference and with it the agent's leg (endConferenceOnExit): the
# leg's own `completed` ends it here (no hang-up task asks Twilio first and applies it instead).
EXPECTED: dict[str, dict[str, int]] = {
    "postgresql": {
        "/voice ringing": 6,
        "/menu in-progress": 9,
        "/wait in-progress": 3,
        "/status (agent leg) initiated": 1,
        "/status (agent leg) ringing": 1,
        "/agent/answer in-progress": 19,
        "/status (agent leg) in-progress": 1,
        "/queue-result in-progress": 1,
        "/conference in-progress": 5,
        "/recording in-progress": 3,
        "/conference/events conference-start": 1,
        "/conference/events participant-join": 1,
        "/conference/events participant-leave": 1,
        "/conference/events conference-end": 1,
        "/recording completed": 8,
        "/status completed": 11,
        "/status (agent leg) completed": 6,
    },
    "sqlite": {
        "/voice ringing": 9,
        "/menu in-progress": 22,
        "/wait in-progress": 5,
        "/status (agent leg) initiated": 4,
        "/status (agent leg) ringing": 4,
        "/agent/answer in-progress": 22,
        "/status (agent leg) in-progress": 3,
        "/queue-result in-progress": 3,
        "/conference in-progress": 8,
        "/recording in-progress": 4,
        "/conference/events conference-start": 3,
        "/conference/events participant-join": 3,
        "/conference/events participant-leave": 2,
        "/conference/events conference-end": 2,
        "/recording completed": 9,
        "/status completed": 13,
        "/status (agent leg) completed": 8,
    },
}
# Where the agent's phone hangs up first, what differs from the caller hanging up.
AGENT_HANGS_UP: dict[str, dict[str, int]] = {
    "postgresql": {"/conference/done in-progress": 13, "/status (agent leg) completed": 4, "/status completed": 7},
    "sqlite": {"/conference/done in-progress": 18, "/status (agent leg) completed": 6, "/status completed": 9},
}
# The worker's tasks of the same call (run eagerly here, each counted apart from the webhook that
# enqueued it). Ringing the agent: the claim returns the offer, one read gives the caller and
# their last webhook; after Twilio answers, the leg's row, then the entry's lock with the offer's
# and the caller's state. Moving the caller in: the claim, which checks the caller and the agent's
# leg and returns the caller's CallSid.
# The check for a caller left alone: one look at who is unconfirmed, one at who is stranded, in one
# session when nobody is to be asked about. (Run eagerly here at once; on a worker it runs a few
# seconds on, and finds the caller's and the agent's joins to the same conference reported, so it
# still asks Twilio nothing.) (The recording's copy is telephony.recordings' own, left out here.)
# Listing the call's recordings at Twilio when it ends (telephony.reconcile, "recordings never
# heard of"): a read of the call, Twilio asked with no transaction open, the call marked listed.
TASKS: dict[str, dict[str, int]] = {
    "postgresql": {"task ring_agent": 4, "task connect_caller": 1, "task rescue_if_alone": 2,
                   "task list_recordings": 3},
    "sqlite": {"task ring_agent": 6, "task connect_caller": 2, "task rescue_if_alone": 3, "task list_recordings": 5},
}
TASKS_AGENT_HANGS_UP: dict[str, dict[str, int]] = {"postgresql": {}, "sqlite": {}}
# The event parameter that names what a callback reports, in the order looked for.
EVENT_PARAMS = ("StatusCallbackEvent", "RecordingStatus", "CallStatus")


class StatementCounter:
    """ASGI middleware and engine listener: statements by the request (or task) running them.
    Requests come one at a time here (the test client waits for each, the simulator's
    webhooks nest inside the hub's REST requests), so a stack of what is running is enough."""

    def __init__(self) -> None:
        self.running: list[str] = []
        self.statements: dict[str, list[int]] = defaultdict(list)
        self.app: Any = None
        self.texts: list[tuple[str, str]] = []

    def middleware(self, app: Any) -> Any:
        self.app = app
        return self

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/twilio/"):
            await self.app(scope, receive, send)
            return
        body, messages = b"", []
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = dict(parse_qsl(body.decode()))
        reported = next((form[name] for name in EVENT_PARAMS if form.get(name)), "")
        leg = " (agent leg)" if b"leg=agent" in scope.get("query_string", b"") else ""
        kind = scope["path"].removeprefix("/twilio") + leg + (f" {reported}" if reported else "")

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        self.running.append(kind)
        self.statements[kind].append(0)
        try:
            await self.app(scope, replay, send)
        finally:
            self.running.pop()

    def statement(self, _conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        if self.running:
            self.statements[self.running[-1]][-1] += 1
            self.texts.append((self.running[-1], " ".join(text.split())))

    def task_started(self, task: Any = None, **_: Any) -> None:
        kind = f"task {task.name.removeprefix('telephony.')}"
        self.running.append(kind)
        self.statements[kind].append(0)

    def task_ended(self, **_: Any) -> None:
        self.running.pop()

    def per_kind(self) -> dict[str, int]:
        """Each kind's statements; a kind whose webhooks differ shows their largest."""
        return {kind: max(counts) for kind, counts in self.statements.items()}


@pytest.fixture
def counter() -> StatementCounter:
    return StatementCounter()


@pytest.fixture
def app(settings: config.Settings, counter: StatementCounter) -> Any:
    hub_app = create_app(settings, start_background=False)
    hub_app.add_middleware(counter.middleware)  # outermost: it sees every webhook whole
    return hub_app


@pytest.fixture
def counted(client: TestClient, engine: Any, counter: StatementCounter) -> Iterator[StatementCounter]:
    event.listen(engine, "before_cursor_execute", counter.statement)
    signals.task_prerun.connect(counter.task_started)
    signals.task_postrun.connect(counter.task_ended)
    try:
        yield counter
    finally:
        signals.task_postrun.disconnect(counter.task_ended)
        signals.task_prerun.disconnect(counter.task_started)
        event.remove(engine, "before_cursor_execute", counter.statement)


def _whole_call(sim, hub: Hub, session, hangs_up: str) -> None:
    """A caller presses 1, the agent answers and they talk; then `hangs_up` ("caller", or
    "agent": the agent's phone drops, the caller waits again and gives up) ends it."""
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    assert sim.press(sid, "1")
    sim.pump()
    phone = sim.phone(f"agent_{hub.agent.id}")
    assert phone.ringing(), sim.heard(sid)
    phone.answer()
    sim.pump()
    sim.advance(45)
    assert any("[joined" in line for line in sim.heard(sid))
    if hangs_up == "agent":
        phone.hangup()
        sim.pump()
    sim.hangup(sid)
    sim.pump()


@pytest.mark.parametrize("hangs_up", ["caller", "agent"])  # who ends the call
def test_statements_per_webhook_of_a_whole_call(sim, hub: Hub, session, counted: StatementCounter,
                                                 db_dialect: str, hangs_up: str) -> None:
    _whole_call(sim, hub, session, hangs_up)
    sim.advance(120)  # wrap-up ends, late callbacks arrive
    sim.pump()

    counts = {kind: n for kind, n in counted.per_kind().items() if not kind.startswith("task ")}
    expected = {**EXPECTED[db_dialect], **(AGENT_HANGS_UP[db_dialect] if hangs_up == "agent" else {})}
    changed = sorted(kind for kind in counts.keys() | expected.keys() if counts.get(kind) != expected.get(kind))
    listing = "\n".join(f"  {kind}: {text[:160]}" for kind, text in counted.texts if kind in changed)
    assert counts == expected, f"statements of {changed}: {[(k, counts.get(k), expected.get(k)) for k in changed]}\n{listing}"
    # The caller's number is written once and read only where it is shown (masked, on the desk):
    # no webhook decrypts it.
    assert [kind for kind, text in counted.texts if text.startswith("SELECT") and "calls.from_number" in text] == []


@pytest.mark.parametrize("hangs_up", ["caller", "agent"])  # who ends the call
def test_statements_per_task_of_a_whole_call(sim, hub: Hub, session, counted: StatementCounter,
                                             db_dialect: str, hangs_up: str) -> None:
    """The worker's side of the same call, pinned per task: each task's statements (its claim,
    what it writes after Twilio answers), and which tasks a call runs at all. A caller who hangs
    up in the conference ends the agent's leg with it (endConferenceOnExit): no hang-up task."""
    _whole_call(sim, hub, session, hangs_up)
    sim.advance(120)
    sim.pump()

    counts = {kind: n for kind, n in counted.per_kind().items()
              if kind.startswith("task ") and kind != "task copy_recording"}
    expected = {**TASKS[db_dialect], **(TASKS_AGENT_HANGS_UP[db_dialect] if hangs_up == "agent" else {})}
    changed = sorted(kind for kind in counts.keys() | expected.keys() if counts.get(kind) != expected.get(kind))
    listing = "\n".join(f"  {kind}: {text[:160]}" for kind, text in counted.texts if kind in changed)
    differing = [(k, counts.get(k), expected.get(k)) for k in changed]
    assert counts == expected, f"statements of {changed}: {differing}\n{listing}"
