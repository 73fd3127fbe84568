"""In-call controls on the call's Twilio conference: hold and resume (the caller hears hold
music), recording pause and resume (for sensitive data, the pauses kept on the call's time line),
and what every control shares: who may act on which call, the claim on the call's controls, the
audit entry, the desktop event, and a Twilio failure that leaves everything as it was. Transfers
and escalation are in telephony.transfers, monitoring in telephony.monitoring.

A control goes in three steps, as telephony.carrier_effects does (issue 15): checked and claimed
in a short write transaction, committed at once (`calls.control_claimed_at`, a lease); Twilio
asked with no transaction open (on SQLite a write transaction makes every writer wait for as long
as Twilio takes; on PostgreSQL the call's row lock makes its callbacks wait); the result written
and the claim given back in a second short transaction. A second click while Twilio is asked is
refused at once; a refusal from Twilio gives the claim back and writes nothing. The control
functions commit as they go: call them with no unit of work of your own pending."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core import clock, permissions
from core.audit import record as audit
from core.config import get_settings
from core.db import affected_rows
from core.errors import Conflict, DomainError, NotFound, PermissionDenied
from core.events import publish
from core.models import User
from telephony.gateway import GatewayError, get_gateway
from telephony.ivr import HOLD_MUSIC_PATH, webhook_url
from telephony.models import Call
from telephony.models.controls import CallControlEvent

__all__ = ["CONTROL_LEASE", "ControlFailed", "ControlRefused", "HoldPeriod", "CallControls", "agent_leg",
           "ask_twilio", "claim_controls", "close_ended", "LiveControls", "conference_key", "controls_of", "hold",
           "hold_seconds", "hold_totals", "live_call", "live_controls", "may_supervise", "open_event", "open_events",
           "pause_recording", "record_control", "release_controls", "require_agent_or_leader", "resume",
           "resume_recording", "try_claim_controls"]

log = logging.getLogger("hotline.telephony.controls")
T = TypeVar("T")
LIVE_LEG = ("queued", "initiated", "ringing", "in-progress")
CUSTOMER_LEGS = ("caller", "customer")
MONITOR_KINDS = ("listen", "whisper", "barge")
TIMED_KINDS = ("hold", "recording_pause", "listen", "whisper", "barge", "transfer")
PAUSE_BEHAVIOR = "silence"  # the recording keeps its length, so QA timestamps still line up
# How long one request holds a call's controls: longer than its REST calls can take (a 10 s HTTP
# timeout each, 429s retried with backoff), so a live request is never overtaken; a request that
# died lets it lapse, and the next click takes it.
CONTROL_LEASE = timedelta(seconds=45)


class ControlRefused(Conflict):
    """That control cannot be used on this call now; the message says why."""

    default_msgid = "That control cannot be used on this call now."

    code = "control_refused"


class ControlFailed(DomainError):
    """Twilio refused or could not be reached; nothing was changed."""

    code = "twilio_error"


# The call and who may act on it ----------------------------------------------------------------

def live_call(session: Session, *, call_id: int, lock: bool = False) -> Call:
    """The customer's leg of a call that is connected to an agent now."""
    query = select(Call).where(Call.id == call_id)
    if lock:
        query = query.with_for_update()
    call = session.scalars(query.execution_options(populate_existing=True)).first()
    if call is None or call.leg not in CUSTOMER_LEGS:
        raise NotFound("There is no such call.", params={"call_id": call_id})
    if call.is_terminal:
        raise ControlRefused("This call has ended.")
    if not call.conference_name:
        raise ControlRefused("This call is not connected to an agent yet.")
    if not call.conference_sid:
        # Answered, but the conference has not started with the caller in it (Twilio's
        # conference-start event names it): Twilio would not find the participants yet.
        raise ControlRefused("The caller is still being connected to you; try again in a moment.")
    return call


def agent_leg(session: Session, call: Call, *, agent_id: int | None = None) -> Call | None:
    """The live leg of the call's agent (or of `agent_id`)."""
    wanted = agent_id if agent_id is not None else call.agent_id
    if wanted is None:
        return None
    return session.scalars(select(Call).where(Call.parent_call_id == call.id, Call.leg == "agent",
                                              Call.agent_id == wanted, Call.status.in_(LIVE_LEG))
                           .order_by(Call.id.desc()).limit(1)).first()


