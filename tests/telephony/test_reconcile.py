"""Reconciliation through Twilio's REST API (issue 14, item 4): webhooks lost while the web
process was down are repaired in about a minute, not half an hour; a caller who hung up unheard
is never offered to an agent (no ringing, nobody set away); a recording whose callbacks were
lost is looked up, copied, attached and deleted at Twilio."""

from __future__ import annotations

import threading

from sqlalchemy import select

from telephony.models import Call, Offer, QueueEntry, Recording
from telephony.models.routing import AgentPresence
from telephony.simulator.faults import FaultPlan, Faults
from telephony.tasks import reconcile_sweep, routing_sweep
from tests.factories import fresh
from tests.telephony.faults import LostTasks, hub_down, lost_tasks, webhooks_lost  # noqa: F401 (fixture)
from tests.telephony.hub import Hub, available, queued_call
from tickets import service as ticket_service


def _call(session, sid: str) -> Call:
    fresh(session)
    return session.scalar(select(Call).where(Call.call_sid == sid))


def test_a_queued_caller_who_hung_up_unheard_is_ended_within_a_minute_and_a_half(client, sim, hub, session) -> None:
    sid = queued_call(sim)
    sim.advance(10)
    with hub_down(sim):
        sim.hangup(sid)
        sim.pump()
    call = _call(session, sid)
    assert call.status == "in-progress"
    sim.advance(30)
    reconcile_sweep()
    assert _call(session, sid).status == "in-progress"  # not silent for long enough yet
    sim.advance(45)
    assert reconcile_sweep() >= 1
    call = _call(session, sid)
    assert call.status == "completed"
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
    assert entry.state == "abandoned"


def test_no_offer_is_made_to_a_caller_whose_hang_up_callbacks_were_both_lost(client, sim, hub: Hub, session) -> None:
    # The caller hangs up in the queue; the carrier loses both callbacks of it (the `completed`
    # status and the queue's `hangup` result). Once an agent is free the hub asks Twilio about
    # the silent caller before any offer: no offer is made at all, the entry is closed.
    sid = queued_call(sim)
    sim.advance(5)
    with hub_down(sim):
        sim.hangup(sid)
        sim.pump()
    sim.advance(70)  # silent longer than HOTLINE_QUEUE_ALIVE_SECONDS; no sweep ran yet
    available(session, hub.agent)
    sim.pump()
    fresh(session)
    assert session.scalar(select(Offer)) is None
    routing_sweep()  # asks Twilio about the silent caller at the head of the queue
    sim.pump()
    fresh(session)
    assert session.scalar(select(Offer)) is None
    assert sim.phone(f"agent_{hub.agent.id}").ringing() == []
    call = _call(session, sid)
    assert call.status == "completed"
    entry = session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
    assert entry.state == "abandoned" and entry.ended_at is not None
    assert session.get(AgentPresence, hub.agent.id).state == "available"


def test_a_caller_heard_by_the_wait_url_is_offered_without_asking_twilio(client, sim, hub: Hub, session) -> None:
    sid = queued_call(sim)
    sim.advance(70)  # the wait URL is requested again and again meanwhile
    available(session, hub.agent)
    sim.pump()
    assert sim.phone(f"agent_{hub.agent.id}").ringing()
    assert _call(session, sid).last_checked_at is None


def test_a_live_queued_caller_is_checked_and_still_offered(client, sim, hub: Hub, session, clock) -> None:
    sid = queued_call(sim)
    call = _call(session, sid)
    # No wait-URL request for a while (Twilio's are not guaranteed either): not offered until
    # the routing sweep has asked Twilio; alive, so offered then.
    clock.advance(seconds=70)
    available(session, hub.agent)
    sim.pump()
    assert sim.phone(f"agent_{hub.agent.id}").ringing() == []
    routing_sweep()
    sim.pump()
    assert sim.phone(f"agent_{hub.agent.id}").ringing()
    assert _call(session, sid).last_checked_at is not None and call.status == "in-progress"


