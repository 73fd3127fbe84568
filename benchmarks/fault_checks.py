"""What the fault run checks (benchmarks/fault_run.py runs it): the carrier's truth beside the hub's
database, every few seconds and at the end, as distinct violations, and the time to repair per
fault kind; and the report it prints."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import percentile
from telephony.simulator.faults import Faults, Injected

__all__ = ["PROCESS_FAULTS", "TERMINAL", "VIOLATIONS", "Checker", "Report", "Violation", "could_have_known"]

TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
PROCESS_FAULTS = ("kill_web", "kill_worker", "kill_beat", "restart_redis")
VIOLATIONS = ("agent_on_two_calls", "caller_stranded", "non_final_after_end", "recording_not_done",
              "voicemail_or_callback_without_ticket", "offer_to_gone_caller", "process_exited")

@dataclass
class Violation:
    kind: str
    key: str
    at: float
    detail: str


@dataclass
class Report:
    placed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    repairs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unrepaired: Counter[str] = field(default_factory=Counter)
    hub_two_calls: int = 0
    recordings: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def violation_counts(self) -> dict[str, int]:
        counts = Counter(v.kind for v in self.violations)
        return {kind: counts.get(kind, 0) for kind in VIOLATIONS}

    def lines(self) -> list[str]:
        out = [f"calls placed: {self.placed} in {self.seconds:.0f} s; outcomes at the carrier: "
               f"{dict(sorted(self.outcomes.items()))}",
               f"faults injected ({sum(self.faults.values())}): {dict(sorted(self.faults.items()))}",
               f"violations ({len(self.violations)}, target 0): {self.violation_counts()}"]
        for violation in self.violations[:15]:
            out.append(f"   {violation.kind}: {violation.detail}")
        out.append("time to repair (the hub agreeing with the carrier on every affected call), seconds:")
        out.append(f"   {'fault':<18}{'count':>7}{'p50':>8}{'p90':>8}{'max':>8}{'never':>7}")
        for kind in sorted(set(self.repairs) | set(self.unrepaired)):
            samples = self.repairs.get(kind, [])
            if samples:
                out.append(f"   {kind:<18}{len(samples):>7}{percentile(samples, 0.5):>8.1f}"
                           f"{percentile(samples, 0.9):>8.1f}{max(samples):>8.1f}{self.unrepaired[kind]:>7}")
            else:
                out.append(f"   {kind:<18}{0:>7}{'-':>8}{'-':>8}{'-':>8}{self.unrepaired[kind]:>7}")
        total, done = self.recordings
        out.append(f"recordings completed at the carrier: {total}; copied, attached and deleted: {done}")
        out.append(f"moments the hub itself showed an agent on two live calls: {self.hub_two_calls}")
        out.extend(self.notes)
        return out


# The checker ------------------------------------------------------------------------------------

def could_have_known(events: list[tuple[str, str | None, datetime]], *, end: datetime,
                     alive: timedelta) -> datetime:
    """When the hub could have known that a caller who hung up at `end` (the carrier's time) was
    gone, from what it received for the call: (kind, status, when) of each webhook logged, and
    ("checked", None, when) for its last check at Twilio. The first news of the hang-up (a
    terminal status, the queue's `hangup` result), or the last sign of life before the hang-up
    plus `alive` (HOTLINE_QUEUE_ALIVE_SECONDS), whichever comes first; `end` if it heard nothing."""
    heard = [at for _kind, _status, at in events if at <= end]
    news = [at for kind, status, at in events
            if (kind == "status" and status in TERMINAL) or (kind == "queue-result" and status == "hangup")]
    bounds = ([max(heard) + alive] if heard else []) + ([min(news)] if news else [])
    return min(bounds, default=end)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class Checker:
    """Compares the carrier with the hub's database, every `check_every` seconds and at the end."""

    def __init__(self, sim: Any, faults: Faults, config: Any) -> None:
        self.sim, self.faults, self.config = sim, faults, config  # config: fault_run.RunConfig
        self.found: dict[tuple[str, str], Violation] = {}
        self.alone: dict[str, float] = {}
        self.forgotten: dict[str, float] = {}
        self.pending: list[tuple[str, float, set[str]]] = []  # (fault kind, at, call sids)
        self.seen_faults = 0
        self.repairs: dict[str, list[float]] = defaultdict(list)
        self.hub_two_calls = 0
        self.process_faults: list[Injected] = []
        self.asked_callback: set[str] = set()
        self.back: dict[str, float] = {}  # process fault -> when the component was started again
        self.recordings = (0, 0)
        self.lock = threading.Lock()

    def violation(self, kind: str, key: str, detail: str) -> None:
        if (kind, key) not in self.found:
            self.found[(kind, key)] = Violation(kind, key, time.monotonic(), detail)

    def process_fault(self, kind: str) -> None:
        """A process killed or Redis restarted: every call alive at the carrier is affected."""
        with self.sim.lock:
            alive = {sid for sid, call in self.sim.calls.items() if call.alive}
        with self.lock:
            entry = Injected(kind, time.monotonic(), None, kind)
            self.process_faults.append(entry)
            self.pending.append((kind, entry.at, alive))

    # One pass ---------------------------------------------------------------------------------
    def _carrier(self) -> dict[str, dict[str, Any]]:
        sim = self.sim
        with sim.lock:
            snapshot = {}
            for sid, call in sim.calls.items():
                conference = sim.conferences.get(call.conference or "") if call.waiting == "conference" else None
                snapshot[sid] = {"status": call.status, "alive": call.alive, "waiting": call.waiting,
                                 "direction": call.direction, "to": call.to, "end": call.end_time,
                                 "conference": call.conference,
                                 "others": sorted(p for p in conference.participants if p != sid) if conference else []}
            return snapshot

    def _hub(self) -> dict[str, Any]:
        from sqlalchemy import text

        from core.db import session_scope

        with session_scope() as session:
            calls = {row.call_sid: row for row in session.execute(text(
                "SELECT id, call_sid, leg, status, agent_id, ticket_id FROM calls"))}
            entries = {row.call_id: row.state for row in session.execute(text(
                "SELECT call_id, state FROM queue_entries"))}
            offers = list(session.execute(text(
                "SELECT o.id, o.offered_at, c.call_sid FROM offers o JOIN calls c ON c.id = o.call_id")))
        return {"calls": calls, "entries": entries, "offers": offers}

    def check(self, *, final: bool = False) -> None:
        carrier = self._carrier()
        hub = self._hub()
        now, wall = time.monotonic(), datetime.now(UTC)
        calls = hub["calls"]
        # An agent on two live calls, at the carrier.
        live: dict[str, list[str]] = defaultdict(list)
        for sid, c in carrier.items():
            if c["alive"] and c["to"].startswith("client:") and c["waiting"] == "conference" and c["others"]:
                live[c["to"]].append(c["conference"])
        for agent, conferences in live.items():
            if len(set(conferences)) > 1:
                self.violation("agent_on_two_calls", f"{agent}:{sorted(set(conferences))}",
                               f"{agent} in {len(set(conferences))} conferences with callers at once")
        per_agent = Counter(row.agent_id for row in calls.values()
                            if row.leg == "agent" and row.status == "in-progress")
        self.hub_two_calls += sum(1 for n in per_agent.values() if n > 1)
        # Callers stranded: alone in a conference, or in the carrier's queue that the hub forgot.
        for sid, c in carrier.items():
            if c["direction"] != "inbound" or not c["alive"]:
                self.alone.pop(sid, None)
                self.forgotten.pop(sid, None)
                continue
            if c["waiting"] == "conference" and not c["others"]:
                since = self.alone.setdefault(sid, now)
                if now - since > self.config.strand_grace:
                    self.violation("caller_stranded", sid, f"caller {sid[-6:]} alone in a conference "
                                   f"for over {self.config.strand_grace:.0f} s")
            else:
                self.alone.pop(sid, None)
            row = calls.get(sid)
            state = hub["entries"].get(row.id) if row is not None else None
            if c["waiting"] == "queue" and (row is None or row.status in TERMINAL or state not in ("waiting", "offered")):
                since = self.forgotten.setdefault(sid, now)
                if now - since > self.config.reconcile_window:
                    self.violation("caller_stranded", sid, f"caller {sid[-6:]} waiting at the carrier, not queued "
                                   f"in the hub (entry {state}, call {row.status if row else 'unknown'})")
            else:
                self.forgotten.pop(sid, None)
        # Non-final in the hub after the carrier ended it.
        window = timedelta(seconds=self.config.reconcile_window)
        for sid, c in carrier.items():
            if c["alive"] or c["end"] is None or wall - c["end"] < window:
                continue
            row = calls.get(sid)
            if row is not None and row.status not in TERMINAL:
                self.violation("non_final_after_end", sid, f"{sid[-6:]} ({row.leg}) still {row.status} in the hub "
                               f"{(wall - c['end']).total_seconds():.0f} s after the carrier ended it")
        # No offer to a caller who had hung up, once the hub could have known it.
        self._offers_to_gone_callers(carrier, hub["offers"])
        self._repairs(carrier, calls, now)
        if final:
            self._final(carrier, calls)

    def _offers_to_gone_callers(self, carrier: dict[str, dict[str, Any]], offers: list[Any]) -> None:
        """An offer made after the caller hung up is a violation once the hub could have known
        of the hang-up: from the first news of it the hub received (its `completed` status or
        the queue's `hangup` result, however late the carrier delivered it, or a check at
        Twilio that found it), or from the last sign of life the hub had before the hang-up (a
        webhook, or a check at Twilio that found the caller there) plus
        HOTLINE_QUEUE_ALIVE_SECONDS, whichever is first. A caller silent that long is asked
        about at Twilio before any offer; one heard of more recently may be offered, as nothing
        else tells the hub that the line is dead (docs/reconcile.md, "No ghost offers").
        `offer_grace` covers an offer crossing the news in flight. Only offers after the
        hang-up are looked at closer (their calls' webhook log is read then)."""
        grace = timedelta(seconds=self.config.offer_grace)
        suspects = []
        for offer in offers:
            c = carrier.get(offer.call_sid)
            offered_at = _utc(offer.offered_at)
            if c is not None and c["end"] is not None and offered_at > c["end"] + grace \
                    and ("offer_to_gone_caller", str(offer.id)) not in self.found:
                suspects.append((offer, offered_at, c["end"]))
        if not suspects:
            return
        alive = timedelta(seconds=float(dict(self.config.hub_env).get("HOTLINE_QUEUE_ALIVE_SECONDS", "60")))
        events = self._events({offer.call_sid for offer, _at, _end in suspects})
        for offer, offered_at, end in suspects:
            known = could_have_known(events.get(offer.call_sid, []), end=end, alive=alive)
            if offered_at > known + grace:
                self.violation("offer_to_gone_caller", str(offer.id), f"offer {offer.id} made "
                               f"{(offered_at - end).total_seconds():.0f} s after caller {offer.call_sid[-6:]} "
                               "hung up, "
                               f"{(offered_at - known).total_seconds():.0f} s after the hub could have known")

    def _events(self, sids: set[str]) -> dict[str, list[tuple[str, str | None, datetime]]]:
        from sqlalchemy import bindparam, text

        from core.db import session_scope

        out: dict[str, list[tuple[str, str | None, datetime]]] = defaultdict(list)
        with session_scope() as session:
            rows = session.execute(text("SELECT call_sid, kind, status, received_at FROM call_events "
                                        "WHERE call_sid IN :sids").bindparams(bindparam("sids", expanding=True)),
                                   {"sids": sorted(sids)})
            for row in rows:
                out[row.call_sid].append((row.kind, row.status, _utc(row.received_at)))
            # A check at Twilio that found the caller on the line logs nothing: its time is kept.
            checked = session.execute(text("SELECT call_sid, last_checked_at FROM calls WHERE call_sid IN :sids "
                                           "AND last_checked_at IS NOT NULL")
                                      .bindparams(bindparam("sids", expanding=True)), {"sids": sorted(sids)})
            for row in checked:
                out[row.call_sid].append(("checked", None, _utc(row.last_checked_at)))
        return out

    def _agrees(self, sid: str, carrier: dict[str, dict[str, Any]], calls: dict[str, Any]) -> bool:
        c, row = carrier.get(sid), calls.get(sid)
        if c is None:
            return True
        if row is None:  # a call the hub never heard of: agrees once the carrier has ended it
            return not c["alive"]
        return (row.status in TERMINAL) == (not c["alive"])

    def _repairs(self, carrier: dict[str, dict[str, Any]], calls: dict[str, Any], now: float) -> None:
        with self.lock:
            fresh = self.faults.log[self.seen_faults:]
            self.seen_faults += len(fresh)
            for entry in fresh:
                # A fault with no call to follow (a refused POST /Calls.json: nothing was created,
                # the hub's retry is its repair) is counted, not timed.
                if entry.call_sid and entry.call_sid.startswith("CA"):
                    self.pending.append((entry.kind, entry.at, {entry.call_sid}))
            still = []
            for kind, at, sids in self.pending:
                if kind in PROCESS_FAULTS:
                    # Back, and every affected call the carrier has ended since is final in the hub.
                    done = self.back.get(kind) is not None and all(
                        carrier.get(sid, {}).get("alive", False) or self._agrees(sid, carrier, calls) for sid in sids)
                else:
                    done = all(self._agrees(sid, carrier, calls) for sid in sids)
                if done:
                    self.repairs[kind].append(max(0.0, now - at))
                else:
                    still.append((kind, at, sids))
            self.pending = still

    def _final(self, carrier: dict[str, dict[str, Any]], calls: dict[str, Any]) -> None:
        from sqlalchemy import text

        from core.db import session_scope

        sim = self.sim
        with sim.lock:
            recordings = [(r.sid, r.source, r.deleted, r.call_sid) for r in sim.recordings.values()
                          if r.status == "completed"]
        with session_scope() as session:
            rows = {row.recording_sid: row for row in session.execute(text(
                "SELECT recording_sid, kind, copied_at, ticket_id, attached_at, call_id FROM recordings"))}
            tickets = {row.id: row.callback_due_at for row in session.execute(text(
                "SELECT id, callback_due_at FROM tickets"))}
        done = 0
        for sid, source, deleted, call_sid in recordings:
            row = rows.get(sid)
            missing = [what for what, ok in (("known to the hub", row is not None),
                                             ("copied", row is not None and row.copied_at is not None),
                                             ("attached to a ticket", row is not None and row.ticket_id is not None),
                                             ("deleted at the carrier", deleted)) if not ok]
            if missing:
                self.violation("recording_not_done", sid, f"recording {sid[-6:]} ({source}) not "
                               + ", not ".join(missing))
            else:
                done += 1
            if source == "RecordVerb" and (row is None or row.ticket_id not in tickets):
                self.violation("voicemail_or_callback_without_ticket", sid,
                               f"voicemail {sid[-6:]} of caller {call_sid[-6:]} on no ticket")
        self.recordings = (len(recordings), done)
        self._callback_requests(calls, tickets)

    def _callback_requests(self, calls: dict[str, Any], tickets: dict[int, Any]) -> None:
        """Every caller who asked for a callback (at the menu or in the queue) has a ticket with
        the callback due on it."""
        for sid in self.asked_callback:
            row = calls.get(sid)
            if row is None or not row.ticket_id or tickets.get(row.ticket_id) is None:
                self.violation("voicemail_or_callback_without_ticket", sid, f"callback request of caller {sid[-6:]} "
                               "on no ticket with a callback due")
