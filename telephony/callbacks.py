"""Server-dialled callbacks. The agent asks for one on a ticket; the hub checks the live callback
authorisation then, and again at every dial (tickets.grants.callback_target), dials the customer
from the hotline's number through a rate-limited queue of its own, and on a human answer rings
the agent's browser phone into the call's conference (shown the hotline's number). No answer,
busy and voicemail are written on the ticket and retried up to the configured number of times.
The customer's number exists only in memory between the claim of a dial and Twilio's answer:
never stored, logged or returned.

Twilio is asked with no transaction open (issue 15): a dial is claimed first (the attempt
`dialling` with no CallSid yet, committed with the token it spends), then Twilio is asked, then its
CallSid is recorded; a callback of Twilio's that overtakes that record adopts the CallSid itself.
Ringing the agent in and telling the customer the agent missed it claim the call's controls
(telephony.controls) the same way."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import Dial, VoiceResponse

from core import clock
from core import users as users_service
from core.audit import record as audit
from core.config import get_settings
from core.db import begin_write
from core.errors import Conflict, NotFound, PermissionDenied
from core.events import publish
from core.models import User
from core.worker import enqueue_named
from telephony import bridge, calls, controls, ivr, rate_limit
from telephony import presence as presence_service
from telephony.gateway import GatewayError, get_gateway
from telephony.models import TERMINAL_STATUSES, Call
from telephony.models.controls import CallbackAttempt
from telephony.presence import AVAILABLE, AWAY, OFFERED, ON_CALL, ROUTER
from tickets import grants, tiers, timeline
from tickets import service as ticket_service

__all__ = ["DIAL_LEASE", "LIVE_STATES", "attempts_of", "close_lapsed_dials", "connect_agent", "dial_next",
           "on_agent_leg", "on_answer", "on_status", "request_callback", "tell_agent_missed"]

log = logging.getLogger("hotline.telephony.callbacks")
LIVE_STATES = ("queued", "dialling", "ringing", "answered")
RING_SECONDS = 30
BUSY_RETRY = timedelta(minutes=1)
# How long a claimed dial may wait for Twilio's answer before the sweep counts it failed: longer
# than the REST call can take while its worker lives (a 10 s HTTP timeout, 429s retried).
DIAL_LEASE = timedelta(seconds=45)
_UNANSWERED = {"busy": "busy", "no-answer": "no_answer", "failed": "failed", "canceled": "no_answer",
               "completed": "no_answer"}


class CallbackUnavailable(Conflict):
    """The hub cannot dial this callback now; the message says why and what to do."""

    default_msgid = "The hub cannot dial this callback now; tell your team leader."

    code = "callback_unavailable"


def _caller_id() -> str:
    number = get_settings().twilio_caller_id
    if not number:
        raise CallbackUnavailable("The hotline has no outgoing number set (HOTLINE_TWILIO_CALLER_ID); "
                                  "ask an administrator to set it.")
    return number


def _note(session: Session, attempt: CallbackAttempt, kind: str, value: str, reason: str | None = None) -> None:
    ticket = ticket_service.get(session, ticket_id=attempt.ticket_id, user=None)
    timeline.record(session, ticket, kind=kind, field="callback", to_value=value, reason=reason,
                    actor=users_service.get(session, user_id=attempt.agent_id))
    publish(session, "callback.changed", {"attempt_id": attempt.id, "ticket_id": attempt.ticket_id,
                                          "state": attempt.state, "number": attempt.number},
            user_id=attempt.agent_id, site_id=ticket.site_id)


def _announce(session: Session, attempt: CallbackAttempt) -> None:
    """A step the agent's desktop shows (the customer's phone ringing, the agent's phone ringing,
    connected, ended) that is not written on the ticket."""
    publish(session, "callback.changed", {"attempt_id": attempt.id, "ticket_id": attempt.ticket_id,
                                          "state": attempt.state, "number": attempt.number},
            user_id=attempt.agent_id)


def _audit(session: Session, attempt: CallbackAttempt, action: str, *, user: User | None = None,
           source_ip: str | None = None, reason: str | None = None) -> None:
    audit(session, action=action, actor_id=user.id if user else None, actor_name=user.username if user else "system",
          object_type="callback_attempt", object_id=attempt.id, source_ip=source_ip,
          details={"ticket_id": attempt.ticket_id, "customer_id": attempt.customer_id, "agent_id": attempt.agent_id,
                   "grant_id": attempt.grant_id, "attempt": attempt.number, "state": attempt.state, "reason": reason})


# Asking for a callback -----------------------------------------------------------------------

def request_callback(session: Session, *, ticket_id: int, user: User, source_ip: str | None = None) -> CallbackAttempt:
    """Queue the first dial of a callback for the ticket's customer. Without a live authorisation
    the request is refused (GrantExpired, GrantRevoked, NoGrant) and the refusal is audited: it
    is committed before the error goes back."""
    ticket = ticket_service.get(session, ticket_id=ticket_id, user=user)
    if ticket.customer_id is None:
        raise CallbackUnavailable("This ticket has no customer to call back.")
    _caller_id()
    under_way = session.scalar(select(CallbackAttempt.id).where(
        CallbackAttempt.ticket_id == ticket.id, CallbackAttempt.state.in_(LIVE_STATES),
        CallbackAttempt.ended_at.is_(None)).limit(1))
    if under_way is not None:
        raise CallbackUnavailable("A callback for this ticket is already under way.")
    presence = presence_service.get_presence(session, user_id=user.id)
    if presence.state in (OFFERED, ON_CALL):
        raise CallbackUnavailable("Finish your current call first, then call back.")
    attempt = CallbackAttempt(ticket_id=ticket.id, customer_id=ticket.customer_id, agent_id=user.id, number=1,
                              state="queued", due_at=clock.now(), created_at=clock.now())
    try:
        attempt.grant_id = grants.require_live_grant(session, customer_id=ticket.customer_id, agent_id=user.id).id
    except PermissionDenied as exc:
        attempt.state, attempt.reason, attempt.ended_at = "refused", exc.message[:300], clock.now()
        session.add(attempt)
        session.flush()
        attempt.series_id = attempt.id
        _audit(session, attempt, "callback.refused", user=user, source_ip=source_ip, reason=exc.code)
        _note(session, attempt, "callback_refused", "refused", reason=exc.code)
        session.commit()  # the refusal stays on record although the request fails
        raise
    session.add(attempt)
    session.flush()
    attempt.series_id = attempt.id
    _audit(session, attempt, "callback.requested", user=user, source_ip=source_ip)
    _note(session, attempt, "callback_requested", "queued")
    if presence.state == AVAILABLE:
        # No inbound call is offered to the agent while the callback rings them.
        presence = presence_service.lock_presence(session, user_id=user.id)
        presence_service.move(session, presence, AWAY, by=ROUTER, reason=f"calling back ticket {ticket.number}")
    enqueue_named(session, "telephony.callback_dial")
    return attempt


def attempts_of(session: Session, *, ticket_id: int, user: User) -> list[CallbackAttempt]:
    ticket_service.get(session, ticket_id=ticket_id, user=user)
    return list(session.scalars(select(CallbackAttempt).where(CallbackAttempt.ticket_id == ticket_id)
                                .order_by(CallbackAttempt.id)))


# Dialling, paced ------------------------------------------------------------------------------

def dial_next(session: Session) -> str:
    """Dial the next due attempt if the outbound bucket has a token: "dialled", "throttled"
    (try again in a second), or "idle" (nothing due). The attempt row is taken with SKIP LOCKED,
    so workers racing each dial different attempts; the dial is claimed and committed with its
    token before Twilio is asked (this commits as it goes)."""
    begin_write(session)
    query = (select(CallbackAttempt).where(CallbackAttempt.state == "queued", CallbackAttempt.due_at <= clock.now())
             .order_by(CallbackAttempt.due_at, CallbackAttempt.id).limit(1).with_for_update(skip_locked=True))
    attempt = session.scalars(query.execution_options(populate_existing=True)).first()
    if attempt is None:
        return "idle"
    if presence_service.get_presence(session, user_id=attempt.agent_id).state in (OFFERED, ON_CALL):
        attempt.due_at = clock.now() + BUSY_RETRY  # the agent is on another call: a little later
        return "dialled"
    if rate_limit.take(session) > 0:
        return "throttled"
    order = _claim_dial(session, attempt)
    if order is not None:
        _dial(session, order)
    return "dialled"


@dataclass(frozen=True)
class _DialOrder:
    attempt_id: int
    number: str  # the customer's number: in memory only, until Twilio has it
    caller_id: str

    def __repr__(self) -> str:  # no phone number in logs or tracebacks
        return f"<DialOrder attempt={self.attempt_id}>"


def _claim_dial(session: Session, attempt: CallbackAttempt) -> _DialOrder | None:
    """Check the authorisation now and claim the dial (`dialling`, no CallSid yet), committed:
    None, with the attempt closed, if it may no longer be dialled."""
    try:
        target = grants.callback_target(session, customer_id=attempt.customer_id, agent_id=attempt.agent_id)
        caller_id = _caller_id()
    except (PermissionDenied, NotFound, CallbackUnavailable) as exc:
        # Expired, revoked or gone since it was asked for: no new dial.
        _close(session, attempt, "refused", reason=exc.message)
        _audit(session, attempt, "callback.refused", reason=exc.code)
        session.commit()
        return None
    attempt.state, attempt.dialled_at = "dialling", clock.now()
    session.commit()
    return _DialOrder(attempt_id=attempt.id, number=target.number, caller_id=caller_id)


def _dial(session: Session, order: _DialOrder) -> None:
    """Ask Twilio to dial (no transaction open), then record its CallSid, or the failure."""
    try:
        sid = get_gateway().dial_customer(
            to=order.number, from_=order.caller_id, timeout=RING_SECONDS,
            url=ivr.webhook_url("/twilio/callbacks/answer", attempt=order.attempt_id),
            status_callback=ivr.webhook_url("/twilio/callbacks/status", attempt=order.attempt_id))
    except GatewayError as exc:
        log.warning("callback attempt %s not dialled: %s", order.attempt_id, exc.status or exc.twilio_code)
        attempt = session.get(CallbackAttempt, order.attempt_id, with_for_update=True, populate_existing=True)
        if attempt is not None and attempt.state == "dialling" and attempt.call_sid is None:
            _close(session, attempt, "failed", reason=f"Twilio refused the call ({exc.twilio_code or exc.status})")
        session.commit()
        return
    attempt = session.get(CallbackAttempt, order.attempt_id, with_for_update=True, populate_existing=True)
    if attempt is not None:
        _adopt(session, attempt, sid)
    session.commit()


def _adopt(session: Session, attempt: CallbackAttempt, sid: str) -> None:
    """Record the customer's leg Twilio made for a claimed dial, once (the dialler after Twilio's
    answer, or a callback of Twilio's that overtook it), under the attempt's row lock."""
    if attempt.call_sid is not None:
        return
    ticket = ticket_service.get(session, ticket_id=attempt.ticket_id, user=None)
    call = calls.get_by_sid(session, call_sid=sid)
    if call is None:
        call = Call(call_sid=sid, leg="customer", direction="outbound-api", status="queued", site_id=ticket.site_id,
                    ticket_id=ticket.id, customer_id=attempt.customer_id, agent_id=attempt.agent_id,
                    language=ticket.language or ivr.get_config(session).default_language)
        session.add(call)
        session.flush()
    attempt.call_id, attempt.call_sid = call.id, sid
    ticket_service.link_call(session, ticket_id=ticket.id, call_sid=sid, direction="outbound")
    _audit(session, attempt, "callback.dialled")


def close_lapsed_dials(session: Session, *, limit: int = 100) -> int:
    """The sweep's part: a dial claimed by a worker that died before it heard Twilio's answer
    (no CallSid after DIAL_LEASE) is counted failed, and the next attempt scheduled."""
    lapsed = list(session.scalars(select(CallbackAttempt).where(
        CallbackAttempt.state == "dialling", CallbackAttempt.call_sid.is_(None),
        CallbackAttempt.dialled_at <= clock.now() - DIAL_LEASE).limit(limit).with_for_update(skip_locked=True)))
    for attempt in lapsed:
        _close(session, attempt, "failed", reason="the hub stopped while dialling")
    return len(lapsed)


def _close(session: Session, attempt: CallbackAttempt, state: str, *, reason: str | None = None) -> None:
    """The attempt ended without a conversation: on the ticket, and the next one scheduled."""
    attempt.state, attempt.ended_at, attempt.reason = state, clock.now(), (reason or "")[:300] or None
    limit = get_settings().callback_max_attempts
    retry = state in ("no_answer", "busy", "voicemail", "failed") and attempt.number < limit
    note = f"attempt {attempt.number} of {limit}" + ("; trying again later" if retry else "")
    _note(session, attempt, "callback_attempt", state, reason=note)
    if retry:
        session.add(CallbackAttempt(ticket_id=attempt.ticket_id, customer_id=attempt.customer_id,
                                    agent_id=attempt.agent_id, grant_id=attempt.grant_id, series_id=attempt.series_id,
                                    number=attempt.number + 1, state="queued", created_at=clock.now(),
                                    due_at=clock.now() + timedelta(minutes=get_settings().callback_retry_minutes)))


# Twilio's callbacks for the customer's leg -------------------------------------------------------

def _attempt_for(session: Session, attempt_id: int,
                 params: Mapping[str, str]) -> tuple[CallbackAttempt | None, Call | None]:
    # Under the attempt's row lock: a callback that overtakes the record of its own dial (the
    # carrier calls back before the dialler has written Twilio's answer) takes its place.
    attempt = session.get(CallbackAttempt, attempt_id, with_for_update=True, populate_existing=True)
    sid = params.get("CallSid")
    if attempt is not None and attempt.state == "dialling" and attempt.call_sid is None and sid:
        _adopt(session, attempt, sid)  # Twilio called back before the dialler recorded its answer
    call = calls.get_by_sid(session, call_sid=sid)
    if attempt is None or call is None or attempt.call_sid != params.get("CallSid"):
        return None, call
    return attempt, call


def on_answer(session: Session, *, params: Mapping[str, str], attempt_id: int) -> str:
    """POST /twilio/callbacks/answer: someone or something picked up. A machine or a fax is
    recorded as voicemail and hung up on; a person joins the call's conference (recorded on
    two channels) while the agent's phone is rung."""
    attempt, call = _attempt_for(session, attempt_id, params)
    calls.log_event(session, kind="callback-answer", params=params, call=call)
    if attempt is None or call is None or attempt.state not in ("dialling", "ringing"):
        return ivr.hangup_twiml()
    calls.advance_status(call, "in-progress")
    answered_by = params.get("AnsweredBy") or "human"
    attempt.answered_by = answered_by[:30]
    if answered_by.startswith("machine") or answered_by == "fax":
        _close(session, attempt, "voicemail", reason=answered_by)
        return ivr.hangup_twiml()
    attempt.state, attempt.answered_at = "answered", clock.now()
    tiers.call_contact(session, customer_id=call.customer_id, call_sid=call.call_sid, channel="callback")
    call.conference_name, call.bridged_at = bridge.conference_name(call), clock.now()
    _note(session, attempt, "callback_attempt", "answered", reason=f"attempt {attempt.number}")
    enqueue_named(session, "telephony.callback_connect_agent", attempt.id)
    response = VoiceResponse()
    response.start().recording(channels="dual", track="both",
                               recording_status_callback=ivr.webhook_url("/twilio/recording", kind="call"),
                               recording_status_callback_method="POST",
                               recording_status_callback_event="in-progress completed absent")
    response.say(ivr.get_config(session).text(call.language, "connecting"), language=call.language)
    dial = Dial()
    dial.conference(call.conference_name, start_conference_on_enter=True, end_conference_on_exit=True, beep="false",
                    status_callback=ivr.webhook_url("/twilio/conference/events"), status_callback_method="POST",
                    status_callback_event="start end join leave")
    response.append(dial)
    return str(response)


