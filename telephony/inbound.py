"""The caller's way in: identified by caller ID, greeted, asked to choose, given a ticket and a
place in the queue, told their position while waiting, and offered a voicemail or a callback
after the wait limit or out of hours. Each function answers one webhook with TwiML."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from core import clock, organisation
from core.cache import remembered
from core.errors import NotFound
from core.events import publish
from telephony import call_states, calls, ivr, routing
from telephony.ivr import CHOICES, LANGUAGES, IvrConfig
from telephony.models import Call
from tickets import calendar
from tickets import service as ticket_service

__all__ = ["incoming", "menu", "queue_result", "site_for", "voicemail", "wait"]

EMPTY = str(VoiceResponse())
log = logging.getLogger("hotline.telephony.inbound")


def site_for(session: Session, config: IvrConfig, preferred: int | None) -> int | None:
    if preferred is not None:
        return preferred
    if config.default_site_id is not None:
        return config.default_site_id
    # The first site set up (a handful of rows; the caller remembers the answer for a while).
    return min((site.id for site in organisation.list_sites(session)), default=None)


def _caller_defaults(session: Session, params: Mapping[str, str], config: IvrConfig) -> dict[str, object]:
    """What a new call starts with before caller ID: the blind index of its number, the IVR's
    language and the default site (a known caller's own site replaces it)."""
    index = calls.caller_index(params.get("From") or params.get("Caller"))
    return {"language": config.default_language, "from_index": index, "site_id": _default_site(session, config)}


def _default_site(session: Session, config: IvrConfig) -> int | None:
    return remembered(session, ("default-site", config.default_site_id), lambda: site_for(session, config, None))


def _identify(session: Session, call: Call, params: Mapping[str, str], config: IvrConfig) -> None:
    values = _caller_defaults(session, params, config)
    values.update(calls.caller_values(session, index=values["from_index"]))  # type: ignore[arg-type]
    for key, value in values.items():
        setattr(call, key, value)


def _is_open(session: Session, site_id: int) -> bool:
    # The site's hours and holidays are remembered for a few seconds; the time is checked now.
    return calendar.calendar_for(session, site_id=site_id).is_open(clock.now())


def incoming(session: Session, *, params: Mapping[str, str], retry: int = 0, lang: str | None = None,
             degraded: bool = False) -> str:
    """POST /twilio/voice: a new call (or Twilio retrying it): greeting and menu, or straight
    to voicemail when the site is closed."""
    config = ivr.get_config(session)
    existing = calls.get_by_sid(session, call_sid=params.get("CallSid")) if retry else None
    if existing is not None:
        call, created = existing, False
        calls.log_event(session, kind="voice", params=params, call=call)
    else:
        # The call row, caller ID and this webhook's log line travel together: on PostgreSQL
        # one statement, committing on its own. What follows writes only for a closed site
        # (the call's menu choice, idempotent when Twilio retries this webhook).
        call, created = calls.open_inbound(session, params=params, degraded=degraded, log_as="voice", identify=True,
                                           autocommit=True, **_caller_defaults(session, params, config))
    calls.advance_status(call, params.get("CallStatus"))
    if created:
        publish(session, "call.incoming", {"call_id": call.id, "customer_id": call.customer_id},
                site_id=call.site_id)
    if call.is_terminal:
        return ivr.hangup_twiml()
    language = lang if lang in LANGUAGES else call.language
    if call.site_id is not None and not _is_open(session, call.site_id):
        call.menu_choice, call.after_queue = "closed", "voicemail"
        return ivr.closed_twiml(config, language)
    return ivr.menu_twiml(config, language, greet=retry == 0, retry=retry)


def _call_for(session: Session, params: Mapping[str, str], kind: str) -> Call:
    call, locked = _logged_call(session, params, kind)
    call_states.advance(session, call, params.get("CallStatus"), locked=locked)
    return call


def _logged_call(session: Session, params: Mapping[str, str], kind: str) -> tuple[Call, bool]:
    """The webhook's call, its log line added; and whether it was read under its row lock."""
    # The call nearly always exists (its /twilio/voice opened it): found and locked in one
    # statement, as the status change needs it locked anyway.
    found = calls.find_and_log(session, kind=kind, params=params, call_sid=params.get("CallSid") or None, lock=True)
    if found is not None:
        return found, True
    call, created = calls.open_inbound(session, params=params)
    if created:  # its /twilio/voice was lost (or spooled): identify now
        _identify(session, call, params, ivr.get_config(session))
        session.flush()
    calls.log_event(session, kind=kind, params=params, call=call)
    return call, False


def menu(session: Session, *, params: Mapping[str, str], lang: str | None = None, default: str | None = None,
         retry: int = 0) -> str:
    """POST /twilio/menu: the caller chose (a key or a word). Opens the call's ticket and
    queues the call, or records a callback request. The call's own changes (its status, the
    choice, its ticket and time queued) are made once its ticket is open: the ticket service
    flushes the session, and the call's row is then written once, not before and after."""
    call, locked = _logged_call(session, params, "menu")

    def advance() -> None:
        call_states.advance(session, call, params.get("CallStatus"), locked=locked)

    config = ivr.get_config(session)
    language = lang if lang in LANGUAGES else call.language
    digits = (params.get("Digits") or "").strip()
    if digits == ivr.SWITCH_LANGUAGE_DIGIT:
        advance()
        call.language = next(x for x in LANGUAGES if x != language)
        return ivr.menu_twiml(config, call.language, greet=False)
    if call.is_terminal:
        return EMPTY
    choice = ivr.choice_for(digits=digits, speech=params.get("SpeechResult"), language=language) or default
    if choice is None:
        advance()
        return ivr.menu_twiml(config, language, greet=False, retry=1)
    skill, category = CHOICES[choice]
    site_id = call.site_id or site_for(session, config, None)
    if site_id is not None:
        ticket = ticket_service.open_from_call(session, call_sid=call.call_sid, customer_id=call.customer_id,
                                               category=category, site_id=site_id, caller_index=call.from_index,
                                               language=language)
    advance()
    call.language, call.menu_choice = language, choice
    call.skill_code, call.category = skill, category
    if site_id is None:  # no site set up yet: keep the caller's message rather than fail
        log.error("no site is set up; call %s sent to voicemail", call.id)
        call.after_queue = "voicemail"
        return ivr.voicemail_twiml(config, language)
    call.site_id = site_id
    call.ticket_id = ticket.id
    if choice == "callback":
        _request_callback(session, call, due_in=None)
        return ivr.goodbye_twiml(config, language, key="callback_confirm")
    call.enqueued_at = call.enqueued_at or clock.now()
    routing.enqueue(session, call_id=call.id, skill_code=skill, category=category, tier=call.tier,
                    preferred_agent_id=call.owning_agent_id, waited_since=call.enqueued_at, heard=True)
    return ivr.enqueue_twiml(config, language, skill_code=skill)


def _request_callback(session: Session, call: Call, *, due_in: int | None) -> None:
    due_at = clock.now() + timedelta(seconds=due_in) if due_in is not None else None
    assert call.site_id is not None  # the menu gives a call its site before it queues or asks for this
    ticket = ticket_service.open_callback_request(session, site_id=call.site_id, customer_id=call.customer_id,
                                                  caller_index=call.from_index, call_sid=call.call_sid,
                                                  due_at=due_at, language=call.language)
    call.ticket_id = call.ticket_id or ticket.id
    call.after_queue, call.callback_requested_at = "callback", clock.now()


def wait(session: Session, *, params: Mapping[str, str], offer: bool = False) -> str:
    """POST /twilio/wait: the queue's wait URL (and the keys pressed at its offer). Position and
    estimated wait, hold music, and past the wait limit: 1 voicemail, 2 callback."""
    call = calls.find_and_log(session, kind="wait", params=params, call_sid=params.get("CallSid") or None)
    config = ivr.get_config(session)
    if call is None:
        return ivr.wait_twiml(config, config.default_language, position=None, wait_seconds=None, offer_choices=False)
    digits = (params.get("Digits") or "").strip() if offer else ""
    if digits in ("1", "2"):
        # The caller's row before the queue entry's, the lock order every writer keeps (an
        # agent's answer locks the caller, then the entry): leaving the queue writes both.
        call = call_states.lock(session, call)
    routing.heard_in_queue(session, call_id=call.id)  # still there: the router may offer them
    try:
        position, estimate = routing.queue_position(session, call_id=call.id)
    except NotFound:
        position, estimate = 0, 0
    if digits in ("1", "2"):
        outcome = "voicemail" if digits == "1" else "callback"
        entry = routing.leave_queue(session, call_id=call.id, outcome=outcome, reason="caller's choice")
        if entry is not None and entry.state == "connected":
            # An agent took the call meanwhile: the caller is about to be connected.
            return ivr.wait_twiml(config, call.language, position=None, wait_seconds=None, offer_choices=False)
        if outcome == "voicemail":
            call.after_queue = "voicemail"
            return ivr.leave_twiml(config, call.language)
        _request_callback(session, call, due_in=estimate)
        return ivr.leave_twiml(config, call.language, say="callback_confirm")
    queued_for = int(params.get("QueueTime") or 0) if str(params.get("QueueTime") or "0").isdigit() else 0
    return ivr.wait_twiml(config, call.language, position=position or None, wait_seconds=estimate,
                          offer_choices=queued_for >= config.wait_limit_seconds)


def queue_result(session: Session, *, params: Mapping[str, str]) -> str:
    """POST /twilio/queue-result: the caller left Twilio's queue (the Enqueue action)."""
    call = calls.find_and_log(session, kind="queue-result", params=params, call_sid=params.get("CallSid") or None)
    config = ivr.get_config(session)
    if call is None:
        return ivr.voicemail_twiml(config, config.default_language)
    result = params.get("QueueResult") or ""
    if result in ("redirected", "bridged", "bridging-in-process"):
        return EMPTY  # the call is being connected elsewhere; this answer is ignored
    call = call_states.lock(session, call)  # the caller, then the queue entry (the lock order)
    if result == "hangup":
        routing.abandon(session, call_id=call.id, reason="caller hung up while queued")
        return EMPTY
    if result == "leave" and call.after_queue == "callback":
        return ivr.hangup_twiml()
    if result != "leave":  # queue-full, error, system-error: never drop the caller
        routing.leave_queue(session, call_id=call.id, outcome="voicemail", reason=f"twilio queue: {result}")
    call.after_queue = "voicemail"
    intro = ("voicemail",) if result == "leave" else ("queue_problem", "voicemail")
    return ivr.voicemail_twiml(config, call.language, intro=intro)


def voicemail(session: Session, *, params: Mapping[str, str]) -> str:
    """POST /twilio/voicemail: the voicemail prompt and `<Record>` (a redirect target)."""
    call = _call_for(session, params, "voicemail")
    call.after_queue = call.after_queue or "voicemail"
    return ivr.voicemail_twiml(ivr.get_config(session), call.language)
