"""Reconciliation with Twilio's REST API: Twilio does not retry a lost webhook, so a call, leg,
conference or recording that has been silent for longer than its state allows is fetched and
corrected, as its callback would have done; a queued caller silent too long is checked before
an agent is rung for them (telephony.carrier_effects, whose claims let the repair sweep redo what
a lost task left undone). Thresholds: docs/reconcile.md."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core import clock
from core.config import get_settings
from core.db import table_of
from telephony import bridge, call_states, callbacks, recordings
from telephony.gateway import CallState, GatewayError, get_gateway
from telephony.models import RECORDINGS_UNLISTED, Call, CallbackAttempt, CallEvent, QueueEntry, Recording

__all__ = ["ALONE_GRACE", "GRACE", "LIST_RECORDINGS_PER_SWEEP", "LIST_RECORDINGS_WINDOW", "UNCONFIRMED_WINDOW",
           "CarrierAnswer", "RecordingAnswer", "RecordingsAnswer", "agent_to_confirm", "apply_agent_answer",
           "apply_call_answer", "apply_queued_answer", "apply_recording_answer", "apply_recordings_answer",
           "apply_stranded_answer", "apply_status", "ask_call", "ask_recording", "ask_recordings", "ask_stranded",
           "call_to_check", "last_sign_of_life", "last_webhook", "recording_to_check", "recordings_to_list",
           "silent_calls", "silent_recordings", "stranded_callers", "unconfirmed_joins", "unlisted_calls"]

log = logging.getLogger("hotline.telephony.reconcile")
# A task enqueued after a commit normally runs within a second or two: a sweep redoes its
# effect only once it is this late, so it does not race the task it stands in for.
GRACE = timedelta(seconds=8)
_RINGING = ("queued", "initiated", "ringing")
# The check a leg's end or a caller's move-in schedules (bridge.ALONE_CHECK_SECONDS later) counts
# a caller unheard of for this long as alone, or their agent as due for a question: a little
# less, so a check run a moment early still finds them.
ALONE_GRACE = timedelta(seconds=bridge.ALONE_CHECK_SECONDS - 1)
# How long after the move-in the repair sweep stands in for that check of the agent (its task
# lost): a dozen of its passes. Later, an agent's leg that ended unheard is found by its silence
# (silent_calls); the bound keeps the sweep from weighing every call on the floor each pass.
UNCONFIRMED_WINDOW = timedelta(minutes=2)


# Aliases built once: an alias's column collection is made on first use, some milliseconds for
# the calls table, which the per-call check (rescue_if_alone) paid on every run.
_LEG = table_of(Call).alias("leg")
_CALLER_JOIN, _AGENT_JOIN = table_of(CallEvent).alias("caller_join"), table_of(CallEvent).alias("agent_join")
# The reconcile sweep lists the recordings of calls that ended within this window and were not
# listed (the listing their end asked for was lost, or Twilio refused it), this many at a time.
LIST_RECORDINGS_WINDOW = timedelta(hours=24)
LIST_RECORDINGS_PER_SWEEP = 50
# Statuses of a recording not final yet: one quiet for too long is asked about (silent_recordings).
_RECORDING_UNDER_WAY = ("in-progress", "paused", "stopped", "processing")


def _params(call: Call, state: CallState | None, status: str) -> dict[str, str]:
    params = {"CallSid": call.call_sid, "CallStatus": status, "CallbackSource": "reconcile"}
    if state is not None and state.duration is not None:
        params["CallDuration"] = str(state.duration)
    return params


def apply_status(session: Session, call: Call, params: Mapping[str, str]) -> None:
    """Apply a status learnt from Twilio where its callback would have gone: a callback's
    customer leg or its agent's leg to telephony.callbacks, every other call or leg to bridge."""
    attempt_id = session.scalar(select(CallbackAttempt.id).where(CallbackAttempt.call_sid == call.call_sid).limit(1))
    if attempt_id is not None:
        callbacks.on_status(session, params=params, attempt_id=attempt_id)
        return
    if call.leg == "agent" and call.parent_call_id is not None and call.offer_id is None:
        attempt_id = session.scalar(select(CallbackAttempt.id).where(CallbackAttempt.call_id == call.parent_call_id)
                                    .limit(1))
        if attempt_id is not None:
            callbacks.on_agent_leg(session, params=params, attempt_id=attempt_id)
            return
    bridge.on_status(session, params=params)


def last_webhook(call_id: Any) -> Any:
    """When the last webhook about a call came (a scalar subquery; `call_id` may be a column, to
    read it beside the call's own columns in one statement)."""
    return select(func.max(CallEvent.received_at)).where(CallEvent.call_id == call_id).scalar_subquery()


