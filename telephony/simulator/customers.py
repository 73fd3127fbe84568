"""Simulated customers at the other end of the hub's outbound calls (callbacks): each call to a
customer's number is answered after a few seconds, declined as busy, or left ringing until the
hub gives up (no answer), in seeded proportions, so the demo shows every outcome of a callback
and the next attempt. A customer who picked up talks for a few minutes and then hangs up, as
people do, so an agent who walks away from a call does not stay on it for ever. The agents' own
phones (`client:...`) are not customers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Customers"]


@dataclass
class Customers:
    answer: float = 0.6  # share of callbacks a customer picks up
    busy: float = 0.15  # share declined as busy; the rest ring out (no answer)
    pick_up_after: tuple[float, float] = (3.0, 7.0)  # seconds of ringing before they pick up or decline
    talk_for: tuple[float, float] = (120.0, 420.0)  # seconds a customer talks before hanging up
    rng: random.Random = field(default_factory=lambda: random.Random(15))
    plans: dict[str, tuple[str, float]] = field(default_factory=dict)  # call sid -> (what, when)
    talking: dict[str, float] = field(default_factory=dict)  # call sid -> when they hang up

    def __post_init__(self) -> None:
        if not (0 <= self.answer <= 1 and 0 <= self.busy <= 1 and self.answer + self.busy <= 1):
            raise ValueError("answer and busy are shares between 0 and 1 that add up to at most 1")

    def decide(self, sid: str, now: float) -> tuple[str, float]:
        """What this customer does with the ringing call (answer, busy or ring_out) and when."""
        if sid not in self.plans:
            r = self.rng.random()
            what = "answer" if r < self.answer else "busy" if r < self.answer + self.busy else "ring_out"
            self.plans[sid] = (what, now + self.rng.uniform(*self.pick_up_after))
        return self.plans[sid]

    def tick(self, sim: Any, now: float) -> None:
        """Work the customers' phones: `now` is the caller's monotonic seconds."""
        with sim.lock:
            ringing = [c.sid for c in sim.calls.values()
                       if c.direction == "outbound-api" and c.waiting == "ringing" and not c.to.startswith("client:")]
        for sid in ringing:
            what, when = self.decide(sid, now)
            if what == "ring_out" or now < when:
                continue
            try:
                if what == "answer":
                    sim.answer_as(sid, "human")
                    self.talk(sid, now)
                else:
                    sim.decline(sid)
            except LookupError:
                pass  # it stopped ringing meanwhile
        for sid in [s for s in self.plans if s not in ringing]:
            del self.plans[sid]
        self.hang_up_talkers(sim, now)

    def talk(self, sid: str, now: float) -> None:
        """The customer on `sid` is talking now; they hang up a few minutes on."""
        self.talking.setdefault(sid, now + self.rng.uniform(*self.talk_for))

    def hang_up_talkers(self, sim: Any, now: float) -> None:
        for sid, until in list(self.talking.items()):
            if now < until:
                continue
            del self.talking[sid]
            try:
                if sim.call(sid).alive:
                    sim.hangup(sid)
            except LookupError:
                pass  # ended and forgotten meanwhile