def may_supervise(user: User, call: Call) -> bool:
    """Team leaders act on their own site's calls; supervisors and above on any call."""
    if permissions.allowed(user.role, permissions.SUPERVISORS):
        return True
    if not permissions.allowed(user.role, permissions.TEAM_LEADERS):
        return False
    return user.site_id is None or call.site_id is None or user.site_id == call.site_id


def require_agent_or_leader(session: Session, call: Call, user: User, *, doing: str) -> None:
    """The agent on the call, or a leader who may supervise it."""
    if user.id == call.agent_id and agent_leg(session, call) is not None:
        return
    if may_supervise(user, call):
        return
    raise PermissionDenied("Only the agent on this call or a team leader of its site can do this.",
                           params={"action": doing})


def conference_key(call: Call) -> str:
    # Twilio addresses a live conference's participants by the conference's SID.
    return call.conference_sid or call.conference_name or ""


def claim_controls(session: Session, call: Call) -> None:
    """Claim the call's controls for CONTROL_LEASE, in the unit of work that checked the control
    (ask_twilio commits it): ControlRefused if another request holds them, as on a double click."""
    if not try_claim_controls(session, call.id):
        raise ControlRefused("Another change to this call is under way; try again in a moment.")


def try_claim_controls(session: Session, call_id: int) -> bool:
    """Claim the call's controls for CONTROL_LEASE if no other request or task holds them (not
    committed here). The hub's own effects on a callback's call claim them too."""
    now = clock.now()
    # The call's `updated_at` is kept: a claim is not news of the call (the sweeps go by it).
    return bool(affected_rows(session.execute(
        update(Call).where(Call.id == call_id, or_(Call.control_claimed_at.is_(None),
                                                   Call.control_claimed_at <= now - CONTROL_LEASE))
        .values(control_claimed_at=now, updated_at=Call.updated_at).execution_options(synchronize_session=False))))


def release_controls(session: Session, call_id: int) -> None:
    """Give the call's controls back, in the transaction that records what Twilio did."""
    session.execute(update(Call).where(Call.id == call_id).values(control_claimed_at=None, updated_at=Call.updated_at)
                    .execution_options(synchronize_session=False))


def ask_twilio(session: Session, call_id: int, what: str, fn: Callable[[], T],
               undo: Callable[[Session], None] | None = None) -> T:
    """Commit the claim (and whatever the check wrote with it), then run one Twilio request with
    no transaction open. A failure gives the claim back and runs `undo` (in one short transaction
    of its own, committed) and becomes ControlFailed: nothing the control would have written is
    kept. `what` names the step in the person's error ("put the caller on hold")."""
    session.commit()
    try:
        return fn()
    except GatewayError as exc:
        log.warning("call control failed: could not %s (%s)", what, exc.status or exc.twilio_code)
        if undo is not None:
            undo(session)
        release_controls(session, call_id)
        session.commit()
        raise ControlFailed("Twilio could not do this. Nothing was changed; try again.",
                            params={"action": what, "status": exc.status}) from exc


def open_events(session: Session, *, call_id: int) -> list[CallControlEvent]:
    """The call's controls not yet ended, oldest first: one read for a step that asks several
    questions of them. Current while the caller holds the call's row lock, which every control
    is opened under (live_call)."""
    return list(session.scalars(select(CallControlEvent).where(
        CallControlEvent.call_id == call_id, CallControlEvent.ended_at.is_(None)).order_by(CallControlEvent.id)))


def open_event(session: Session, *, call_id: int, kind: str) -> CallControlEvent | None:
    return session.scalars(select(CallControlEvent).where(
        CallControlEvent.call_id == call_id, CallControlEvent.kind == kind, CallControlEvent.ended_at.is_(None))
        .order_by(CallControlEvent.id.desc()).limit(1)).first()


def record_control(session: Session, *, call: Call, kind: str, user: User | None, source_ip: str | None = None,
                   action: str | None = None, state: str = "active", **fields: Any) -> CallControlEvent:
    """Write the control, audit it and tell the call's agent's desktop."""
    event = CallControlEvent(call_id=call.id, kind=kind, actor_id=user.id if user else None, state=state,
                             started_at=clock.now(), **fields)
    session.add(event)
    session.flush()
    audited(session, event, action or f"call.{kind}", user=user, source_ip=source_ip)
    return event


