"""Fault injection in the carrier simulator: callbacks dropped, duplicated, delayed, reordered and
delivered concurrently; agents who answer late, answer a leg being withdrawn, or hang up at
once; slow, failing and rate-limited REST answers. Seeded: the same seed, the same faults."""

from __future__ import annotations

import base64
import dataclasses
import threading
import urllib.parse

import pytest

from telephony.simulator import Simulator
from telephony.simulator import rest
from telephony.simulator.faults import REORDER_HOLD_SECONDS, FaultPlan, Faults
from telephony.simulator.transport import SimulatorAdapter
from tests.conftest import TEST_TWILIO_SID, TEST_TWILIO_TOKEN
from tests.telephony.hub import CALLER

HANG_UP = "<Response><Say>bye</Say><Hangup/></Response>"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{TEST_TWILIO_SID}:{TEST_TWILIO_TOKEN}".encode()).decode()}
CALLS = f"/2010-04-01/Accounts/{TEST_TWILIO_SID}/Calls.json"


def _sim(plan: FaultPlan | None = None, answers: dict[str, str] | None = None,
         on_post=None) -> tuple[Simulator, list[tuple[str, dict[str, str]]]]:  # type: ignore[no-untyped-def]
    posted: list[tuple[str, dict[str, str]]] = []
    lock = threading.Lock()

    def transport(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        if on_post is not None:
            on_post(url, params)
        with lock:
            posted.append((url, params))
        path = url.split("testserver", 1)[1].split("?")[0]
        return 200, (answers or {}).get(path, HANG_UP)

    sim = Simulator(account_sid=TEST_TWILIO_SID, auth_token=TEST_TWILIO_TOKEN, public_url="http://testserver",
                    transport=transport)
    if plan is not None:
        sim.faults = Faults(plan, sleep=lambda _s: None)
    return sim, posted


def _statuses(posted: list[tuple[str, dict[str, str]]]) -> list[str]:
    return [p["CallStatus"] for url, p in posted if url.endswith("/twilio/status")]


def _one_call(sim: Simulator) -> str:
    sid = sim.place_call(CALLER)
    sim.advance(10)
    return sid


def _form(**values: str) -> bytes:
    return urllib.parse.urlencode(values).encode()


# The plan --------------------------------------------------------------------------------------

def test_a_plan_is_read_from_the_command_line_form() -> None:
    plan = FaultPlan.parse("drop=0.02, duplicate=0.1,rest_429=0.01", seed=7)
    assert (plan.seed, plan.drop, plan.duplicate, plan.rest_429, plan.delay) == (7, 0.02, 0.1, 0.01, 0.0)
    assert plan.kinds() == ["drop", "duplicate", "rest_429"]


@pytest.mark.parametrize(("text", "problem"), [
    ("vanish=0.1", "unknown fault 'vanish'"),
    ("drop=often", "drop: 'often' is not a number"),
    ("drop=1.5", "not a probability between 0 and 1"),
    ("seed=3", "unknown fault 'seed'"),
])
def test_a_bad_plan_is_refused_with_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        FaultPlan.parse(text)


def test_the_same_seed_injects_the_same_faults() -> None:
    plan = FaultPlan(seed=11, drop=0.2, duplicate=0.2, delay=0.2, delay_seconds=(1, 3))
    runs = []
    for _ in range(2):
        sim, posted = _sim(plan)
        for _ in range(40):
            _one_call(sim)
        runs.append(([entry.kind for entry in sim.faults.log], len(_statuses(posted))))
    assert runs[0] == runs[1]
    assert {"drop", "duplicate", "delay"} <= set(runs[0][0])
    other, _ = _sim(dataclasses.replace(plan, seed=12))
    for _ in range(40):
        _one_call(other)
    assert [entry.kind for entry in other.faults.log] != runs[0][0]


# Callbacks --------------------------------------------------------------------------------------

def test_without_a_plan_every_callback_goes_once() -> None:
    sim, posted = _sim()
    _one_call(sim)
    assert _statuses(posted) == ["completed"]


def test_a_dropped_callback_is_never_sent() -> None:
    sim, posted = _sim(FaultPlan(drop=1.0))
    sid = _one_call(sim)
    assert sim.call(sid).status == "completed"
    assert _statuses(posted) == []
    assert sim.faults.counts["drop"] == 1 and sim.faults.log[0].call_sid == sid
    assert sim.faults.log[0].what == "http://testserver/twilio/status"


def test_a_duplicated_callback_is_sent_twice_with_the_same_parameters() -> None:
    sim, posted = _sim(FaultPlan(duplicate=1.0))
    _one_call(sim)
    sim.advance(2)
    sent = [p for url, p in posted if url.endswith("/twilio/status")]
    assert len(sent) == 2 and sent[0] == sent[1]


def test_a_delayed_callback_arrives_only_after_its_delay(clock) -> None:  # type: ignore[no-untyped-def]
    sim, posted = _sim(FaultPlan(delay=1.0, delay_seconds=(6.0, 6.0)))
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.advance(2)  # the <Say> plays, <Hangup>
    assert sim.call(sid).status == "completed" and _statuses(posted) == []
    sim.advance(6)
    assert _statuses(posted) == ["completed"]


def test_a_reordered_callback_is_overtaken_by_the_next_one() -> None:
    sim, posted = _sim()
    sim.faults = Faults(FaultPlan(reorder=1.0))
    url = "http://testserver/twilio/status"
    sim.faults.deliver(sim, url, {"CallSid": "CA1", "CallStatus": "ringing"})
    sim.pump()
    assert posted == []  # held
    sim.faults.plan = FaultPlan()  # nothing more held
    sim.faults.deliver(sim, url, {"CallSid": "CA2", "CallStatus": "ringing"})  # another call's: no release
    sim.faults.deliver(sim, url, {"CallSid": "CA1", "CallStatus": "in-progress"})
    sim.pump()
    assert [(p["CallSid"], p["CallStatus"]) for _, p in posted] == [
        ("CA2", "ringing"), ("CA1", "in-progress"), ("CA1", "ringing")]
    assert sim.faults.counts["reorder"] == 1 and sim.faults.log[0].call_sid == "CA1"


def test_a_held_callback_goes_out_at_the_latest_after_the_hold() -> None:
    sim, posted = _sim(FaultPlan(reorder=1.0))
    sim.place_call(CALLER)
    sim.advance(2)  # the <Say>, then <Hangup>: its completed callback is held
    sim.advance(REORDER_HOLD_SECONDS - 1)
    assert _statuses(posted) == []
    sim.advance(1)
    assert _statuses(posted) == ["completed"]


def test_concurrent_copies_arrive_at_the_same_instant_on_separate_threads() -> None:
    meet = threading.Barrier(3, timeout=10)  # broken unless three posts are in flight together
    threads: set[int] = set()

    def on_post(url: str, params: dict[str, str]) -> None:
        if url.endswith("/twilio/status"):
            threads.add(threading.get_ident())
            meet.wait()

    sim, posted = _sim(FaultPlan(concurrent=1.0, concurrent_copies=3), on_post=on_post)
    _one_call(sim)
    assert _statuses(posted) == ["completed"] * 3 and len(threads) == 3
    assert sim.webhooks[-1][2] == 200


# REST -------------------------------------------------------------------------------------------

def test_a_rate_limited_request_gets_429_and_nothing_is_done() -> None:
    sim, _ = _sim(FaultPlan(rest_429=1.0))
    answer = rest.handle(sim, "POST", CALLS, _form(To="+8613800138001", From="+862160000000",
                                                   Url="http://testserver/x"), AUTH)
    assert answer.status == 429 and b'"code": 20429' in answer.body
    assert sim.calls == {} and sim.faults.counts["rest_429"] == 1


def test_a_failing_request_gets_a_server_error_and_nothing_is_done() -> None:
    sim, _ = _sim(FaultPlan(rest_fail=1.0))
    answer = rest.handle(sim, "POST", CALLS, _form(To="+8613800138001", From="+862160000000",
                                                   Url="http://testserver/x"), AUTH)
    assert answer.status in (500, 503) and sim.calls == {}


def test_a_slow_answer_is_held_back_then_given() -> None:
    import requests

    sim, _ = _sim(FaultPlan(rest_slow=1.0, slow_seconds=(2.5, 2.5)))
    slept: list[float] = []
    sim.faults.sleep = slept.append
    session = requests.Session()
    session.mount("http://carrier", SimulatorAdapter(sim, base_path=""))
    answer = session.post("http://carrier" + CALLS, data={"To": "+8613800138001", "From": "+862160000000",
                                                          "Url": "http://testserver/x"}, headers=AUTH)
    assert answer.status_code == 201 and slept == [2.5]
    assert sim.faults.log[0].kind == "rest_slow" and sim.faults.log[0].what.startswith("POST /2010-04-01/")


def test_a_stale_answer_reaches_the_hub_before_its_hang_up(clock) -> None:  # type: ignore[no-untyped-def]
    sim, posted = _sim(FaultPlan(answer_stale=1.0))
    leg = sim.create_call(to="client:agent_1", from_="+862160000000", url="http://testserver/twilio/agent/answer",
                          twiml=None, status_callback="http://testserver/twilio/status",
                          events=frozenset({"initiated", "ringing", "answered", "completed"}), timeout=30)
    sim.pump()
    answer = rest.handle(sim, "POST", f"/2010-04-01/Accounts/{TEST_TWILIO_SID}/Calls/{leg.sid}.json",
                         _form(Status="completed"), AUTH)
    assert answer.status == 200 and b'"status": "in-progress"' in answer.body
    sim.pump()
    assert any(url.endswith("/twilio/agent/answer") for url, _ in posted)
    sim.advance(5)
    assert leg.status == "completed" and _statuses(posted)[-2:] == ["in-progress", "completed"]
    assert sim.faults.counts["answer_stale"] == 1


def test_a_cancel_after_a_stale_answer_is_ignored_as_twilio_does() -> None:
    sim, _ = _sim(FaultPlan(answer_stale=1.0), answers={"/twilio/agent/answer": "<Response><Pause length='60'/></Response>"})
    leg = sim.create_call(to="client:agent_1", from_="+862160000000", url="http://testserver/twilio/agent/answer",
                          twiml=None, status_callback=None, events=frozenset(), timeout=30)
    sim.pump()
    rest.handle(sim, "POST", f"/2010-04-01/Accounts/{TEST_TWILIO_SID}/Calls/{leg.sid}.json",
                _form(Status="canceled"), AUTH)
    sim.pump()
    assert leg.status == "in-progress"


def test_a_customer_leg_is_never_answered_by_the_stale_fault() -> None:
    sim, _ = _sim(FaultPlan(answer_stale=1.0))
    call = sim.create_call(to="+8613800138001", from_="+862160000000", url="http://testserver/x", twiml=None,
                           status_callback=None, events=frozenset(), timeout=30)
    sim.pump()
    rest.handle(sim, "POST", f"/2010-04-01/Accounts/{TEST_TWILIO_SID}/Calls/{call.sid}.json",
                _form(Status="canceled"), AUTH)
    assert call.status == "canceled" and sim.faults.counts["answer_stale"] == 0


# Agents -----------------------------------------------------------------------------------------

def test_agents_answer_late_or_hang_up_at_once_as_the_plan_says() -> None:
    faults = Faults(FaultPlan(answer_late=1.0, late_seconds=(25, 30), hang_up_at_once=1.0, at_once_seconds=(0, 2)))
    assert 25 <= faults.answer_delay("CA1", 2.0) <= 30
    at_once = faults.hangs_up_at_once("CA1")
    assert at_once is not None and 0 <= at_once <= 2
    calm = Faults(FaultPlan())
    assert calm.answer_delay("CA1", 2.0) == 2.0 and calm.hangs_up_at_once("CA1") is None
    assert faults.summary() == {"answer_late": 1, "hang_up_at_once": 1} and calm.summary() == {}


def test_an_agent_may_go_on_a_break_while_ringing_then_pick_up_the_stale_leg() -> None:
    faults = Faults(FaultPlan(answer_stale=1.0))
    assert faults.withdrawn_while_ringing("CA1") is True
    assert Faults(FaultPlan()).withdrawn_while_ringing("CA1") is False
    assert faults.summary() == {"answer_stale": 1} and faults.log[0].call_sid == "CA1"


# The carrier's trace ---------------------------------------------------------------------------

def test_the_carrier_keeps_a_trace_of_webhooks_and_rest_requests_only_when_asked() -> None:
    sim, _posted = _sim()
    _one_call(sim)
    assert sim.trace is None  # nothing kept unless a run asks for it
    sim.trace = []
    sid = _one_call(sim)
    answer = rest.handle(sim, "POST", CALLS, _form(To="+8613800138001", From="+862160000000",
                                                   Url="http://testserver/twiml"), AUTH)
    assert answer.status == 201
    paths = [(path, call_sid, status) for _sent, _done, path, call_sid, _what, status in sim.trace]
    assert ("/twilio/voice", sid, 200) in paths
    assert ("REST POST Calls.json", "", 201) in paths
    assert all(sent <= done for sent, done, *_rest in sim.trace)