def test_a_call_whose_end_was_lost_frees_its_agent_after_the_in_call_threshold(client, sim, hub: Hub, session) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.advance(5)
    with hub_down(sim):
        sim.hangup(sid)
        sim.pump()
    assert _call(session, sid).status == "in-progress"
    sim.advance(200)
    reconcile_sweep()
    assert _call(session, sid).status == "in-progress"
    sim.advance(60)
    reconcile_sweep()
    assert _call(session, sid).status == "completed"
    fresh(session)
    assert session.get(AgentPresence, hub.agent.id).state in ("wrap_up", "available")
    legs = session.scalars(select(Call).where(Call.leg == "agent")).all()
    assert [leg.status for leg in legs] == ["completed"]


def test_a_recording_whose_callbacks_were_lost_is_copied_attached_and_deleted(client, sim, hub: Hub, session) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.advance(5)
    [rsid] = [r for r in sim.recordings if sim.recordings[r].call_sid == sid]
    sim.recordings[rsid].status_callback = None  # its completed callback is lost
    sim.advance(30)
    sim.hangup(sid)
    sim.pump()
    fresh(session)
    recording = session.scalar(select(Recording).where(Recording.recording_sid == rsid))
    assert recording.status == "in-progress" and recording.copied_at is None
    sim.advance(130)
    reconcile_sweep()
    fresh(session)
    recording = session.scalar(select(Recording).where(Recording.recording_sid == rsid))
    assert recording.status == "completed" and recording.copied_at is not None
    assert recording.deleted_at_twilio_at is not None and sim.recordings[rsid].deleted
    call = _call(session, sid)
    refs = [r.recording_ref for r in ticket_service.recordings_of(session, ticket_id=call.ticket_id)]
    assert refs == [rsid]


def _recording(session, rsid: str) -> Recording | None:
    fresh(session)
    return session.scalar(select(Recording).where(Recording.recording_sid == rsid))


def _talk_with_every_recording_callback_lost(sim, hub: Hub, session) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A caller talks to the agent for 30 s and hangs up; the carrier records the call
    (`<Start><Recording>`) but every one of the recording's status callbacks is lost: the hub
    never hears of the recording at all."""
    available(session, hub.agent)
    with webhooks_lost(sim, "/twilio/recording") as lost:
        sid = queued_call(sim)
        sim.phone(f"agent_{hub.agent.id}").answer()
        sim.advance(30)
        sim.hangup(sid)
        sim.pump()
    [rsid] = [r for r in sim.recordings if sim.recordings[r].call_sid == sid]
    assert sim.recordings[rsid].source == "StartCallRecordingTwiML" and sim.recordings[rsid].status == "completed"
    assert {p["RecordingStatus"] for p in lost} == {"in-progress", "completed"}
    return sid, rsid


def _done(session, sid: str, rsid: str, sim) -> None:  # type: ignore[no-untyped-def]
    """The recording is known, copied, on the call's ticket, and deleted at the carrier."""
    recording = _recording(session, rsid)
    assert recording is not None, "the hub never learnt of the recording"
    assert recording.status == "completed" and recording.kind == "call"
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is not None
    assert sim.recordings[rsid].deleted
    call = _call(session, sid)
    assert recording.call_id == call.id and recording.ticket_id == call.ticket_id
    refs = [r.recording_ref for r in ticket_service.recordings_of(session, ticket_id=call.ticket_id)]
    assert refs == [rsid]
    assert call.recordings_listed_at is not None


def test_a_recording_whose_every_callback_was_lost_is_found_when_its_call_ends(
        client, sim, hub: Hub, session) -> None:
    """The fault run's last violation: a `<Start><Recording>` recording all of whose callbacks
    were lost was never known to the hub (it learnt of recordings only from callbacks), so it
    was never copied, attached or deleted at Twilio. The call's end asks Twilio for the call's
    recordings, and registers the one it did not know."""
    sid, rsid = _talk_with_every_recording_callback_lost(sim, hub, session)
    _done(session, sid, rsid, sim)


