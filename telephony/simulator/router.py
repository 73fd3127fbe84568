"""The simulator mounted under `/simulator` in the demo (and usable in tests): Twilio's REST API
for the hub's twilio client, and a small control API for people and scripts to place calls,
press keys and work the agents' phones."""

from __future__ import annotations

import asyncio

import anyio
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from telephony.simulator import rest
from telephony.simulator.carrier import Simulator
from telephony.simulator.registry import get_simulator

router = APIRouter(prefix="/simulator", include_in_schema=False)


@router.api_route("/2010-04-01/{path:path}", methods=["GET", "POST", "DELETE"])
async def twilio_rest(path: str, request: Request) -> Response:
    body = await request.body()
    try:
        simulator = get_simulator()
    except LookupError:
        answer = rest.RestResponse(503, b'{"code": 20503, "message": "no carrier simulator is running", "status": 503}')
    else:
        full = "/2010-04-01/" + path
        delay = rest.injected_delay(simulator, request.method, full)
        if delay:
            await asyncio.sleep(delay)  # a slow answer holds only this request back
        answer = await anyio.to_thread.run_sync(rest.handle, simulator, request.method, full, body,
                                                dict(request.headers), request.url.query)
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)


class PlaceCall(BaseModel):
    from_number: str
    to: str | None = None


class Keys(BaseModel):
    digits: str


def _sim() -> Simulator:
    try:
        return get_simulator()
    except LookupError as exc:
        raise HTTPException(404, "no simulator is running") from exc


@router.post("/calls")
def place_call(body: PlaceCall) -> dict[str, str]:
    return {"call_sid": _sim().place_call(body.from_number, body.to)}


@router.post("/calls/{sid}/digits")
def press(sid: str, body: Keys) -> dict[str, bool]:
    return {"heard": _sim().press(sid, body.digits)}


@router.post("/calls/{sid}/hangup")
def hangup(sid: str) -> dict[str, str]:
    return {"call_sid": _sim().hangup(sid)}


@router.get("/phones/{identity}")
def phone(identity: str) -> dict[str, list[str]]:
    handset = _sim().phone(identity)
    return {"ringing": handset.ringing(), "active": handset.active()}


@router.post("/phones/{identity}/{action}")
def phone_action(identity: str, action: str) -> dict[str, str]:
    handset = _sim().phone(identity)
    if action not in ("answer", "decline", "hangup"):
        raise HTTPException(404, "answer, decline or hangup")
    try:
        return {"call_sid": getattr(handset, action)()}
    except LookupError as exc:
        raise HTTPException(409, str(exc)) from exc


@router.get("/state")
def state() -> dict[str, object]:
    sim = _sim()
    with sim.lock:
        return {
            "calls": [{"sid": c.sid, "direction": c.direction, "status": c.status, "waiting": c.waiting,
                       "to": c.to if c.direction != "inbound" else None} for c in sim.calls.values() if c.alive],
            "queues": {q.name: len(q.members) for q in sim.queues.values()},
            "conferences": {c.name: len(c.participants) for c in sim.conferences.values()},
            "errors": sim.errors[-20:],
        }
