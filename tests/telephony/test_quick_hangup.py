"""No caller is left alone (issue 14, item 2): an agent who hangs up within a second or two of
answering, before the caller is moved into the conference. The caller goes back to the queue
at their old place and hears one short sentence; the agent's abandonment counts as a declined
offer; nobody is shown connected to an empty conference."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

import core.worker
from telephony.bridge import ALONE_CHECK_SECONDS
from telephony.models import Call, Offer, QueueEntry
from telephony.models.routing import AgentPresence
from telephony.tasks import repair_sweep
from tests.factories import fresh
from tests.telephony.faults import LostTasks, lost_tasks  # noqa: F401 (fixture)
from tests.telephony.hub import Hub, available, queued_call
from tests.telephony.test_carrier_effects import CarrierWatch, carrier  # noqa: F401 (fixture)

RECONNECT_ZH = "与客服代表的通话中断了，正在为您重新接通，请稍候。"


def _state(session, sid: str) -> tuple[Call, QueueEntry, Offer]:
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
    offer = session.scalars(select(Offer).where(Offer.call_id == call.id).order_by(Offer.id)).first()
    return call, entry, offer


def test_agent_hangs_up_before_the_caller_is_moved_in(client, sim, hub: Hub, session, monkeypatch) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    _, entry, _ = _state(session, sid)
    waited_since, sort_key = entry.enqueued_at, entry.sort_key
    phone = sim.phone(f"agent_{hub.agent.id}")
    tasks: list[Callable[[], None]] = []
    monkeypatch.setattr(core.worker, "on_commit", lambda session, callback: tasks.append(callback))
    phone.answer()
    sim.pump()
    assert tasks, "connect_caller was enqueued"
    monkeypatch.undo()
    sim.advance(1)
    phone.hangup()  # within a second of answering: the caller never joined
    sim.pump()

    call, entry, offer = _state(session, sid)
    assert entry.state in ("waiting", "offered") and entry.enqueued_at == waited_since and entry.sort_key == sort_key
    assert offer.state == "declined" and "before the caller joined" in (offer.reason or "")
    assert session.get(AgentPresence, hub.agent.id).state in ("available", "offered")
    assert sim.call(sid).waiting == "queue"  # still in Twilio's queue, never alone in a conference
    for task in tasks:  # the late connect_caller moves nobody
        task()
    sim.pump()
    assert sim.call(sid).waiting == "queue"

    available(session, hub.other_agent)
    sim.advance(1)
    ringing = [p for p in (sim.phone(f"agent_{hub.agent.id}"), sim.phone(f"agent_{hub.other_agent.id}")) if p.ringing()]
    assert ringing
    ringing[0].answer()
    sim.advance(3)
    assert sim.call(sid).waiting == "conference"
    call, entry, _ = _state(session, sid)
    assert entry.state == "connected" and call.bridged_at is not None


def test_agent_gone_as_the_caller_is_moved_in_and_its_callback_lost(client, sim, hub: Hub, session, monkeypatch) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    _, entry, _ = _state(session, sid)
    waited_since = entry.enqueued_at
    phone = sim.phone(f"agent_{hub.agent.id}")
    tasks: list[Callable[[], None]] = []
    monkeypatch.setattr(core.worker, "on_commit", lambda session, callback: tasks.append(callback))
    leg_sid = phone.answer()
    sim.pump()
    monkeypatch.undo()
    sim.calls[leg_sid].status_callback = None  # the agent's `completed` is lost
    phone.hangup()
    sim.pump()
    for task in tasks:  # connect_caller runs now: the hub thinks the agent is still there
        task()
    sim.pump()
    sim.advance(3)

    heard = sim.heard(sid)
    assert heard.count(RECONNECT_ZH) == 1, heard
    assert sim.call(sid).alive and sim.call(sid).waiting in ("queue", None)
    call, entry, offer = _state(session, sid)
    assert call.bridged_at is None and entry.state in ("waiting", "offered") and entry.enqueued_at == waited_since
    assert offer.state == "declined"
    fresh(session)
    leg = session.scalar(select(Call).where(Call.call_sid == leg_sid))
    assert leg.status == "completed"


def _alone_in_a_new_conference(sim, hub: Hub, session, lost_tasks: LostTasks) -> str:  # noqa: ANN001, F811
    """The agent hangs up during the caller's "connecting" sentence; the caller then joins a new,
    empty conference. The check this schedules is kept in `lost_tasks.lost`, not run."""
    available(session, hub.agent)
    sid = queued_call(sim)
    phone = sim.phone(f"agent_{hub.agent.id}")
    with lost_tasks.dropping("telephony.rescue_if_alone"):
        phone.answer()
        sim.pump()  # the caller is being moved in: they hear the sentence before the conference
        call, _entry, _ = _state(session, sid)
        assert call.bridged_at is not None and sim.call(sid).waiting != "conference"
        sim.advance(1)
        phone.hangup()  # a second later, the sentence not yet over
        sim.pump()
    sim.advance(2)
    caller = sim.call(sid)
    assert caller.waiting == "conference" and list(sim.conferences[caller.conference].participants) == [sid]  # alone
    return sid


def _back_in_the_queue(sim, session, sid: str) -> None:  # noqa: ANN001
    sim.pump()
    sim.advance(3)
    assert sim.call(sid).alive and sim.call(sid).waiting == "queue"
    assert sim.heard(sid).count(RECONNECT_ZH) == 1
    _, entry, _ = _state(session, sid)
    assert entry.state in ("waiting", "offered")


def test_a_caller_moved_in_just_as_the_agent_left_is_back_in_the_queue_within_seconds(
        client, sim, hub: Hub, session, lost_tasks: LostTasks) -> None:  # noqa: F811
    """The fault run's case: the hub moved the caller in while the agent was still there, the
    agent hung up during the caller's "connecting" sentence, and the caller then joined a new,
    empty conference. No callback tells the hub (the conference that ended was not the caller's
    yet); the reconcile sweep found them only after its grace and its period (up to a minute
    under load). The agent's leg ending now schedules a check of that caller a few seconds on."""
    sid = _alone_in_a_new_conference(sim, hub, session, lost_tasks)
    checks = lost_tasks.lost  # one when the caller was moved in, one when the agent's leg ended
    assert len(checks) == 2 and {c.__self__.options["countdown"] for c in checks} == {ALONE_CHECK_SECONDS}
    sim.advance(ALONE_CHECK_SECONDS - 2)
    for check in checks:
        check()
    _back_in_the_queue(sim, session, sid)