def audited(session: Session, event: CallControlEvent, action: str, *, user: User | None,
            source_ip: str | None = None, call: Call | None = None) -> None:
    audit(session, action=action, actor_id=user.id if user else None, actor_name=user.username if user else "system",
          object_type="call", object_id=event.call_id, source_ip=source_ip,
          details={"control_id": event.id, "kind": event.kind, "target_user_id": event.target_user_id,
                   "target": event.target, "state": event.state, "outcome": event.outcome})
    call = call or session.get(Call, event.call_id)
    # The agent's desktop hears of every control but a monitor: whether they are told of that is
    # the site's policy (telephony.monitoring publishes `call.monitored` where it allows).
    agent_id = call.agent_id if call and event.kind not in MONITOR_KINDS else None
    publish(session, "call.control", {
        "call_id": event.call_id, "control_id": event.id, "kind": event.kind, "state": event.state,
        "action": action, "actor_id": event.actor_id, "target_user_id": event.target_user_id,
        "ended": event.ended_at is not None}, user_id=agent_id,
        site_id=call.site_id if call else None)


def finish(session: Session, event: CallControlEvent, *, action: str, user: User | None, outcome: str | None = None,
           state: str = "done", source_ip: str | None = None, at: datetime | None = None) -> CallControlEvent:
    event.ended_at, event.state, event.outcome = at or clock.now(), state, outcome or event.outcome
    session.flush()
    audited(session, event, action, user=user, source_ip=source_ip)
    return event


# Hold -----------------------------------------------------------------------------------------

def hold(session: Session, *, call_id: int, user: User, source_ip: str | None = None) -> CallControlEvent:
    """Put the caller on hold: they hear the hold music until `resume`."""
    call = live_call(session, call_id=call_id, lock=True)
    require_agent_or_leader(session, call, user, doing="put it on hold")
    if open_event(session, call_id=call.id, kind="hold") is not None:
        raise ControlRefused("The caller is already on hold.")
    claim_controls(session, call)
    ask_twilio(session, call.id, "put the caller on hold", lambda: get_gateway().update_participant(
        conference_key(call), call.call_sid, hold=True, hold_url=webhook_url(HOLD_MUSIC_PATH), hold_method="GET"))
    event = record_control(session, call=call, kind="hold", user=user, source_ip=source_ip)
    release_controls(session, call.id)
    return event


def resume(session: Session, *, call_id: int, user: User, source_ip: str | None = None) -> CallControlEvent:
    """Take the caller off hold; the period counts in the call's hold time."""
    call = live_call(session, call_id=call_id, lock=True)
    require_agent_or_leader(session, call, user, doing="take it off hold")
    event = open_event(session, call_id=call.id, kind="hold")
    if event is None:
        raise ControlRefused("The caller is not on hold.")
    claim_controls(session, call)
    ask_twilio(session, call.id, "take the caller off hold",
               lambda: get_gateway().update_participant(conference_key(call), call.call_sid, hold=False))
    return _finished(session, event.id, call_id=call.id, action="call.resume", user=user, source_ip=source_ip)


def _finished(session: Session, event_id: int, *, call_id: int, action: str, user: User | None,
              outcome: str | None = None, source_ip: str | None = None) -> CallControlEvent:
    """Record an open control ended by Twilio's answer, and give the call's controls back. One
    the call's end closed meanwhile (telephony.bridge.caller_ended) stays as it was closed."""
    event = session.get(CallControlEvent, event_id, populate_existing=True)
    assert event is not None
    if event.ended_at is None:
        finish(session, event, action=action, user=user, outcome=outcome, source_ip=source_ip)
    release_controls(session, call_id)
    return event


# Recording pause ------------------------------------------------------------------------------

def _recording_offset(call: Call) -> int:
    # The call's recording starts when the caller joins the agent (bridge.caller_joins).
    start = call.bridged_at or call.answered_at
    return max(0, int((clock.now() - start).total_seconds())) if start else 0