def last_sign_of_life(session: Session, call: Call) -> datetime:
    """The latest of: its last webhook, its last change, its last check at Twilio."""
    heard = session.scalar(select(last_webhook(call.id)))
    return max(t for t in (heard, call.updated_at, call.last_checked_at, call.started_at) if t is not None)


@dataclass(frozen=True)
class CarrierAnswer:
    """What Twilio said when asked about one call: its state; or that it does not know the call
    (404: it has failed); or nothing (`error`: it could not be asked, tried again next sweep).
    `moved`: a stranded caller was sent out of their empty conference."""

    state: CallState | None = None
    unknown: bool = False
    error: str | None = None
    moved: bool = False

    @property
    def status(self) -> str | None:
        return "failed" if self.unknown else self.state.status if self.state is not None else None


def ask_call(call_sid: str) -> CarrierAnswer:
    """Ask Twilio about one call. No database work: call it with no transaction open."""
    try:
        return CarrierAnswer(state=get_gateway().fetch_call(call_sid))
    except GatewayError as exc:
        if exc.status == 404:
            return CarrierAnswer(unknown=True)
        return CarrierAnswer(error=exc.message)


def call_to_check(session: Session, *, call_id: int) -> str | None:
    """The CallSid to ask Twilio about, or None if the call is over (nothing to ask)."""
    call = session.get(Call, call_id)
    return None if call is None or call.is_terminal else call.call_sid


def apply_call_answer(session: Session, *, call_id: int, answer: CarrierAnswer) -> bool:
    """Apply what Twilio said about a call, as its status callback would have, under the call's
    row lock and the state machine: an answer that a callback overtook meanwhile moves nothing
    backwards. Returns whether the call changed."""
    call = session.get(Call, call_id)
    if call is None or call.is_terminal:
        return False
    call = call_states.lock(session, call)
    if call.is_terminal:
        return False
    call.last_checked_at = clock.now()
    status = answer.status
    if status is None:
        log.warning("could not reconcile call %s: %s", call_id, answer.error)
        return False
    before = call.status
    if status == before:
        return False
    apply_status(session, call, _params(call, answer.state, status))
    session.refresh(call)
    return call.status != before


def apply_queued_answer(session: Session, *, call_id: int, answer: CarrierAnswer) -> bool:
    """Apply what Twilio said about a queued caller silent too long to be offered (the routing
    sweep asks, telephony.routing.silent_in_queue): one who has hung up is ended as their
    callback would have (the entry abandoned, never offered); one still on the line counts as
    heard now, and the router may offer them. Returns whether anything changed."""
    changed = apply_call_answer(session, call_id=call_id, answer=answer)
    if answer.status in call_states.LIVE:
        session.execute(update(QueueEntry).where(QueueEntry.call_id == call_id, QueueEntry.heard_at.is_not(None))
                        .values(heard_at=clock.now()).execution_options(synchronize_session=False))
        return True
    return changed