def test_a_caller_left_alone_whose_check_was_lost_is_rescued_by_the_repair_sweep(
        client, sim, hub: Hub, session, lost_tasks: LostTasks) -> None:  # noqa: F811
    """The check was lost (the fault run: Redis restarted just then); the repair sweep, every ten
    seconds, rescues a caller unheard of since the agent's leg ended a few seconds ago."""
    sid = _alone_in_a_new_conference(sim, hub, session, lost_tasks)
    assert lost_tasks.lost  # never run
    sim.advance(ALONE_CHECK_SECONDS - 2)
    assert repair_sweep() >= 1
    _back_in_the_queue(sim, session, sid)


def _alone_and_unheard_of(sim, hub: Hub, session, lost_tasks: LostTasks) -> tuple[str, str]:  # noqa: ANN001, F811
    """As above, and the agent's `completed` never reaches the hub (dropped, or sent to the web
    process being killed): the hub still has the agent on the call, and no check of the caller
    is scheduled by the leg's end. The check the caller's move-in schedules is kept in
    `lost_tasks.lost`, not run."""
    available(session, hub.agent)
    sid = queued_call(sim)
    phone = sim.phone(f"agent_{hub.agent.id}")
    with lost_tasks.dropping("telephony.rescue_if_alone"):
        leg_sid = phone.answer()
        sim.pump()
        call, _entry, _ = _state(session, sid)
        assert call.bridged_at is not None and sim.call(sid).waiting != "conference"
        sim.advance(1)
        sim.calls[leg_sid].status_callback = None  # the agent's `completed` is lost
        phone.hangup()
        sim.pump()
    sim.advance(2)
    caller = sim.call(sid)
    assert caller.waiting == "conference" and list(sim.conferences[caller.conference].participants) == [sid]  # alone
    fresh(session)
    assert session.scalar(select(Call).where(Call.call_sid == leg_sid)).status == "in-progress"  # as far as the hub knows
    return sid, leg_sid


def _agent_leg_ended(session, leg_sid: str) -> None:  # noqa: ANN001
    fresh(session)
    leg = session.scalar(select(Call).where(Call.call_sid == leg_sid))
    assert leg.status == "completed"
    assert session.get(AgentPresence, leg.agent_id).current_call_id is None


