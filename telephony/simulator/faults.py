"""Faults the real carrier shows every day, injected on purpose with seeded randomness: callbacks
dropped, duplicated, delayed, reordered or delivered several times at the same instant; agents
who answer late, answer a leg the hub is just withdrawing, or hang up at once; REST answers that
are slow, fail (500, 503) or are refused for too many requests (429, error 20429).

A `FaultPlan` says how often each happens (a probability per callback, per REST request or per
ringing agent leg); `Faults` draws from one seeded generator, so a run with the same seed and
the same sequence of events injects the same faults, and keeps what it injected (by kind, with
the call it hit and when) so a fault run can measure the time to repair."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["CALLBACK_FAULTS", "REST_FAULTS", "AGENT_FAULTS", "FaultPlan", "Faults", "Injected"]

CALLBACK_FAULTS = ("drop", "duplicate", "delay", "reorder", "concurrent")
REST_FAULTS = ("rest_slow", "rest_fail", "rest_429")
AGENT_FAULTS = ("answer_late", "answer_stale", "hang_up_at_once")
REORDER_HOLD_SECONDS = 5.0  # a held callback goes out at the latest this long after it was due


@dataclass(frozen=True)
class FaultPlan:
    """Probabilities (0 to 1) of each fault, and the ranges they draw their sizes from."""

    seed: int = 0
    drop: float = 0.0  # a status, recording or conference callback is never sent (Twilio does not retry)
    duplicate: float = 0.0  # sent twice
    delay: float = 0.0  # sent late
    reorder: float = 0.0  # held back until the call's next callback has been sent
    concurrent: float = 0.0  # sent several times at the same instant, from separate connections
    answer_late: float = 0.0  # the agent picks up only after `late_seconds`
    answer_stale: float = 0.0  # the agent picks up a leg the hub withdrew (a break while ringing, a late hang-up)
    hang_up_at_once: float = 0.0  # the agent hangs up within `at_once_seconds` of answering
    rest_slow: float = 0.0  # a REST answer takes `slow_seconds`
    rest_fail: float = 0.0  # a REST request fails with 500 or 503 (nothing done)
    rest_429: float = 0.0  # a REST request is refused with 429 / 20429 (nothing done)
    delay_seconds: tuple[float, float] = (1.0, 8.0)
    concurrent_copies: int = 3
    late_seconds: tuple[float, float] = (20.0, 40.0)
    at_once_seconds: tuple[float, float] = (0.0, 2.0)
    slow_seconds: tuple[float, float] = (0.5, 3.0)

    @classmethod
    def parse(cls, text: str, *, seed: int = 0) -> FaultPlan:
        """`"drop=0.02,duplicate=0.05,rest_429=0.01"` (the command line's form); an unknown name
        or a probability outside 0..1 is refused with the name in the message."""
        names = {f.name for f in fields(cls) if f.type in ("float", float)}
        values: dict[str, Any] = {"seed": seed}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            name = name.strip()
            if name not in names:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(names))}")
            try:
                probability = float(value)
            except ValueError:
                raise ValueError(f"fault {name}: {value!r} is not a number") from None
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"fault {name}: {probability} is not a probability between 0 and 1")
            values[name] = probability
        return cls(**values)

    def kinds(self) -> list[str]:
        return [kind for kind in (*CALLBACK_FAULTS, *AGENT_FAULTS, *REST_FAULTS) if getattr(self, kind) > 0]


@dataclass(frozen=True)
class Injected:
    kind: str
    at: float  # time.monotonic() when injected (real time: what a fault run measures repairs against)
    call_sid: str | None
    what: str  # the callback's path or the REST request, without its query string


@dataclass
class Faults:
    plan: FaultPlan
    sleep: Callable[[float], None] = time.sleep  # slow REST answers; tests pass a recorder
    rng: random.Random = field(init=False)
    counts: Counter[str] = field(default_factory=Counter)
    log: list[Injected] = field(default_factory=list)
    _held: dict[str, list[tuple[str, dict[str, str]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.plan.seed)

    # Drawing --------------------------------------------------------------------------
    def _roll(self, kinds: tuple[str, ...]) -> str | None:
        """At most one fault per event: each kind in turn, with its own probability."""
        with self._lock:
            for kind in kinds:
                probability = getattr(self.plan, kind)
                if probability > 0 and self.rng.random() < probability:
                    return kind
        return None

    def uniform(self, bounds: tuple[float, float]) -> float:
        with self._lock:
            return self.rng.uniform(*bounds)

    def note(self, kind: str, call_sid: str | None, what: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            self.log.append(Injected(kind, time.monotonic(), call_sid, what.split("?")[0]))

    # Callbacks (the engine's `notify`: answers Twilio ignores) ------------------------
    def deliver(self, engine: Any, url: str, params: dict[str, str]) -> None:
        """Schedule one callback on `engine`, perhaps with a fault."""
        key = params.get("CallSid") or params.get("ConferenceSid") or params.get("MessageSid") or ""
        held = self._release(key)
        kind = self._roll(CALLBACK_FAULTS)
        if kind is not None:
            self.note(kind, key or None, url)
        if kind == "drop":
            pass
        elif kind == "duplicate":
            engine.at(0, engine.post, url, params)
            engine.at(self.uniform((0.0, 1.0)), engine.post, url, params)
        elif kind == "delay":
            engine.at(self.uniform(self.plan.delay_seconds), engine.post, url, params)
        elif kind == "reorder" and key:
            with self._lock:
                self._held.setdefault(key, []).append((url, params))
            engine.at(REORDER_HOLD_SECONDS, self._flush, engine, key)
        elif kind == "concurrent":
            engine.at(0, self._burst, engine, url, params, max(2, self.plan.concurrent_copies))
        else:
            engine.at(0, engine.post, url, params)
        for earlier_url, earlier in held:  # overtaken by the callback just scheduled
            engine.at(0, engine.post, earlier_url, earlier)

    def _release(self, key: str) -> list[tuple[str, dict[str, str]]]:
        with self._lock:
            return self._held.pop(key, []) if key else []

    def _flush(self, engine: Any, key: str) -> None:
        for url, params in self._release(key):
            engine.post(url, params)

    @staticmethod
    def _burst(engine: Any, url: str, params: dict[str, str], copies: int) -> None:
        """The same callback `copies` times at once, each on its own thread (its own connection)."""
        start = threading.Barrier(copies)

        def send() -> None:
            try:
                start.wait(5)
            except threading.BrokenBarrierError:
                pass
            engine.post(url, params)

        threads = [threading.Thread(target=send, name=f"sim-burst-{n}", daemon=True) for n in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    # REST --------------------------------------------------------------------------
    def rest_delay(self, method: str, path: str) -> float:
        """Seconds to hold this REST answer back (0 for most)."""
        if self._roll(("rest_slow",)) is None:
            return 0.0
        self.note("rest_slow", _sid_in(path), f"{method} {path}")
        return self.uniform(self.plan.slow_seconds)

    def rest_failure(self, method: str, path: str) -> tuple[int, int, str] | None:
        """(HTTP status, Twilio error code, message) for a request that fails, or None."""
        kind = self._roll(("rest_429", "rest_fail"))
        if kind is None:
            return None
        self.note(kind, _sid_in(path), f"{method} {path}")
        if kind == "rest_429":
            return 429, 20429, "Too Many Requests"
        with self._lock:
            status = self.rng.choice((500, 503))
        return status, 20500 if status == 500 else 20503, "Service unavailable (simulated)"

    # Agents -------------------------------------------------------------------------
    def answer_delay(self, call_sid: str, normal: float) -> float:
        """When an agent picks up a ringing leg: `normal` seconds, or late."""
        if self._roll(("answer_late",)) is None:
            return normal
        self.note("answer_late", call_sid, "agent answer")
        return self.uniform(self.plan.late_seconds)

    def hangs_up_at_once(self, call_sid: str) -> float | None:
        """Seconds after answering at which this agent hangs up at once, or None (talks)."""
        if self._roll(("hang_up_at_once",)) is None:
            return None
        self.note("hang_up_at_once", call_sid, "agent hang-up")
        return self.uniform(self.plan.at_once_seconds)

    def answers_stale(self, call_sid: str) -> bool:
        """Whether the agent picks up a ringing leg just before the hub's hang-up reaches it."""
        if self._roll(("answer_stale",)) is None:
            return False
        self.note("answer_stale", call_sid, "agent answer")
        return True

    def withdrawn_while_ringing(self, call_sid: str) -> bool:
        """Whether the agent of this ringing leg goes on a break (the hub withdraws the offer)
        and then picks up the leg anyway: the stale leg of a real center (fault `answer_stale`)."""
        if self._roll(("answer_stale",)) is None:
            return False
        self.note("answer_stale", call_sid, "agent break while ringing, then answer")
        return True

    def summary(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def _sid_in(path: str) -> str | None:
    for part in path.replace(".json", "").split("/"):
        if part.startswith("CA") and len(part) == 34:
            return part
    return None