def test_a_lost_listing_is_done_by_the_reconcile_sweep(client, sim, hub: Hub, session, clock,
                                                       lost_tasks: LostTasks) -> None:  # noqa: F811
    """The listing the call's end asks for is lost too (its worker killed): the reconcile sweep
    lists the recordings of calls ended recently that nobody has listed, once the task is late."""
    with lost_tasks.dropping("telephony.list_recordings"):
        sid, rsid = _talk_with_every_recording_callback_lost(sim, hub, session)
    assert _recording(session, rsid) is None
    assert _call(session, sid).recordings_listed_at is None
    reconcile_sweep()
    assert _recording(session, rsid) is None  # the task may still be on its way
    clock.advance(seconds=15)
    reconcile_sweep()
    _done(session, sid, rsid, sim)
    listed = _call(session, sid).recordings_listed_at
    clock.advance(seconds=15)
    reconcile_sweep()  # listed once: not asked again
    assert _call(session, sid).recordings_listed_at == listed


def test_a_listing_twilio_refuses_is_asked_again_at_the_next_sweep(client, sim, hub: Hub, session, clock,
                                                                  lost_tasks: LostTasks) -> None:  # noqa: F811
    """Too many requests (429, after the gateway's retries) or a failing answer (500) leaves the
    call unlisted; the next sweep asks again."""
    from telephony.gateway import get_gateway

    with lost_tasks.dropping("telephony.list_recordings"):
        sid, rsid = _talk_with_every_recording_callback_lost(sim, hub, session)
    slept: list[float] = []
    get_gateway().sleep = slept.append  # the gateway's backoff between its retries
    clock.advance(seconds=15)
    sim.fail_next(method="GET", path_contains="/Recordings.json", status=429, code=20429, times=4,
                  message="Too Many Requests")
    reconcile_sweep()
    assert _recording(session, rsid) is None and _call(session, sid).recordings_listed_at is None
    sim.fail_next(method="GET", path_contains="/Recordings.json", status=500, code=20500, times=4)
    clock.advance(seconds=15)
    reconcile_sweep()
    assert _recording(session, rsid) is None and _call(session, sid).recordings_listed_at is None
    clock.advance(seconds=15)
    reconcile_sweep()
    _done(session, sid, rsid, sim)
    assert len(slept) == 6  # each refused listing was retried three times before it was left


def test_the_sweep_lists_only_recent_calls_and_a_bounded_number_at_a_time(
        client, sim, hub: Hub, session, clock, lost_tasks: LostTasks) -> None:  # noqa: F811
    from telephony import reconcile

    with lost_tasks.dropping("telephony.list_recordings"):
        sid, _rsid = _talk_with_every_recording_callback_lost(sim, hub, session)
    call = _call(session, sid)
    assert reconcile.unlisted_calls(session) == []  # within the task's grace
    clock.advance(seconds=15)
    assert reconcile.unlisted_calls(session) == [call.id]
    assert reconcile.unlisted_calls(session, limit=0) == []
    clock.advance(reconcile.LIST_RECORDINGS_WINDOW)
    assert reconcile.unlisted_calls(session) == []  # too old to ask about


def test_a_caller_whose_hang_up_was_lost_ends_when_the_move_in_is_refused(client, sim, hub: Hub, session) -> None:
    """The fault run's case: the caller's hang-up was lost, an agent answered, and moving the
    caller in failed with Twilio's 21220 ("Call is not in-progress") at every repair sweep while
    the hub kept the call open. That refusal is the carrier saying the caller has gone: the call
    is settled from Twilio's own record at once and the agent's leg ended."""
    sid = queued_call(sim)
    available(session, hub.agent)
    sim.pump()
    phone = sim.phone(f"agent_{hub.agent.id}")
    assert phone.ringing()
    with hub_down(sim):
        sim.hangup(sid)
        sim.pump()
    assert _call(session, sid).status == "in-progress"  # the hub has not heard
    phone.answer()
    sim.pump()
    call = _call(session, sid)
    assert call.status == "completed" and call.ended_at is not None
    leg = session.scalar(select(Call).where(Call.leg == "agent"))
    assert leg is not None and leg.status == "completed"
    assert session.get(AgentPresence, hub.agent.id).state != "on_call"