def on_status(session: Session, *, params: Mapping[str, str], attempt_id: int) -> None:
    """POST /twilio/callbacks/status: progress of the customer's leg (repeats harmless)."""
    attempt, call = _attempt_for(session, attempt_id, params)
    calls.log_event(session, kind="callback-status", params=params, call=call)
    if attempt is None or call is None:
        return
    status = params.get("CallStatus") or ""
    if not calls.advance_status(call, status, duration=params.get("CallDuration")):
        return
    if status == "ringing" and attempt.state == "dialling":
        attempt.state = "ringing"
        _announce(session, attempt)
    elif status in TERMINAL_STATUSES:
        if attempt.state in ("dialling", "ringing"):
            _close(session, attempt, _UNANSWERED.get(status, "failed"), reason=status)
        elif attempt.state == "answered" and attempt.ended_at is None:
            attempt.ended_at = clock.now()
            _announce(session, attempt)
            bridge.caller_ended(session, call=call)  # a still-ringing agent leg is stopped


# The agent's leg ----------------------------------------------------------------------------------

def connect_agent(session: Session, *, attempt_id: int) -> Call | None:
    """Ring the agent's browser phone into the answered callback; the leg shows the hotline's
    number. Once: one agent leg per attempt, and the call's controls claimed while Twilio is
    asked with no transaction open (this commits as it goes). A failure gives the claim back and
    raises (the task retries)."""
    attempt = session.get(CallbackAttempt, attempt_id)
    call = session.get(Call, attempt.call_id) if attempt and attempt.call_id else None
    if attempt is None or call is None or attempt.state != "answered" or call.is_terminal:
        session.commit()
        return None
    existing = session.scalar(select(Call).where(Call.parent_call_id == call.id, Call.leg == "agent"))
    if existing is not None or not controls.try_claim_controls(session, call.id):
        session.commit()
        return existing
    identity = bridge.agent_identity(attempt.agent_id)
    conference, caller_id = call.conference_name or bridge.conference_name(call), _caller_id()
    session.commit()
    try:
        sid = get_gateway().add_conference_leg(
            conference, from_=caller_id, to=f"client:{identity}", label="agent", end_conference_on_exit=True,
            timeout=RING_SECONDS, status_callback=ivr.webhook_url("/twilio/callbacks/agent", attempt=attempt_id))
    except GatewayError:
        controls.release_controls(session, call.id)
        session.commit()
        raise
    leg = calls.get_by_sid(session, call_sid=sid)
    if leg is None:
        leg = Call(call_sid=sid, leg="agent", direction="outbound-api", parent_call_id=call.id,
                   agent_id=attempt.agent_id, to_number=f"client:{identity}", status="queued", language=call.language,
                   site_id=call.site_id, ticket_id=call.ticket_id, customer_id=call.customer_id)
        session.add(leg)
        session.flush()
    controls.release_controls(session, call.id)
    _announce(session, attempt)  # the agent's phone rings
    session.commit()
    return leg


