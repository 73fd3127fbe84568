"""Lost tasks (issue 14, item 5): a worker killed mid-task, or its message lost. Every task's
effect is redone by a sweep within one interval (repair_sweep every 10 s, a task counted lost
after reconcile.GRACE): ring the agent, connect the caller, end a leg; and Redis redelivers an
unacknowledged task after minutes, not kombu's default hour."""

from __future__ import annotations

from sqlalchemy import select

from core.worker import SWEEPS, celery_config
from telephony.models import Call, QueueEntry
from telephony.tasks import repair_sweep
from tests.conftest import build_settings
from tests.factories import fresh
from tests.telephony.faults import LostTasks, lost_tasks  # noqa: F401 (fixture)
from tests.telephony.hub import Hub, available, queued_call


def test_a_lost_connect_caller_is_redone_by_the_sweep(client, sim, hub: Hub, session, lost_tasks: LostTasks) -> None:
    """Issue 14, item 5: the worker was killed during connect_caller; the caller stayed in
    Twilio's queue while the agent sat alone in the conference."""
    available(session, hub.agent)
    sid = queued_call(sim)
    with lost_tasks.dropping("telephony.connect_caller"):
        sim.phone(f"agent_{hub.agent.id}").answer()
        sim.pump()
    assert lost_tasks.lost and sim.call(sid).waiting == "queue"
    assert repair_sweep() == 0  # not late yet: the task may still be on its way
    sim.advance(10)
    assert repair_sweep() == 1
    sim.advance(3)
    assert sim.call(sid).waiting == "conference"
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call.bridged_at is not None
    assert repair_sweep() == 0


def test_a_lost_ring_is_redone_by_the_sweep(client, sim, hub: Hub, session, lost_tasks: LostTasks) -> None:
    with lost_tasks.dropping("telephony.ring_agent"):
        available(session, hub.agent)
        queued_call(sim)
    phone = sim.phone(f"agent_{hub.agent.id}")
    assert phone.ringing() == []
    sim.advance(9)
    assert repair_sweep() == 1
    sim.pump()
    assert phone.ringing()


def test_a_lost_end_leg_is_redone_by_the_sweep(client, sim, hub: Hub, session, lost_tasks: LostTasks) -> None:
    available(session, hub.agent)
    sid = queued_call(sim)
    phone = sim.phone(f"agent_{hub.agent.id}")
    assert phone.ringing()
    with lost_tasks.dropping("telephony.end_leg", "telephony.end_offer_legs"):
        sim.hangup(sid)  # the caller gives up while the agent's phone rings
        sim.pump()
    assert phone.ringing()
    sim.advance(9)
    assert repair_sweep() >= 1
    sim.pump()
    assert phone.ringing() == []
    fresh(session)
    entry = session.scalar(select(QueueEntry))
    assert entry.state == "abandoned"


def test_sweeps_repair_within_a_minute() -> None:
    for name in ("telephony.repair_sweep", "telephony.reconcile_calls", "telephony.recordings_sweep",
                 "telephony.callback_sweep", "telephony.routing_sweep"):
        assert SWEEPS[name].every_seconds <= 60, name


def test_redis_redelivers_an_unacknowledged_task_after_minutes(tmp_path, data_keys) -> None:
    settings = build_settings(tmp_path, "sqlite://", data_keys, broker_url="redis://127.0.0.1:6379/1")
    conf = celery_config(settings)
    assert conf["broker_transport_options"]["visibility_timeout"] == 600
    longer = build_settings(tmp_path, "sqlite://", data_keys, broker_url="redis://127.0.0.1:6379/1",
                            task_visibility_timeout_seconds=900)
    assert celery_config(longer)["broker_transport_options"]["visibility_timeout"] == 900
