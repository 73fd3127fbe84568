"""Monitor, whisper and barge: a team leader (their own site's calls) or a supervisor and above
joins the call's conference from their browser phone muted (listen), coaching the agent only
(whisper) or as a full party (barge). Every use is audited; the agent's desktop is told, where
the site's call policy says so (the default). Twilio is asked with no transaction open, under the
call's controls claim (telephony.controls)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import clock, organisation, permissions
from core.errors import NOT_ALLOWED_VALUE, NotFound, PermissionDenied, ValidationFailed
from core.events import publish
from core.models import User
from telephony.controls import (
    CONTROL_LEASE,
    ControlRefused,
    LiveControls,
    agent_leg,
    ask_twilio,
    audited,
    claim_controls,
    conference_key,
    finish,
    hotline_number,
    leg_url,
    live_call,
    live_controls,
    may_supervise,
    record_control,
    release_controls,
)
from telephony.gateway import get_gateway
from telephony.legs import agent_identity
from telephony.models import Call
from telephony.models.controls import CallControlEvent, CallSitePolicy

__all__ = ["MODES", "announces_monitoring", "desk_controls", "monitor", "on_leg_status", "set_site_policy"]

MODES = ("listen", "whisper", "barge")


def _participant(mode: str, coach_sid: str | None) -> dict[str, object]:
    if mode == "listen":
        return {"muted": True, "coaching": False}
    if mode == "whisper":
        return {"muted": False, "coaching": True, "call_sid_to_coach": coach_sid}
    return {"muted": False, "coaching": False}


def announces_monitoring(session: Session, *, site_id: int | None) -> bool:
    if site_id is None:
        return True
    policy = session.get(CallSitePolicy, site_id)
    return True if policy is None else policy.announce_monitoring


def desk_controls(session: Session, *, call_id: int) -> LiveControls | None:
    """The controls the agent's desktop shows on their call: hold (and the call's hold time),
    a paused recording, a transfer under way, and a leader monitoring it where the call's site
    tells its agents (the default). None for no such call."""
    call = session.get(Call, call_id)
    if call is None:
        return None
    return live_controls(session, call_id=call.id, announce=announces_monitoring(session, site_id=call.site_id))


def set_site_policy(session: Session, *, site_id: int, announce_monitoring: bool, by: User) -> CallSitePolicy:
    """Administrators decide per site whether agents are told they are being monitored."""
    if not permissions.allowed(by.role, permissions.ADMINS):
        raise PermissionDenied("Only an administrator sets a site's call policy.")
    try:
        organisation.get_site(session, site_id=site_id)
    except NotFound:
        raise ValidationFailed("There is no such site.", field="site_id") from None
    policy = session.get(CallSitePolicy, site_id) or CallSitePolicy(site_id=site_id)
    policy.announce_monitoring, policy.updated_by_id, policy.updated_at = announce_monitoring, by.id, clock.now()
    session.add(policy)
    session.flush()
    return policy


def _announce(session: Session, call: Call, event: CallControlEvent, *, mode: str | None) -> None:
    if not announces_monitoring(session, site_id=call.site_id) or call.agent_id is None:
        return
    publish(session, "call.monitored", {"call_id": call.id, "mode": mode, "by_id": event.actor_id,
                                        "control_id": event.id}, user_id=call.agent_id)


def _current(session: Session, call: Call, user: User) -> CallControlEvent | None:
    return session.scalars(select(CallControlEvent).where(
        CallControlEvent.call_id == call.id, CallControlEvent.actor_id == user.id,
        CallControlEvent.kind.in_(MODES), CallControlEvent.ended_at.is_(None))
        .order_by(CallControlEvent.id.desc()).limit(1)).first()


def monitor(session: Session, *, call_id: int, user: User, mode: str, source_ip: str | None = None) -> CallControlEvent:
    """Join the call as `mode`; a leader already on it switches mode without a new leg."""
    if mode not in MODES:
        raise ValidationFailed(NOT_ALLOWED_VALUE, field="mode", params={"value": mode, "known": list(MODES)})
    if not permissions.allowed(user.role, permissions.TEAM_LEADERS):
        raise PermissionDenied("Only team leaders, supervisors and above can listen to, whisper on or join a call.")
    call = live_call(session, call_id=call_id, lock=True)
    if not may_supervise(user, call):
        raise PermissionDenied("A team leader can monitor only the calls of their own site.")
    if user.id == call.agent_id:
        raise ControlRefused("You are the agent on this call.")
    coached = agent_leg(session, call)
    if mode == "whisper" and coached is None:
        raise ControlRefused("No agent is on this call to whisper to.")
    changes = _participant(mode, coached.call_sid if coached else None)
    current = _current(session, call, user)
    if current is not None and _lapsed(current):
        # Its request died before Twilio made the leg: nothing rings for it.
        finish(session, current, action=f"call.{current.kind}_ended", user=None, outcome="not rung", state="failed")
        current = None
    if current is not None and current.state == "pending":
        raise ControlRefused("Your phone is ringing for this call: answer it first, then change the mode.")
    claim_controls(session, call)
    if current is not None:
        sid, current_id = current.participant_sid or "", current.id
        ask_twilio(session, call.id, f"switch you to {mode}", lambda: get_gateway().update_participant(
            conference_key(call), sid, **changes))
        current = session.get(CallControlEvent, current_id, populate_existing=True)
        if current is not None and current.ended_at is None:
            finish(session, current, action=f"call.{current.kind}_ended", user=user, outcome=f"switched to {mode}",
                   source_ip=source_ip)
        event = record_control(session, call=call, kind=mode, user=user, source_ip=source_ip,
                               action=f"call.{mode}", participant_sid=sid)
        _announce(session, call, event, mode=mode)
        release_controls(session, call.id)
        return event
    # The leg's status callback names the control, so its row is written with the claim; it is
    # audited once Twilio has made the leg, and removed if Twilio refuses.
    event = CallControlEvent(call_id=call.id, kind=mode, actor_id=user.id, state="pending", started_at=clock.now())
    session.add(event)
    session.flush()
    event_id = event.id

    def forget(s: Session) -> None:
        s.execute(delete(CallControlEvent).where(CallControlEvent.id == event_id))

    identity = agent_identity(user.id)
    sid = ask_twilio(session, call.id, "ring your phone into the call", lambda: get_gateway().add_conference_leg(
        conference_key(call), from_=hotline_number(call), to=f"client:{identity}", label=f"{mode}-{user.id}",
        status_callback=leg_url(event_id), **changes), undo=forget)  # type: ignore[arg-type]
    event = session.get(CallControlEvent, event_id, populate_existing=True) or event
    event.participant_sid = sid
    session.flush()
    audited(session, event, f"call.{mode}", user=user, source_ip=source_ip)
    release_controls(session, call.id)
    return event


def _lapsed(event: CallControlEvent) -> bool:
    """A monitor whose request died between its claim and Twilio's answer (no leg recorded)."""
    return (event.state == "pending" and event.participant_sid is None
            and event.started_at <= clock.now() - CONTROL_LEASE)


def on_leg_status(session: Session, *, event: CallControlEvent, status: str) -> None:
    """The leader's leg joined (the monitoring starts, and the agent is told) or ended."""
    call = session.get(Call, event.call_id)
    if call is None:
        return
    if status == "in-progress" and event.state == "pending":
        event.state = "active"
        session.flush()
        _announce(session, call, event, mode=event.kind)
    elif status in ("completed", "busy", "no-answer", "failed", "canceled") and event.ended_at is None:
        joined = event.state == "active"
        finish(session, event, action=f"call.{event.kind}_ended", user=None,
               outcome="left the call" if joined else f"not answered ({status})", state="done" if joined else "failed")
        if joined:
            _announce(session, call, event, mode=None)
