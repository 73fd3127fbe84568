"""A whole call through the real app and the simulated carrier: dialled, chosen, queued,
routed, answered, recorded on two channels, hung up, and the recording copied then deleted."""

from __future__ import annotations

import hashlib
import io
import wave

from sqlalchemy import select

from core.storage import get_storage
from telephony.models import Call, Recording
from tests.factories import fresh
from tests.telephony.hub import CALLER, Hub, available
from tickets import service as ticket_service


def test_call_is_routed_answered_recorded_and_closed(client, sim, hub: Hub, session, clock) -> None:
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    assert any("hotline" in line.lower() or "热线" in line for line in sim.heard(sid))
    assert sim.press(sid, "1")
    sim.pump()
    phone = sim.phone(f"agent_{hub.agent.id}")
    assert phone.ringing(), sim.heard(sid)
    phone.answer()
    sim.pump()
    sim.advance(45)
    assert any("[joined" in line for line in sim.heard(sid))
    sim.hangup(sid)
    sim.pump()

    caller = sim.call(sid)
    assert caller.status == "completed"
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call is not None and call.status == "completed" and call.agent_id == hub.agent.id
    assert call.ticket_id is not None and call.menu_choice == "inquiry"
    recording = session.scalar(select(Recording).where(Recording.call_id == call.id))
    assert recording is not None and recording.status == "completed" and recording.channels == 2
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is not None
    data = get_storage().get(recording.media_key)
    assert hashlib.sha256(data).hexdigest() == recording.sha256
    with wave.open(io.BytesIO(data)) as audio:
        assert audio.getnchannels() == 2
    assert sim.recordings[recording.recording_sid].deleted
    refs = [r.recording_ref for r in ticket_service.recordings_of(session, ticket_id=call.ticket_id)]
    assert refs == [recording.recording_sid]
