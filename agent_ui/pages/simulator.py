"""The carrier simulator's page (`/simulator`, mounted by the demo only): the simulated calls in
progress and what each is doing, and the agents with their presence and phone, refreshed every
few seconds. Customers' numbers show their last digits only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_ui.templating import is_htmx, render
from core import clock
from core import users as users_service
from core.auth import DbSession, OptionalUser
from core.errors import NotFound
from telephony.queue_status import queue_snapshot
from telephony.simulator import get_simulator

__all__ = ["router", "simulated_calls"]

router = APIRouter()


@dataclass(frozen=True)
class SimulatedCall:
    kind: str  # incoming, agent_phone, callback
    who: str  # a masked number, or the agent's name
    doing: str  # menu, queue, talking, ringing, voicemail, message
    position: int | None
    seconds: int


def mask(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    return "•••• " + "".join(digits[-4:]) if len(digits) >= 4 else "••••"


def _doing(call: Any) -> str:
    if call.waiting == "ringing":
        return "ringing"
    if call.waiting == "queue":
        return "queue"
    if call.waiting == "conference":
        return "talking"
    if call.waiting == "record":
        return "voicemail"
    if call.waiting == "gather" and call.direction == "inbound" and not call.queue_name:
        return "menu"
    return "message"


def simulated_calls(sim: Any, names: dict[str, str]) -> list[SimulatedCall]:
    """The calls alive at the simulated carrier, oldest first; `names` maps `agent_<id>` to a name."""
    now = clock.now()
    found = []
    with sim.lock:
        for call in sorted(sim.calls.values(), key=lambda c: c.created_at or now):
            if not call.alive:
                continue
            if call.direction == "inbound":
                kind, who = "incoming", mask(call.from_)
            elif call.to.startswith("client:"):
                identity = call.to.removeprefix("client:")
                kind, who = "agent_phone", names.get(identity, identity)
            else:
                kind, who = "callback", mask(call.to)
            queue = sim.queues.get(call.queue_name or "") if call.waiting == "queue" else None
            position = queue.members.index(call.sid) + 1 if queue and call.sid in queue.members else None
            found.append(SimulatedCall(kind, who, _doing(call), position,
                                       int((now - (call.created_at or now)).total_seconds())))
    return found


@router.get("/simulator", include_in_schema=False)
def simulator_page(request: Request, session: DbSession, user: OptionalUser) -> Response:
    try:
        sim = get_simulator()
    except LookupError:
        raise NotFound("No carrier simulator is running in this hub.") from None
    snapshot = queue_snapshot(session)
    agents = []
    names: dict[str, str] = {}
    for state, lines in sorted(snapshot.agents_by_state.items()):
        for line in lines:
            person = users_service.get(session, user_id=line.user_id)
            names[f"agent_{line.user_id}"] = person.display_name
            phone = sim.phone(f"agent_{line.user_id}")
            agents.append({"name": person.display_name, "state": state, "seconds": line.seconds_in_state,
                           "phone": "talking" if phone.active() else "ringing" if phone.ringing() else "idle"})
    agents.sort(key=lambda a: str(a["name"]))
    with sim.lock:
        totals = {"placed": sum(1 for c in sim.calls.values() if c.direction == "inbound"),
                  "callbacks": sum(1 for c in sim.calls.values()
                                   if c.direction != "inbound" and not c.to.startswith("client:")),
                  "errors": len(sim.errors)}
    context = {"calls": simulated_calls(sim, names), "agents": agents, "totals": totals}
    return render(request, "simulator/page.html", context, block="live" if is_htmx(request) else None)