def on_agent_leg(session: Session, *, params: Mapping[str, str], attempt_id: int) -> None:
    """POST /twilio/callbacks/agent: the agent's leg. If the agent does not pick up, the customer
    hears an apology and the call ends; a finished leg is handled as any agent's."""
    leg = calls.get_by_sid(session, call_sid=params.get("CallSid"))
    calls.log_event(session, kind="callback-agent", params=params, call=leg)
    attempt = session.get(CallbackAttempt, attempt_id)
    status = params.get("CallStatus") or ""
    if leg is None or attempt is None or not calls.advance_status(leg, status, duration=params.get("CallDuration")):
        return
    if status not in TERMINAL_STATUSES:
        if status == "in-progress":
            _announce(session, attempt)  # the agent picked up: connected
        return
    call = session.get(Call, attempt.call_id) if attempt.call_id else None
    if leg.answered_at is None and call is not None and not call.is_terminal:
        # Twilio is asked after this webhook commits, with no transaction open.
        enqueue_named(session, "telephony.callback_agent_missed", call.id)
        attempt.reason = "the agent did not answer"
        _note(session, attempt, "callback_attempt", "agent_missed")
    elif leg.answered_at is not None:
        bridge.agent_leg_status(session, leg=leg, status=status)


def tell_agent_missed(session: Session, *, call_id: int) -> bool:
    """The agent did not pick up an answered callback: the customer hears an apology and the
    call ends (a REST redirect, asked once under the call's controls claim with no transaction
    open; commits as it goes). A failure is logged: the customer's call then ends by itself
    when they hang up, as before."""
    call = session.get(Call, call_id)
    if call is None or call.is_terminal or not controls.try_claim_controls(session, call_id):
        session.commit()
        return False
    response = VoiceResponse()
    response.say(ivr.get_config(session).text(call.language, "queue_problem"), language=call.language)
    response.hangup()
    sid = call.call_sid
    session.commit()
    try:
        get_gateway().update_call(sid, twiml=str(response))
        told = True
    except GatewayError as exc:
        log.warning("callback call %s: the customer could not be told the agent missed it: %s", call_id, exc.message)
        told = False
    controls.release_controls(session, call_id)
    session.commit()
    return told