def test_the_sweep_asks_twilio_with_no_transaction_open(client, sim, hub: Hub, session,
                                                        lost_tasks: LostTasks) -> None:  # noqa: F811
    """While the reconcile sweep waits for Twilio's answer about a call, other writers go on: the
    call's own late callback is written at once (on SQLite a write transaction held across the
    REST call blocked every writer; on PostgreSQL the call's row lock blocked its callbacks). The
    answer, applied afterwards under the state machine, moves nothing backwards."""
    sid = queued_call(sim)
    sim.advance(10)
    with hub_down(sim):
        sim.hangup(sid)
        sim.pump()
    sim.advance(75)  # silent longer than the queue allows: the sweep asks Twilio about it
    asking, answer = threading.Event(), threading.Event()

    def twilio_thinks(_seconds: float) -> None:  # every REST answer waits until the test says
        asking.set()
        answer.wait(30)

    sim.faults = Faults(FaultPlan(rest_slow=1.0), sleep=twilio_thinks)
    sweep = threading.Thread(target=reconcile_sweep, name="reconcile-sweep")
    sweep.start()
    try:
        assert asking.wait(10), "the sweep never asked Twilio"
        carrier_call = sim.calls[sid]
        params = sim.call_params(carrier_call, CallbackSource="call-progress-events",
                                 CallDuration=str(carrier_call.duration()))
        late = threading.Thread(target=sim.post, name="late-callback", args=(carrier_call.status_callback, params))
        # (The listing of its recordings the call's end asks for would run here too: tasks run
        # eagerly in these tests, in the committing thread, and every REST answer waits.)
        with lost_tasks.dropping("telephony.list_recordings"):
            late.start()
            late.join(10)
        assert not late.is_alive(), "the callback waited for the sweep's REST call"
        assert sim.webhooks[-1][2] < 300
        call = _call(session, sid)
        assert call.status == "completed"  # written by the callback: the sweep is still waiting
        assert session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id)).state == "abandoned"
    finally:
        answer.set()
        sweep.join(30)
        sim.faults = None
    assert not sweep.is_alive()
    call = _call(session, sid)
    assert call.status == "completed" and call.ended_at is not None
    assert session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id)).state == "abandoned"


def test_a_caller_sent_back_to_the_queue_is_not_counted_as_heard(client, sim, hub: Hub, session, monkeypatch) -> None:
    """The agent answered, the caller hung up before being moved in (both their callbacks lost),
    and the agent then hung up too: the caller goes back to the queue, but the hub has not heard
    from them since their last wait-URL request. Being sent back is not a sign of life, so the
    next free agent is not offered them until Twilio has been asked (seen in a fault run on an
    overloaded machine: offers to callers silent for 13-35 s, the threshold 10 s)."""
    import core.worker

    available(session, hub.agent)
    sid = queued_call(sim)
    phone = sim.phone(f"agent_{hub.agent.id}")
    held: list[object] = []
    monkeypatch.setattr(core.worker, "on_commit", lambda session, callback: held.append(callback))
    phone.answer()  # the move-in is enqueued, and held
    sim.pump()
    monkeypatch.undo()
    assert held
    with hub_down(sim):
        sim.hangup(sid)
        sim.pump()
    sim.advance(70)  # longer than HOTLINE_QUEUE_ALIVE_SECONDS since the caller's last sign of life
    available(session, hub.other_agent)
    phone.hangup()  # the agent leaves before the caller was moved in: the caller is sent back
    sim.pump()
    fresh(session)
    call = _call(session, sid)
    offers = session.scalars(select(Offer).where(Offer.call_id == call.id).order_by(Offer.id)).all()
    assert [o.state for o in offers] == ["declined"], [(o.user_id, o.state) for o in offers]
    assert not sim.phone(f"agent_{hub.other_agent.id}").ringing()
    routing_sweep()  # asks Twilio first: the caller has gone, so the entry is closed, never offered
    sim.pump()
    fresh(session)
    assert _call(session, sid).status == "completed"
    assert session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id)).state == "abandoned"
    assert len(session.scalars(select(Offer).where(Offer.call_id == call.id)).all()) == 1