def silent_calls(session: Session, *, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Calls and legs not final whose last sign of life is older than their state allows:
    ringing or queued (HOTLINE_RECONCILE_RINGING_SECONDS), waiting in the queue
    (HOTLINE_QUEUE_ALIVE_SECONDS: the wait URL is requested every ~20 s), in a call
    (HOTLINE_RECONCILE_IN_CALL_SECONDS)."""
    settings = get_settings()
    now = now or clock.now()
    shortest = min(settings.reconcile_ringing_seconds, settings.queue_alive_seconds, settings.reconcile_in_call_seconds)
    since = now - timedelta(seconds=shortest)
    heard = (select(CallEvent.call_id, func.max(CallEvent.received_at).label("heard"))
             .group_by(CallEvent.call_id).subquery())
    rows = session.execute(
        select(Call.id, Call.status, Call.updated_at, Call.last_checked_at, Call.started_at, heard.c.heard,
               QueueEntry.state)
        .outerjoin(heard, heard.c.call_id == Call.id)
        .outerjoin(QueueEntry, QueueEntry.call_id == Call.id)
        .where(Call.status.in_(call_states.LIVE), Call.updated_at < since,
               or_(Call.last_checked_at.is_(None), Call.last_checked_at < since),
               or_(heard.c.heard.is_(None), heard.c.heard < since))
        .order_by(Call.updated_at).limit(limit * 4)).all()
    due: list[int] = []
    for row in rows:
        if row.status in _RINGING:
            allowed = settings.reconcile_ringing_seconds
        elif row.state in ("waiting", "offered"):
            allowed = settings.queue_alive_seconds
        else:
            allowed = settings.reconcile_in_call_seconds
        latest = max(t for t in (row.heard, row.updated_at, row.last_checked_at, row.started_at) if t is not None)
        if now - latest > timedelta(seconds=allowed):
            due.append(row.id)
        if len(due) >= limit:
            break
    return due


def stranded_callers(session: Session, *, now: datetime | None = None, limit: int = 100, call_id: int | None = None,
                     grace: timedelta = GRACE) -> list[int]:
    """Callers in a conference whose agent's leg ended more than `grace` ago with no word of the
    caller since (the conference's end reached nobody, or the caller joined after the agent
    left); only `call_id`, when given (the check a leg's end schedules)."""
    now = now or clock.now()
    leg = _LEG
    rows = session.execute(
        select(Call.id, Call.updated_at, leg.c.ended_at)
        .join(QueueEntry, QueueEntry.call_id == Call.id)
        .join(leg, (leg.c.parent_call_id == Call.id) & (leg.c.offer_id == Call.offer_id) & (leg.c.leg == "agent"))
        .where(Call.leg == "caller", Call.status == "in-progress", Call.bridged_at.is_not(None),
               QueueEntry.state == "connected", leg.c.status.in_(tuple(call_states.TERMINAL)),
               leg.c.ended_at <= now - grace, *((Call.id == call_id,) if call_id is not None else ()))
        .limit(limit)).all()
    due = []
    for call_id, _, leg_ended in rows:
        heard = session.scalar(select(func.max(CallEvent.received_at)).where(
            CallEvent.call_id == call_id, CallEvent.kind.in_(("conference-done", "status", "conference-join"))))
        if heard is None or heard < leg_ended:
            due.append(call_id)
    return due


def unconfirmed_joins(session: Session, *, now: datetime | None = None, limit: int = 100, call_id: int | None = None,
                      after: timedelta = ALONE_GRACE) -> list[int]:
    """Callers moved in to their agent more than `after` ago whose agent's leg is live as far as
    the hub knows but has not been asked about at Twilio since, and whose joining the agent's
    conference Twilio has not reported (only `call_id`, when given; else those moved in within
    UNCONFIRMED_WINDOW). An agent who hung up during the caller's "connecting" sentence left the
    caller to join a new, empty conference; when that leg's `completed` was lost as well, nothing
    else tells the hub."""
    now = now or clock.now()
    leg = _LEG
    query = (select(Call.id).join(QueueEntry, QueueEntry.call_id == Call.id)
             .join(leg, (leg.c.parent_call_id == Call.id) & (leg.c.offer_id == Call.offer_id) & (leg.c.leg == "agent"))
             .where(Call.leg == "caller", Call.status == "in-progress", Call.bridged_at <= now - after,
                    QueueEntry.state == "connected", leg.c.status.in_(tuple(call_states.LIVE)),
                    or_(leg.c.last_checked_at.is_(None), leg.c.last_checked_at <= Call.bridged_at),
                    ~_joined_together(Call.id, Call.call_sid, leg.c.call_sid),
                    (Call.id == call_id) if call_id is not None else (Call.bridged_at > now - UNCONFIRMED_WINDOW))
             .limit(limit))
    return list(session.scalars(query))


def _joined_together(call_id: Any, caller_sid: Any, leg_sid: Any) -> Any:
    """Whether Twilio reported the caller joining the very conference their agent's leg joined
    (the same ConferenceSid in both participant-joins): then the caller did not join a new, empty
    one, and their agent needs no question. Had the agent left first, their conference would have
    ended (endConferenceOnExit) and the caller's join would start another, with a ConferenceSid
    of its own; an agent who leaves later ends the caller's conference, whose `<Dial>` action
    then tells the hub (conference_done), as the leg's `completed` does. A join not reported
    (its webhook lost) leaves the question to Twilio, as before."""
    caller_join, agent_join = _CALLER_JOIN, _AGENT_JOIN
    return (select(caller_join.c.id)
            .join(agent_join, (agent_join.c.call_id == caller_join.c.call_id) & (agent_join.c.kind == "conference")
                  & (agent_join.c.status == "participant-join") & (agent_join.c.call_sid == leg_sid)
                  & (agent_join.c.params["ConferenceSid"].as_string()
                     == caller_join.c.params["ConferenceSid"].as_string()))
            .where(caller_join.c.call_id == call_id, caller_join.c.kind == "conference",
                   caller_join.c.status == "participant-join", caller_join.c.call_sid == caller_sid)
            .exists())


def agent_to_confirm(session: Session, *, call_id: int) -> tuple[int, str] | None:
    """The id and CallSid of the live agent leg of a caller moved in (unconfirmed_joins), or None."""
    caller = session.get(Call, call_id)
    leg = bridge.agent_leg_of(session, caller) if caller is not None and not caller.is_terminal else None
    return (leg.id, leg.call_sid) if leg is not None else None


def apply_agent_answer(session: Session, *, leg_id: int, answer: CarrierAnswer) -> bool:
    """Apply what Twilio said about the agent's leg of a caller just moved in, as its status
    callback would have; the leg counts as confirmed only once Twilio answered (a failed question
    is asked again by the next sweep). Returns whether the leg has ended."""
    if answer.status is None:
        log.warning("could not ask about agent leg %s: %s", leg_id, answer.error)
        return False
    apply_call_answer(session, call_id=leg_id, answer=answer)
    leg = session.get(Call, leg_id)
    return leg is not None and leg.is_terminal


def ask_stranded(call_id: int, call_sid: str) -> CarrierAnswer:
    """Ask Twilio about a caller who sits alone in a conference and, if they are still on the
    line, send them where the conference's end would have (back to the queue, or goodbye). No
    database work: call it with no transaction open."""
    answer = ask_call(call_sid)
    if answer.state is None or answer.state.status in call_states.TERMINAL:
        return answer
    from telephony.ivr import webhook_url

    try:
        get_gateway().update_call(call_sid, url=webhook_url("/twilio/conference/done", call=call_id))
    except GatewayError as exc:
        log.warning("stranded caller %s not moved: %s", call_id, exc.message)
        return answer
    return replace(answer, moved=True)


def apply_stranded_answer(session: Session, *, call_id: int, answer: CarrierAnswer) -> bool:
    """A stranded caller who had hung up is ended as their callback would have; one who was moved
    out of the empty conference is noted as checked. Returns whether anything changed."""
    call = session.get(Call, call_id)
    if call is None or call.is_terminal:
        return False
    status = answer.status
    if status in call_states.TERMINAL:
        call = call_states.lock(session, call)
        apply_status(session, call, _params(call, answer.state, status))
        return True
    if answer.error is not None:
        log.warning("could not check stranded caller %s: %s", call_id, answer.error)
    call.last_checked_at = clock.now()
    return answer.moved


# Recordings ----------------------------------------------------------------------------------

def silent_recordings(session: Session, *, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Recordings still under way (in progress, paused, processing) whose call ended, or that nobody has heard of,
    longer ago than HOTLINE_RECONCILE_RECORDING_SECONDS: their callbacks were lost."""
    now = now or clock.now()
    since = now - timedelta(seconds=get_settings().reconcile_recording_seconds)
    query = (select(Recording.id).outerjoin(Call, Call.id == Recording.call_id)
             .where(Recording.status.in_(_RECORDING_UNDER_WAY), Recording.updated_at < since,
                    or_(Recording.last_checked_at.is_(None), Recording.last_checked_at < since),
                    or_(Call.id.is_(None), Call.ended_at < since))
             .limit(limit))
    return list(session.scalars(query))


@dataclass(frozen=True)
class RecordingAnswer:
    """What Twilio said about one recording: its resource, or unknown (404), or nothing (`error`)."""

    found: Mapping[str, Any] | None = None
    unknown: bool = False
    error: str | None = None


def recording_to_check(session: Session, *, recording_id: int) -> str | None:
    recording = session.get(Recording, recording_id)
    return recording.recording_sid if recording is not None else None


def ask_recording(recording_sid: str) -> RecordingAnswer:
    """Ask Twilio about one recording. No database work: call it with no transaction open."""
    try:
        return RecordingAnswer(found=get_gateway().fetch_recording(recording_sid))
    except GatewayError as exc:
        if exc.status == 404:
            return RecordingAnswer(unknown=True)
        return RecordingAnswer(error=exc.message)


def apply_recording_answer(session: Session, *, recording_id: int, answer: RecordingAnswer) -> bool:
    """Apply what Twilio said about a quiet recording as its callback would: a completed one is
    attached to its ticket and copied (then deleted at Twilio). Statuses only move on, so an
    answer a callback overtook meanwhile changes nothing."""
    recording = session.get(Recording, recording_id)
    if recording is None:
        return False
    recording.last_checked_at = clock.now()
    if answer.unknown:
        if recording.status in _RECORDING_UNDER_WAY:
            recording.status, recording.last_error = "absent", "unknown at Twilio"
            return True
        return False
    if answer.found is None:
        log.warning("could not reconcile recording %s: %s", recording_id, answer.error)
        return False
    found = answer.found
    status = str(found.get("status") or "")
    if status in ("in-progress", "paused", "processing", ""):
        return False
    call = session.get(Call, recording.call_id) if recording.call_id else None
    params = _recording_params(found, recording.recording_sid,
                               call_sid=call.call_sid if call is not None else str(found.get("call_sid") or ""),
                               source=recording.source, url=recording.twilio_url)
    recordings.on_callback(session, params=params, kind=recording.kind)
    return True


def _recording_params(found: Mapping[str, Any], recording_sid: str, *, call_sid: str, source: str | None = None,
                      url: str | None = None) -> dict[str, str]:
    """The recording callback Twilio would have sent, from its REST resource."""
    return {
        "RecordingSid": recording_sid, "RecordingStatus": str(found.get("status") or ""),
        "RecordingDuration": str(found.get("duration") or ""), "RecordingChannels": str(found.get("channels") or ""),
        "RecordingSource": str(found.get("source") or source or ""), "CallSid": call_sid,
        "RecordingUrl": url or get_gateway().media_url(recording_sid).removesuffix(".wav"),
        "CallbackSource": "reconcile"}


# Recordings the hub never heard of ------------------------------------------------------------

def unlisted_calls(session: Session, *, now: datetime | None = None, limit: int = LIST_RECORDINGS_PER_SWEEP
                   ) -> list[int]:
    """Calls that may have been recorded (a caller's or a callback customer's, completed), ended
    within LIST_RECORDINGS_WINDOW and whose recordings nobody has listed at Twilio, once the
    listing their end asked for is late (call_states.LIST_RECORDINGS_AFTER and GRACE): oldest
    first, `limit` of them."""
    now = now or clock.now()
    late = now - timedelta(seconds=call_states.LIST_RECORDINGS_AFTER) - GRACE
    query = (select(Call.id).where(RECORDINGS_UNLISTED, Call.ended_at > now - LIST_RECORDINGS_WINDOW,
                                   Call.ended_at <= late)
             .order_by(Call.ended_at).limit(limit))
    return list(session.scalars(query))


def recordings_to_list(session: Session, *, call_id: int) -> str | None:
    """The CallSid whose recordings to list, or None if the call is not one to list (not ended
    completed, an agent's leg) or is listed already."""
    call = session.get(Call, call_id)
    if call is None or call.status != "completed" or call.leg == "agent" or call.recordings_listed_at is not None:
        return None
    return call.call_sid


@dataclass(frozen=True)
class RecordingsAnswer:
    """What Twilio said when asked for a call's recordings: each one's resource, or nothing
    (`error`: it could not be asked, or refused; the call is asked about again next sweep)."""

    found: Sequence[Mapping[str, Any]] | None = None
    error: str | None = None


def ask_recordings(call_sid: str) -> RecordingsAnswer:
    """Ask Twilio for every recording of one call (all pages). No database work: call it with no
    transaction open."""
    try:
        return RecordingsAnswer(found=get_gateway().list_recordings(call_sid))
    except GatewayError as exc:
        return RecordingsAnswer(error=exc.message)


def apply_recordings_answer(session: Session, *, call_id: int, answer: RecordingsAnswer) -> bool:
    """Register each recording Twilio keeps of the call that the hub does not know, as its
    callback would have (a completed one is attached to its ticket and copied, then deleted at
    Twilio; one still under way is asked about by the reconcile sweep once quiet), then mark the
    call listed. Recordings the hub knows are left to their callbacks and that sweep. Listing a
    call twice (its task delivered again, the sweep beside it) registers nothing twice. Returns
    whether a recording was registered."""
    if answer.found is None:
        log.warning("could not list the recordings of call %s: %s", call_id, answer.error)
        return False
    call = session.get(Call, call_id)
    if call is None or call.recordings_listed_at is not None:
        return False
    registered = False
    for found in answer.found:
        sid = str(found.get("sid") or "")
        if not sid.startswith("RE") or recordings.get_by_ref(session, recording_sid=sid) is not None:
            continue
        log.warning("recording %s of call %s was unknown (its callbacks were lost); registered from Twilio's list",
                    sid, call_id)
        recordings.on_callback(session, params=_recording_params(found, sid, call_sid=call.call_sid))
        registered = True
    # The call's `updated_at` is kept: a listing is not news of the call (the sweeps go by it).
    session.execute(update(Call).where(Call.id == call_id, Call.recordings_listed_at.is_(None))
                    .values(recordings_listed_at=clock.now(), updated_at=Call.updated_at)
                    .execution_options(synchronize_session=False))
    return registered