def _current_recording_sid(session: Session, call: Call) -> str | None:
    from telephony.models import Recording

    return session.scalar(select(Recording.recording_sid).where(Recording.call_id == call.id, Recording.kind == "call")
                          .order_by(Recording.id.desc()).limit(1))


def pause_recording(session: Session, *, call_id: int, user: User, source_ip: str | None = None) -> CallControlEvent:
    """Pause the call's recording while sensitive data is said. Silence replaces the paused
    audio, so the recording keeps its length and shows where it was paused."""
    call = live_call(session, call_id=call_id, lock=True)
    require_agent_or_leader(session, call, user, doing="pause its recording")
    if open_event(session, call_id=call.id, kind="recording_pause") is not None:
        raise ControlRefused("The recording is already paused.")
    claim_controls(session, call)
    ask_twilio(session, call.id, "pause the recording", lambda: get_gateway().set_recording_status(
        call.call_sid, status="paused", pause_behavior=PAUSE_BEHAVIOR))
    event = record_control(session, call=call, kind="recording_pause", user=user, source_ip=source_ip,
                           action="call.recording_paused", recording_sid=_current_recording_sid(session, call),
                           offset_seconds=_recording_offset(call))
    release_controls(session, call.id)
    return event


def resume_recording(session: Session, *, call_id: int, user: User, source_ip: str | None = None) -> CallControlEvent:
    """Resume the paused recording."""
    call = live_call(session, call_id=call_id, lock=True)
    require_agent_or_leader(session, call, user, doing="resume its recording")
    event = open_event(session, call_id=call.id, kind="recording_pause")
    if event is None:
        raise ControlRefused("The recording is not paused.")
    claim_controls(session, call)
    ask_twilio(session, call.id, "resume the recording", lambda: resume_recording_at_twilio(call))
    return _finished(session, event.id, call_id=call.id, action="call.recording_resumed", user=user,
                     outcome="resumed", source_ip=source_ip)


def resume_recording_at_twilio(call: Call) -> None:
    """The REST request that resumes a paused recording (no transaction open: see ask_twilio)."""
    get_gateway().set_recording_status(call.call_sid, status="in-progress")


def recording_resumed(session: Session, *, pause_id: int | None, why: str) -> None:
    """A control that resumed a paused recording on its way (a transfer) records it (the hub did
    it: no person). `pause_id`: the open pause it found, or None if there was none."""
    event = session.get(CallControlEvent, pause_id, populate_existing=True) if pause_id is not None else None
    if event is not None and event.ended_at is None:
        finish(session, event, action="call.recording_resumed", user=None, outcome=why)


# Reporting ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HoldPeriod:
    kind: str
    started_at: datetime
    ended_at: datetime | None
    seconds: int
    offset_seconds: int | None = None


@dataclass(frozen=True)
class CallControls:
    call_id: int
    hold_seconds: int
    holds: list[HoldPeriod]
    recording_pauses: list[HoldPeriod]
    events: list[CallControlEvent]


def close_ended(session: Session, *, call: Call, transfers: bool = True,
                opened: list[CallControlEvent] | None = None) -> int:
    """A call that ended closes its open holds, pauses and monitors at its end (the recording
    stops with the call, so a pause ends there too). Idempotent. `transfers` False leaves a
    transfer under way to its own leg's report (which also frees the person it rang). `opened`:
    the call's open controls as `open_events` read them under the call's lock, else read here."""
    if not call.is_terminal:
        return 0
    kinds = TIMED_KINDS if transfers else tuple(k for k in TIMED_KINDS if k != "transfer")
    if opened is None:
        rows = list(session.scalars(select(CallControlEvent).where(
            CallControlEvent.call_id == call.id, CallControlEvent.ended_at.is_(None),
            CallControlEvent.kind.in_(kinds))))
    else:
        rows = [event for event in opened if event.ended_at is None and event.kind in kinds]
    for event in rows:
        end = max(call.ended_at or clock.now(), event.started_at)
        state = "cancelled" if event.kind == "transfer" and event.state == "pending" else "done"
        finish(session, event, action=f"call.{event.kind}_ended", user=None, outcome="call ended", state=state,
               at=end)
    return len(rows)


