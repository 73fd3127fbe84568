"""Twilio's webhooks: every one signed (403 and nothing touched otherwise), answered with TwiML
from the services, and kept even when the database is down: the caller hears an apology and
leaves a voicemail, and the callbacks are spooled for replay."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import APIRouter, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from twilio.twiml.voice_response import VoiceResponse

from core.config import get_settings
from core.db import session_scope, write_locked
from telephony import bridge, inbound, ivr, recordings, spool
from telephony.audio import hold_music
from telephony.signature import TwilioForm

log = logging.getLogger("hotline.telephony.webhooks")
router = APIRouter(prefix="/twilio", tags=["twilio"], include_in_schema=False)

XML = "text/xml"


def _flat(form: FormData) -> dict[str, str]:
    return {key: str(value) for key, value in form.multi_items()}


def _twiml(xml: str) -> Response:
    return Response(content=xml, media_type=XML)


# Units of work run at once per process. More threads than this only make the database's
# backends and this process's threads fight over the same cores: a short wait in the event
# loop costs far less than that contention (see benchmarks/bench_webhook.py).
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    if loop not in _limiters:
        _limiters[loop] = anyio.CapacityLimiter(get_settings().webhook_concurrency)
    return _limiters[loop]


def _unit_of_work(kind: str, params: dict[str, str], work: Callable[[Session, dict[str, str]], Any],
                  fallback: Callable[[dict[str, str]], Any], query: dict[str, Any] | None) -> Any:
    try:
        try:
            return _run(work, params)
        except spool.DATABASE_DOWN as exc:
            if not getattr(exc, "connection_invalidated", False):
                raise
            # A pooled connection the server had dropped (a restart, an idle cut): the pool
            # has just been invalidated and nothing was committed, so one retry on a fresh
            # connection is safe. Pools do not pre-ping (core.db), so this is where a stale
            # connection shows; a database really down fails again and goes to the spool.
            log.warning("stale database connection during the %s webhook; retrying once", kind)
            return _run(work, params)
    except spool.DATABASE_DOWN:
        log.error("database unreachable during the %s webhook; caller sent to voicemail", kind)
        spool.save(kind, params, query=query)
        return fallback(params)


def _run(work: Callable[[Session, dict[str, str]], Any], params: dict[str, str]) -> Any:
    with session_scope() as session:
        # Nearly every webhook writes: on SQLite take the write lock up front, so a
        # concurrent writer makes this wait (busy timeout) instead of failing mid-way.
        write_locked(session)
        return work(session, params)


async def _handle(kind: str, form: FormData, work: Callable[[Session, dict[str, str]], Any],
                  fallback: Callable[[dict[str, str]], Any], query: dict[str, Any] | None = None) -> Any:
    """Run the webhook's unit of work in a worker thread (the service layer is synchronous);
    when the database is unreachable, spool the webhook and answer with `fallback`."""
    return await anyio.to_thread.run_sync(_unit_of_work, kind, _flat(form), work, fallback, query,
                                          limiter=_limiter())


def _apology(params: dict[str, str]) -> Response:
    return _twiml(ivr.apology_twiml())


def _no_content(_params: dict[str, str] | None = None) -> Response:
    return Response(status_code=204)


@router.post("/voice")
async def voice(form: TwilioForm, retry: int = 0, lang: str | None = None) -> Response:
    return await _handle("voice", form, lambda s, p: _twiml(inbound.incoming(s, params=p, retry=retry, lang=lang)),
                   _apology)


@router.post("/menu")
async def menu(form: TwilioForm, lang: str | None = None, default: str | None = None) -> Response:
    return await _handle("menu", form, lambda s, p: _twiml(inbound.menu(s, params=p, lang=lang, default=default)),
                         _apology)


@router.post("/wait")
async def wait(form: TwilioForm, offer: int = 0) -> Response:
    # Inside a queue only wait verbs are allowed: leave it, and the queue action apologises.
    return await _handle("wait", form, lambda s, p: _twiml(inbound.wait(s, params=p, offer=bool(offer))),
                   lambda p: _twiml(ivr.leave_only_twiml()))


@router.post("/queue-result")
async def queue_result(form: TwilioForm) -> Response:
    return await _handle("queue-result", form, lambda s, p: _twiml(inbound.queue_result(s, params=p)), _apology)


@router.post("/voicemail")
async def voicemail(form: TwilioForm) -> Response:
    return await _handle("voicemail", form, lambda s, p: _twiml(inbound.voicemail(s, params=p)), _apology)


def _thanks(language: str | None = None) -> str:
    response = VoiceResponse()
    response.say("谢谢，您的留言已经收到。再见。", language="zh-CN")
    response.say("Thank you, your message has been recorded. Goodbye.", language="en-US")
    response.hangup()
    return str(response)


@router.post("/voicemail-done")
async def voicemail_done(form: TwilioForm, degraded: int = 0) -> Response:
    def work(session: Session, params: dict[str, str]) -> Response:
        recording = recordings.on_voicemail_done(session, params=params)
        call = recording.call if recording is not None else None
        config = ivr.get_config(session)
        return _twiml(ivr.goodbye_twiml(config, call.language if call else config.default_language,
                                        key="voicemail_thanks"))

    return await _handle("voicemail-done", form, work, lambda p: _twiml(_thanks()))


@router.post("/agent/answer")
async def agent_answer(form: TwilioForm, offer: int) -> Response:
    def down(_params: dict[str, str]) -> Response:
        response = VoiceResponse()
        response.say("The hotline cannot connect this call right now.", language="en-US")
        response.hangup()
        return _twiml(str(response))

    return await _handle("agent-answer", form, lambda s, p: _twiml(bridge.agent_answered(s, params=p, offer_id=offer)),
                   down, query={"offer": offer})


@router.post("/conference")
async def conference(form: TwilioForm, call: int) -> Response:
    return await _handle("conference", form, lambda s, p: _twiml(bridge.caller_joins(s, params=p, call_id=call)),
                         _apology)


@router.post("/conference/done")
async def conference_done(form: TwilioForm, call: int) -> Response:
    return await _handle("conference-done", form,
                   lambda s, p: _twiml(bridge.conference_done(s, params=p, call_id=call)), _apology)


@router.post("/conference/events", status_code=204)
async def conference_events(form: TwilioForm) -> Response:
    def work(session: Session, params: dict[str, str]) -> Response:
        bridge.on_conference_event(session, params=params)
        return _no_content()

    return await _handle("conference-events", form, work, _no_content)


@router.post("/status", status_code=204)
async def status(form: TwilioForm, leg: str | None = None, offer: int | None = None) -> Response:
    def work(session: Session, params: dict[str, str]) -> Response:
        bridge.on_status(session, params=params)
        return _no_content()

    return await _handle("status", form, work, _no_content)


@router.post("/recording", status_code=204)
async def recording(form: TwilioForm, kind: str = "call") -> Response:
    def work(session: Session, params: dict[str, str]) -> Response:
        recordings.on_callback(session, params=params, kind=kind)
        return _no_content()

    return await _handle("recording", form, work, _no_content, query={"kind": kind})


@router.get(ivr.HOLD_MUSIC_PATH.removeprefix("/twilio"))
def hold_music_file() -> Response:
    # No personal data and nothing to change: Twilio fetches it while callers wait.
    return Response(content=hold_music(), media_type="audio/wav", headers={"Cache-Control": "public, max-age=86400"})


# Routes are matched in order, each tried at a cost (FastAPI's router, some microseconds a route):
# the callbacks a call makes most often (five status and five conference callbacks, two recording
# callbacks, of some eighteen webhooks) are tried first; the rest keep their order.
_MOST_FREQUENT = ["/twilio/status", "/twilio/conference/events", "/twilio/recording"]


def _match_rank(route: Any) -> int:
    path = getattr(route, "path", None)
    return _MOST_FREQUENT.index(path) if path in _MOST_FREQUENT else len(_MOST_FREQUENT)


router.routes.sort(key=_match_rank)


# Replaying what was spooled while the database was down ----------------------------------------

def _replay_voice(session: Session, params: dict[str, str], query: dict[str, str]) -> None:
    inbound.incoming(session, params=params, degraded=True)


def _replay_status(session: Session, params: dict[str, str], query: dict[str, str]) -> None:
    bridge.on_status(session, params=params)


def _replay_recording(session: Session, params: dict[str, str], query: dict[str, str]) -> None:
    recordings.on_callback(session, params=params, kind=query.get("kind", "call"))


def _replay_voicemail(session: Session, params: dict[str, str], query: dict[str, str]) -> None:
    recordings.on_voicemail_done(session, params=params)


REPLAY: dict[str, Callable[[Session, dict[str, str], dict[str, str]], None]] = {
    "voice": _replay_voice, "status": _replay_status, "recording": _replay_recording,
    "voicemail-done": _replay_voicemail,
}

__all__ = ["REPLAY", "router"]
