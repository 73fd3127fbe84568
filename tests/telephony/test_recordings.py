"""Recordings: repeated and reordered callbacks, the copy into the hotline's storage (checked,
then deleted at Twilio, retried with backoff when Twilio fails), and listening with Range,
only for those allowed, every listen audited."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import config
from core.audit import entries_for
from core.storage import get_storage
from core.worker import build_beat_schedule
from telephony import recordings
from telephony.models import Recording
from telephony.simulator.faults import FaultPlan, Faults
from telephony.tasks import copy_recording_task, recordings_sweep
from tests.conftest import s3_settings
from tests.factories import fresh, make_api_token, make_user
from tests.telephony.faults import LostTasks, lost_tasks  # noqa: F401 (fixture)
from tests.telephony.hub import CALLER, Hub, available, post_webhook, voice_params
from tickets.models.tickets import TicketRecording


@pytest.fixture(params=["filesystem", "s3"])
def storage_overrides(request: pytest.FixtureRequest) -> dict[str, object]:
    """Every test here runs on both storage backends."""
    return s3_settings(request.getfixturevalue("s3_endpoint")) if request.param == "s3" else {}


def _recorded_call(sim, hub: Hub, session) -> tuple[str, Recording]:  # type: ignore[no-untyped-def]
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.advance(30)
    sim.hangup(sid)
    sim.pump()
    fresh(session)
    recording = session.scalar(select(Recording).where(Recording.kind == "call"))
    assert recording is not None
    return sid, recording


def _callback(params: dict[str, str], recording_sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": params["AccountSid"], "CallSid": params["CallSid"], "RecordingSid": recording_sid,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{params['AccountSid']}/Recordings/"
                            f"{recording_sid}", "RecordingStatus": status, "RecordingChannels": "2",
            "RecordingSource": "StartCallRecordingTwiML", "ErrorCode": "0", **extra}


def test_repeated_and_reordered_callbacks_keep_one_recording(client, hub, session) -> None:
    params = voice_params()
    post_webhook(client, "/twilio/voice", params)
    post_webhook(client, "/twilio/menu", {**params, "Digits": "1"})
    sid = "RE" + "b" * 32
    for status in ("completed", "in-progress", "completed"):
        response = post_webhook(client, "/twilio/recording?kind=call",
                                _callback(params, sid, status, RecordingDuration="40"))
        assert response.status_code == 204
    fresh(session)
    assert session.scalar(select(func.count()).select_from(Recording)) == 1
    recording = session.scalar(select(Recording))
    assert recording.status == "completed" and recording.duration_seconds == 40 and recording.channels == 2
    assert session.scalar(select(func.count()).select_from(TicketRecording)) == 1


def test_copy_is_verified_before_twilio_deletes(client, sim, hub, session, clock) -> None:
    _sid, recording = _recorded_call(sim, hub, session)
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is not None
    stored = get_storage()
    assert stored.size(recording.media_key) == recording.size_bytes
    assert stored.sha256(recording.media_key) == recording.sha256
    assert recording.media_key == f"recordings/{clock.now():%Y/%m}/{recording.recording_sid}.wav"
    assert recording.copied_at <= recording.deleted_at_twilio_at
    assert sim.recordings[recording.recording_sid].deleted


def test_failed_download_is_retried_with_backoff_and_nothing_is_deleted(client, sim, hub, session, clock) -> None:
    sim.fail_next(method="GET", path_contains="/Recordings/RE", status=500, code=20500, times=8)
    _sid, recording = _recorded_call(sim, hub, session)
    assert recording.copied_at is None and recording.copy_attempts == 1 and recording.last_error
    assert not sim.recordings[recording.recording_sid].deleted
    assert recordings_sweep() == 0  # not due yet
    clock.advance(timedelta(minutes=2))
    sim.failures.clear()
    assert recordings_sweep() == 1
    fresh(session)
    recording = session.get(Recording, recording.id)
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is not None
    assert sim.recordings[recording.recording_sid].deleted


def test_storage_outage_keeps_twilios_copy_and_retries(client, sim, hub, session, clock, settings,
                                                       tmp_path) -> None:
    (tmp_path / "unmounted").write_text("")  # a filesystem with nowhere to write, or a bucket that is gone
    broken = ({"s3_bucket": "hotline-no-such-bucket"} if settings.storage_backend == "s3"
              else {"storage_dir": tmp_path / "unmounted"})
    config.configure(settings.model_copy(update=broken))
    try:
        _sid, recording = _recorded_call(sim, hub, session)
    finally:
        config.configure(settings)
    assert recording.copied_at is None and "storage" in recording.last_error
    assert not sim.recordings[recording.recording_sid].deleted
    clock.advance(timedelta(minutes=2))
    assert recordings_sweep() == 1
    fresh(session)
    recording = session.get(Recording, recording.id)
    assert recording.deleted_at_twilio_at is not None and get_storage().exists(recording.media_key)


def test_a_stored_copy_lost_before_the_delete_is_copied_again(client, sim, hub, session, clock) -> None:
    sim.fail_next(method="DELETE", path_contains="/Recordings/", status=503, code=20503, times=4)
    _sid, recording = _recorded_call(sim, hub, session)
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is None
    get_storage().delete(recording.media_key)  # lost from the shared storage before Twilio's is deleted
    clock.advance(timedelta(minutes=2))
    recordings_sweep()
    fresh(session)
    recording = session.get(Recording, recording.id)
    assert recording.copied_at is None and "missing or altered" in recording.last_error
    assert not sim.recordings[recording.recording_sid].deleted
    clock.advance(timedelta(minutes=10))
    sim.failures.clear()
    recordings_sweep()
    fresh(session)
    recording = session.get(Recording, recording.id)
    assert recording.deleted_at_twilio_at is not None
    assert get_storage().sha256(recording.media_key) == recording.sha256


def test_failed_delete_keeps_the_copy_and_retries(client, sim, hub, session, clock) -> None:
    sim.fail_next(method="DELETE", path_contains="/Recordings/", status=503, code=20503, times=4)
    _sid, recording = _recorded_call(sim, hub, session)
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is None
    clock.advance(timedelta(minutes=2))
    recordings_sweep()
    fresh(session)
    assert session.get(Recording, recording.id).deleted_at_twilio_at is not None


def test_two_copies_of_one_recording_at_once_leave_one_copy(client, sim, hub, session,
                                                             lost_tasks: LostTasks) -> None:  # noqa: F811
    """The fault run's case: the completed callback came twice at once (or the sweep ran beside
    the task), and two workers copied the same recording. One deleted Twilio's media while the
    other was still to download it (refused, a failure recorded and a retry in minutes), or
    verified the stored copy while the other rewrote it and took the copy for lost, after Twilio's
    was gone. Now the first claims the copy and the second leaves it alone."""
    with lost_tasks.dropping("telephony.copy_recording"):
        _sid, recording = _recorded_call(sim, hub, session)
    assert recording.copied_at is None
    downloading, go_on = threading.Event(), threading.Event()

    def slow_carrier(_seconds: float) -> None:  # the first worker's REST requests wait for the test
        if threading.current_thread().name == "first-copy":
            downloading.set()
            go_on.wait(30)

    faults = sim.faults = Faults(FaultPlan(rest_slow=1.0), sleep=slow_carrier)
    first = threading.Thread(target=copy_recording_task, args=(recording.id,), name="first-copy")
    first.start()
    try:
        assert downloading.wait(10), "the first copy never asked Twilio"
        copy_recording_task(recording.id)  # the second, while the first is downloading
    finally:
        go_on.set()
        first.join(30)
        sim.faults = None
    assert not first.is_alive()
    fresh(session)
    recording = session.get(Recording, recording.id)
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is not None
    assert recording.copy_attempts == 0 and recording.last_error is None and recording.next_attempt_at is None
    assert sim.recordings[recording.recording_sid].deleted
    assert get_storage().sha256(recording.media_key) == recording.sha256
    downloads = [e for e in faults.log if e.what.startswith("GET") and e.what.endswith(".wav")]
    assert len(downloads) == 1  # Twilio was asked for the media once


def _auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def test_listening_needs_the_right_and_is_audited(client, sim, hub, session) -> None:
    _sid, recording = _recorded_call(sim, hub, session)
    url = f"/recordings/{recording.id}"
    # An operation of the API document: a 401 as the document declares, whoever asks (an audio player too).
    anonymous = client.get(url, follow_redirects=False)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "sign_in_required"
    assert client.get(url, headers={"Accept": "application/json"}).status_code == 401
    stranger = make_user(session, username="agent-c", site=hub.site)
    assert client.get(url, headers=_auth(make_api_token(session, stranger))).status_code == 403
    qa = make_api_token(session, hub.qa)
    response = client.get(url, headers=_auth(qa))
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    assert len(response.content) == recording.size_bytes
    part = client.get(url, headers=_auth(qa, Range="bytes=100-199"))
    assert part.status_code == 206 and part.headers["content-range"] == f"bytes 100-199/{recording.size_bytes}"
    assert part.content == response.content[100:200]
    own = client.get(url, headers=_auth(make_api_token(session, hub.agent)))
    assert own.status_code == 200
    fresh(session)
    listens = entries_for(session, object_type="recording", object_id=recording.id, action_prefix="recording.listen")
    assert [e.action for e in listens] == ["recording.listened", "recording.listened", "recording.listen_refused"]
    listens = listens[:2]
    assert {e.actor_id for e in listens} == {hub.qa.id, hub.agent.id}


def test_recording_not_copied_yet_is_not_found(client, hub, session) -> None:
    params = voice_params()
    post_webhook(client, "/twilio/voice", params)
    post_webhook(client, "/twilio/recording", _callback(params, "RE" + "c" * 32, "in-progress"))
    fresh(session)
    recording = session.scalar(select(Recording))
    token = make_api_token(session, hub.supervisor)
    response = client.get(f"/recordings/{recording.id}", headers=_auth(token, Accept="application/json"))
    assert response.status_code == 404 and "storage" in response.json()["detail"]


def test_pending_copies_lists_only_due_work(session, clock) -> None:
    done = Recording(recording_sid="RE" + "d" * 32, status="completed", copied_at=clock.now(),
                     deleted_at_twilio_at=clock.now())
    later = Recording(recording_sid="RE" + "e" * 32, status="completed", next_attempt_at=clock.now() + timedelta(hours=1))
    due = Recording(recording_sid="RE" + "f" * 32, status="completed")
    live = Recording(recording_sid="RE" + "0" * 32, status="in-progress")
    session.add_all([done, later, due, live])
    session.flush()
    assert recordings.pending_copies(session) == [due.id]


@pytest.mark.parametrize("status", ["absent", "failed"])
def test_absent_recording_is_kept_but_not_copied(client, hub, session, status) -> None:
    params = voice_params()
    post_webhook(client, "/twilio/voice", params)
    post_webhook(client, "/twilio/recording", _callback(params, "RE" + "9" * 32, status, ErrorCode="16101"))
    fresh(session)
    recording = session.scalar(select(Recording))
    assert recording.status == status and recordings.pending_copies(session) == []


# A copy's claim: short, and renewed while the copy runs --------------------------------------------

def _claimed_until(session, recording_id: int):  # type: ignore[no-untyped-def]  # noqa: ANN202
    fresh(session)
    until = session.get(Recording, recording_id).next_attempt_at
    fresh(session)
    return until


def test_a_copy_whose_worker_died_is_taken_by_the_sweep_within_half_a_minute(
        client, sim, hub, session, clock, lost_tasks: LostTasks) -> None:  # noqa: F811
    """A worker killed mid-copy held its claim for two minutes, and the sweep came every minute:
    the recording waited about three. The claim now lapses 30 s after it was last renewed, and
    the sweep runs every 15 s."""
    with lost_tasks.dropping("telephony.copy_recording"):
        _sid, recording = _recorded_call(sim, hub, session)
    fresh(session)
    assert recordings.claim_copy(session, recording_id=recording.id) is not None  # then the worker dies
    assert build_beat_schedule()["telephony.recordings_sweep"]["schedule"] <= timedelta(seconds=15)
    clock.advance(seconds=29)
    assert recordings_sweep() == 0  # still claimed: its worker may be copying
    assert not sim.recordings[recording.recording_sid].deleted
    clock.advance(seconds=1)
    assert recordings_sweep() == 1
    fresh(session)
    recording = session.get(Recording, recording.id)
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is not None
    assert recording.next_attempt_at is None and recording.copy_attempts == 0
    assert sim.recordings[recording.recording_sid].deleted


def test_a_slow_copy_keeps_its_claim_while_it_runs(client, sim, hub, session, clock,
                                                  lost_tasks: LostTasks) -> None:  # noqa: F811
    """A live worker whose copy takes longer than the claim (a slow carrier, the retries) renews
    it every ten seconds, so the sweep, running meanwhile, leaves the copy alone: one download,
    one copy, and the claim ends with the work."""
    with lost_tasks.dropping("telephony.copy_recording"):
        _sid, recording = _recorded_call(sim, hub, session)
    downloading, go_on = threading.Event(), threading.Event()

    def slow_carrier(_seconds: float) -> None:  # the copying worker's download waits for the test
        if threading.current_thread().name == "slow-copy":
            downloading.set()
            go_on.wait(60)

    faults = sim.faults = Faults(FaultPlan(rest_slow=1.0), sleep=slow_carrier)
    copying = threading.Thread(target=copy_recording_task, args=(recording.id,), name="slow-copy")
    copying.start()
    try:
        assert downloading.wait(10), "the copy never asked Twilio for the media"
        for _ in range(9):  # three times the claim's length, in renewal steps
            clock.advance(recordings.COPY_RENEW_EVERY)
            renewed = clock.now() + recordings.COPY_LEASE
            deadline = time.monotonic() + 10
            while _claimed_until(session, recording.id) != renewed:  # waiting on the renewing thread
                assert time.monotonic() < deadline, "the claim was not renewed while the copy ran"
                time.sleep(0.01)
            assert recordings_sweep() == 0  # the sweep leaves a copy that is under way
    finally:
        go_on.set()
        copying.join(30)
        sim.faults = None
    assert not copying.is_alive()
    fresh(session)
    recording = session.get(Recording, recording.id)
    assert recording.copied_at is not None and recording.deleted_at_twilio_at is not None
    assert recording.next_attempt_at is None and recording.copy_attempts == 0
    downloads = [e for e in faults.log if e.what.startswith("GET") and e.what.endswith(".wav")]
    assert len(downloads) == 1


def test_a_simulated_recording_lasts_as_long_as_its_call(client, sim, hub, session) -> None:
    """The finding: the simulator's recordings were capped at 4 s, so QA scored a 4-second clip
    of a 30-second call. The media served (and copied) is as long as the recording's duration,
    with both parties' channels heard to the end."""
    import wave
    from io import BytesIO

    _sid, recording = _recorded_call(sim, hub, session)
    assert recording.duration_seconds is not None and recording.duration_seconds >= 25
    qa = make_api_token(session, hub.qa)
    response = client.get(f"/recordings/{recording.id}", headers=_auth(qa))
    assert response.status_code == 200
    with wave.open(BytesIO(response.content)) as audio:
        assert audio.getnchannels() == 2
        assert audio.getnframes() == recording.duration_seconds * audio.getframerate()
        audio.setpos(audio.getnframes() - 8 * audio.getframerate())
        tail = audio.readframes(8 * audio.getframerate())
    width = 1  # bytes a sample: each channel of the last seconds carries sound
    frames = [tail[i:i + 2 * width] for i in range(0, len(tail), 2 * width)]
    assert {f[0] for f in frames} != {128} and {f[1] for f in frames} != {128}