def test_a_caller_moved_in_just_as_the_agent_left_is_back_in_the_queue_though_the_agents_end_was_lost(
        client, sim, hub: Hub, session, lost_tasks: LostTasks) -> None:  # noqa: F811
    """The short fault run's stranded caller: the agent hung up during the caller's "connecting"
    sentence and the leg's `completed` was lost. The check of a caller left alone was scheduled
    only by that callback, and the repair sweep looked only at agent legs the hub knew had ended:
    the caller sat alone until the reconcile sweep found the agent's leg silent (30 s in the fault
    run, four minutes by default). Moving the caller in now schedules the check too; it asks
    Twilio about the agent's leg, and finding it ended, sends the caller back to the queue."""
    sid, leg_sid = _alone_and_unheard_of(sim, hub, session, lost_tasks)
    [check] = lost_tasks.lost  # scheduled when the caller was moved in
    assert check.__self__.options["countdown"] == ALONE_CHECK_SECONDS
    sim.advance(ALONE_CHECK_SECONDS - 3)
    check()
    _back_in_the_queue(sim, session, sid)
    _agent_leg_ended(session, leg_sid)


def test_a_caller_moved_in_just_as_the_agent_left_unheard_of_and_whose_check_was_lost_is_rescued_by_the_sweep(
        client, sim, hub: Hub, session, lost_tasks: LostTasks) -> None:  # noqa: F811
    """The same, and the check was lost too (the worker holding it killed, or Redis restarted):
    the repair sweep, every ten seconds, asks about the agent's leg of a caller moved in a few
    seconds ago whose agent nobody has confirmed since."""
    sid, leg_sid = _alone_and_unheard_of(sim, hub, session, lost_tasks)
    sim.advance(ALONE_CHECK_SECONDS - 3)
    assert repair_sweep() >= 1
    _back_in_the_queue(sim, session, sid)
    _agent_leg_ended(session, leg_sid)


def test_a_caller_moved_in_to_an_agent_who_is_there_is_left_talking(
        client, sim, hub: Hub, session, lost_tasks: LostTasks, carrier: CarrierWatch) -> None:  # noqa: F811
    """The check after the move-in, run and repeated by the sweep, leaves a real conversation
    alone; and asks Twilio nothing: the caller's join and the agent's were reported for the same
    conference (before, every call's check fetched the agent's leg from Twilio and wrote its
    check: a REST request and some eight statements a call)."""
    available(session, hub.agent)
    sid = queued_call(sim)
    with lost_tasks.dropping("telephony.rescue_if_alone"):
        leg_sid = sim.phone(f"agent_{hub.agent.id}").answer()
        sim.pump()
    sim.advance(3)
    assert sim.call(sid).waiting == "conference"
    [check] = lost_tasks.lost
    sim.advance(ALONE_CHECK_SECONDS - 3)
    carrier.requests.clear()  # the caller's join asked about the agent's leg: the checks count from here
    check()
    sim.advance(ALONE_CHECK_SECONDS)
    assert repair_sweep() == 0
    assert carrier.made("GET", f"/Calls/{leg_sid}.json") == []
    caller = sim.call(sid)
    assert caller.waiting == "conference" and len(sim.conferences[caller.conference].participants) == 2
    assert sim.heard(sid).count(RECONNECT_ZH) == 0


def test_a_caller_left_alone_past_the_repair_sweeps_window_is_found_by_the_agents_silence(
        client, sim, hub: Hub, session, lost_tasks: LostTasks) -> None:  # noqa: F811
    """The check and every repair pass within UNCONFIRMED_WINDOW lost (beat down for minutes): the
    repair sweep no longer weighs that caller, but the reconcile sweep finds the agent's leg
    silent for HOTLINE_RECONCILE_IN_CALL_SECONDS, learns from Twilio that it ended, and the
    caller is sent back to the queue."""
    from telephony import reconcile
    from telephony.tasks import reconcile_sweep

    sid, leg_sid = _alone_and_unheard_of(sim, hub, session, lost_tasks)
    fresh(session)
    caller_id = session.scalar(select(Call.id).where(Call.call_sid == sid))
    fresh(session)
    sim.advance(ALONE_CHECK_SECONDS - 3)
    assert reconcile.unconfirmed_joins(fresh(session)) == [caller_id]  # the repair sweep would ask now
    fresh(session)
    sim.advance(reconcile.UNCONFIRMED_WINDOW.total_seconds())
    assert reconcile.unconfirmed_joins(fresh(session)) == []
    fresh(session)
    sim.advance(240)
    lost_tasks.lost.clear()
    with lost_tasks.dropping("telephony.rescue_if_alone"):  # kept, to run when its countdown is over
        assert reconcile_sweep() >= 1
    [check] = lost_tasks.lost  # scheduled by the leg's end, learnt from Twilio
    sim.advance(ALONE_CHECK_SECONDS)
    check()
    _back_in_the_queue(sim, session, sid)
    _agent_leg_ended(session, leg_sid)
