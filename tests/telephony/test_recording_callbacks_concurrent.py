"""Two deliveries of one recording status callback at the same instant (Twilio sends a callback
again; the fault run's `concurrent` fault does it on purpose): a duplicate is ignored quietly.
Both answered 204, one attached the recording, one effect. Before, the second answered 409: both
read the recording as not yet attached and both inserted its reference on the ticket; the
second's insert broke the reference's unique index once the first committed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from telephony import recordings
from telephony.models import Recording
from tests.conftest import pg_only
from tests.factories import fresh
from tests.telephony.faults import LostTasks, lost_tasks  # noqa: F401 (fixture)
from tests.telephony.hub import post_webhook, voice_params
from tests.telephony.test_lock_order import Writer, holder, wait_until_blocked  # noqa: F401 (fixture)
from tickets.models.tickets import TicketEvent, TicketRecording

pytestmark = pg_only()

RECORDING = "RE" + "c" * 32


def _callback(params: dict[str, str], status: str) -> dict[str, str]:
    return {"AccountSid": params["AccountSid"], "CallSid": params["CallSid"], "RecordingSid": RECORDING,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{params['AccountSid']}/Recordings/"
                            f"{RECORDING}", "RecordingStatus": status, "RecordingChannels": "2",
            "RecordingSource": "StartCallRecordingTwiML", "RecordingDuration": "40" if status == "completed" else "-1",
            "ErrorCode": "0"}


@pytest.mark.parametrize("first_heard", [True, False], ids=["after-in-progress", "first-callback"])
def test_a_recording_callback_delivered_twice_at_once_is_ignored_the_second_time(
        client, hub, session, engine: Engine, holder: Session, lost_tasks: LostTasks,  # noqa: F811
        first_heard: bool) -> None:
    params = voice_params()
    post_webhook(client, "/twilio/voice", params)
    post_webhook(client, "/twilio/menu", {**params, "Digits": "1"})  # a ticket for the call
    if first_heard:
        assert post_webhook(client, "/twilio/recording?kind=call", _callback(params, "in-progress")).status_code == 204
    completed = _callback(params, "completed")
    with lost_tasks.dropping("telephony.copy_recording"):
        # The first delivery has done its work and not committed yet.
        recordings.on_callback(holder, params=completed, kind="call")
        holder.flush()
        second = Writer(lambda _own: post_webhook(client, "/twilio/recording?kind=call", completed))
        second.start()
        wait_until_blocked(engine, second)
        holder.commit()
        second.join(30)
    assert second.error is None, second.error
    assert second.result.status_code == 204, second.result.text  # type: ignore[attr-defined]
    fresh(session)
    recording = session.scalar(select(Recording).where(Recording.recording_sid == RECORDING))
    assert recording is not None and recording.status == "completed" and recording.attached_at is not None
    assert session.scalar(select(func.count()).select_from(TicketRecording)) == 1
    assert session.scalar(select(func.count()).select_from(TicketEvent)
                          .where(TicketEvent.kind == "recording_attached")) == 1
    # One copy asked for: by the delivery that completed the recording.
    assert [tuple(c.__self__.get("args")) for c in lost_tasks.lost] == [(recording.id,)]
