"""Time on hold: every hold period is kept, summed per call, counted in the call's handle time
(the call facts QA reads, the floor's figures) and shown on the agent's desktop."""

from __future__ import annotations


from core.db import session_scope
from telephony import call_facts, figures, monitoring
from tests.factories import fresh
from tests.telephony.controls_helpers import bearer, connected_call, events
from tests.telephony.hub import Hub


def test_hold_periods_are_summed_and_count_in_handle_time(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    auth = bearer(session, hub.agent)
    sim.advance(10)
    assert client.post(f"/api/v1/calls/{call.id}/hold", headers=auth).status_code == 200
    sim.advance(30)
    assert client.post(f"/api/v1/calls/{call.id}/resume", headers=auth).status_code == 200
    sim.advance(20)
    assert client.post(f"/api/v1/calls/{call.id}/hold", headers=auth).status_code == 200
    sim.advance(15)
    # Live: the open hold counts until now, on the desktop and in the API.
    with session_scope() as own:
        live = monitoring.desk_controls(own, call_id=call.id)
        assert live.on_hold_since is not None and live.hold_seconds == 45
        assert call_facts.call_facts(own, call_id=call.id)["hold_seconds"] == 45
    summary = client.get(f"/api/v1/calls/{call.id}/controls", headers=auth).json()
    assert summary["hold_seconds"] == 45 and [h["ended_at"] is None for h in summary["holds"]] == [False, True]
    # The caller hangs up while on hold: that hold ends with the call, not later.
    sim.hangup(sid)
    sim.pump()
    sim.advance(100)
    [first, second] = events(session, call.id, "hold")
    assert second.ended_at is not None and second.outcome == "call ended" and second.seconds() == 15
    fresh(session)
    facts = call_facts.call_facts(session, call_id=call.id)
    assert facts["hold_seconds"] == 45
    assert facts["handle_seconds"] >= 10 + 30 + 20 + 15
    assert facts["talk_seconds"] == facts["handle_seconds"] - 45
    # Many calls in one read; a call never connected has no handle time.
    assert call_facts.handle_times(session, call_ids=[call.id, 999_999])[call.id].hold_seconds == 45
    assert 999_999 not in call_facts.handle_times(session, call_ids=[call.id, 999_999])
    # The floor's handle time runs from the answer to the end: the hold is inside it.
    today = figures.today_figures(session, zone=hub.site.timezone)
    assert today.average_handle_seconds is not None and today.average_handle_seconds >= facts["handle_seconds"]


def test_a_call_never_held_reports_no_hold_and_full_talk(client, sim, hub: Hub, session) -> None:
    call, sid = connected_call(session, sim, hub.agent)
    sim.advance(40)
    sim.hangup(sid)
    sim.pump()
    fresh(session)
    facts = call_facts.call_facts(session, call_id=call.id)
    assert facts["hold_seconds"] == 0 and facts["talk_seconds"] == facts["handle_seconds"] >= 40
    live = monitoring.desk_controls(session, call_id=call.id)
    assert live.on_hold_since is None and live.hold_seconds == 0 and live.transfer is None
    assert monitoring.desk_controls(session, call_id=999_999) is None