def controls_of(session: Session, *, call_id: int) -> CallControls:
    """Every control taken on the call, its hold periods and total hold time (an open period
    counts until now), and where its recording was paused."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound("There is no such call.", params={"call_id": call_id})
    close_ended(session, call=call)
    events = list(session.scalars(select(CallControlEvent).where(CallControlEvent.call_id == call_id)
                                  .order_by(CallControlEvent.id)))
    now = clock.now()

    def period(event: CallControlEvent) -> HoldPeriod:
        return HoldPeriod(kind=event.kind, started_at=event.started_at, ended_at=event.ended_at,
                          seconds=event.seconds(now), offset_seconds=event.offset_seconds)

    holds = [period(e) for e in events if e.kind == "hold"]
    pauses = [period(e) for e in events if e.kind == "recording_pause"]
    return CallControls(call_id=call_id, hold_seconds=sum(h.seconds for h in holds), holds=holds,
                        recording_pauses=pauses, events=events)


def hold_seconds(session: Session, *, call_id: int) -> int:
    """The call's time on hold, part of its handle time (reports add it per call)."""
    return controls_of(session, call_id=call_id).hold_seconds


def hold_totals(session: Session, *, call_ids: Iterable[int], now: datetime | None = None) -> dict[int, int]:
    """Seconds on hold per call, for many calls in one read (an open hold counts until now; a
    hold left open on a call that ended counts until the call's end once the sweep closes it).
    Calls never held are absent."""
    ids = list(call_ids)
    if not ids:
        return {}
    now = now or clock.now()
    totals: dict[int, int] = {}
    rows = session.execute(select(CallControlEvent.call_id, CallControlEvent.started_at, CallControlEvent.ended_at)
                           .where(CallControlEvent.call_id.in_(ids), CallControlEvent.kind == "hold"))
    for call_id, started_at, ended_at in rows:
        totals[call_id] = totals.get(call_id, 0) + max(0, int(((ended_at or now) - started_at).total_seconds()))
    return totals


@dataclass(frozen=True)
class LiveControls:
    """What the agent's desktop shows of their call's controls now."""

    on_hold_since: datetime | None
    hold_seconds: int
    recording_paused_since: datetime | None
    monitored: str | None  # listen, whisper or barge, where the site tells its agents; else None
    transfer: CallControlEvent | None  # a transfer under way


def live_controls(session: Session, *, call_id: int, announce: bool) -> LiveControls:
    """The call's open holds, pause, monitor and transfer, and its hold time so far. `announce`:
    whether the site's policy lets the agent see a monitor (telephony.monitoring decides)."""
    open_events = list(session.scalars(select(CallControlEvent).where(
        CallControlEvent.call_id == call_id, CallControlEvent.ended_at.is_(None))
        .order_by(CallControlEvent.id)))

    def first(*kinds: str, state: str | None = None) -> CallControlEvent | None:
        return next((e for e in open_events if e.kind in kinds and (state is None or e.state == state)), None)

    hold_event, pause = first("hold"), first("recording_pause")
    monitor = first("listen", "whisper", "barge", state="active") if announce else None
    return LiveControls(on_hold_since=hold_event.started_at if hold_event else None,
                        hold_seconds=hold_totals(session, call_ids=[call_id]).get(call_id, 0),
                        recording_paused_since=pause.started_at if pause else None,
                        monitored=monitor.kind if monitor else None, transfer=first("transfer"))


def close_finished_calls(session: Session, *, limit: int = 200) -> int:
    """The sweep's part: open controls of calls that have ended are closed at the call's end."""
    ids = list(session.scalars(select(CallControlEvent.call_id).where(CallControlEvent.ended_at.is_(None))
                               .distinct().limit(limit)))
    closed = 0
    for call in session.scalars(select(Call).where(Call.id.in_(ids))) if ids else []:
        closed += close_ended(session, call=call)
    return closed


def hotline_number(call: Call) -> str:
    """What a leg the hub adds shows as its caller: the hotline's number, never a customer's."""
    dialled = call.to_number if call.leg == "caller" and call.to_number and not call.to_number.startswith("client:") \
        else None
    return get_settings().twilio_caller_id or dialled or "hotline"


def leg_url(control_id: int) -> str:
    """Where Twilio reports the status of a leg a control added (transfers, monitors)."""
    return webhook_url("/twilio/controls/leg", control=control_id)
