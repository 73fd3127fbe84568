"""The carrier simulator speaks like Twilio: real SID shapes and parameter names, correct
signatures, status callback sequences, REST auth, WAV media, and it refuses the TwiML Twilio
would refuse."""

from __future__ import annotations

import re
import wave
from io import BytesIO

import pytest
import requests
from twilio.request_validator import RequestValidator

from telephony.simulator import Simulator
from telephony.audio import RECORDING_RATE
from telephony.simulator.twiml import TwimlError, parse
from tests.conftest import TEST_TWILIO_SID, TEST_TWILIO_TOKEN
from tests.telephony.hub import CALLER, available

SID = re.compile(r"^(CA|RE|CF|QU|SM)[0-9a-f]{32}$")


def _standalone(answers: dict[str, str]) -> tuple[Simulator, list[tuple[str, dict[str, str], dict[str, str]]]]:
    posted: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def transport(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        posted.append((url, params, headers))
        path = url.split("testserver", 1)[1].split("?")[0]
        return 200, answers.get(path, "<Response/>")

    sim = Simulator(account_sid=TEST_TWILIO_SID, auth_token=TEST_TWILIO_TOKEN, public_url="http://testserver",
                    transport=transport)
    return sim, posted


def test_webhooks_carry_twilios_parameters_and_a_valid_signature() -> None:
    sim, posted = _standalone({"/twilio/voice": "<Response><Hangup/></Response>"})
    sid = sim.place_call(CALLER)
    sim.pump()
    url, params, headers = posted[0]
    assert SID.match(sid) and params["CallSid"] == sid and params["AccountSid"] == TEST_TWILIO_SID
    assert {"From", "To", "Caller", "Called", "CallStatus", "Direction", "ApiVersion"} <= params.keys()
    assert params["CallStatus"] == "ringing" and params["Direction"] == "inbound"
    assert RequestValidator(TEST_TWILIO_TOKEN).validate(url, params, headers["X-Twilio-Signature"])
    status = posted[-1][1]
    assert posted[-1][0].endswith("/twilio/status") and status["CallStatus"] == "completed"


@pytest.mark.parametrize(("document", "context", "problem"), [
    ("<Response><Record/></Response>", "wait", "not allowed in a queue's wait URL"),
    ("<Response><Dial><Conference>x</Conference></Dial></Response>", "wait", "not allowed"),
    ("<Response><Enqueue/></Response>", "call", "needs a queue name"),
    ("<Response><Enqueue>" + "q" * 65 + "</Enqueue></Response>", "call", "64"),
    ("<Response><Gather numDigits='one'/></Response>", "call", "not a number"),
    ("<Response><Gather><Record/></Gather></Response>", "call", "not allowed inside"),
    ("<Response><Dance/></Response>", "call", "not a TwiML verb"),
    ("<Hangup/>", "call", "not <Response>"),
    ("<Response><Say>unclosed</Response>", "call", "not valid XML"),
    ("<Response><Start><Recording channels='stereo'/></Start></Response>", "call", "channels"),
])
def test_twiml_twilio_would_refuse_is_refused(document: str, context: str, problem: str) -> None:
    with pytest.raises(TwimlError, match=problem):
        parse(document, context=context)


def test_a_refused_document_ends_the_call_with_an_application_error() -> None:
    sim, posted = _standalone({"/twilio/voice": "<Response><Enqueue waitUrl='/twilio/wait'>q</Enqueue></Response>",
                               "/twilio/wait": "<Response><Record/></Response>"})
    sid = sim.place_call(CALLER)
    sim.pump()
    assert sim.call(sid).status == "completed"
    assert sim.errors and "wait URL" in sim.errors[0]


def test_outbound_leg_status_callbacks_follow_twilios_sequence(client, sim, hub, session) -> None:
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.advance(10)
    sim.hangup(sid)
    sim.pump()
    leg = [(p["CallStatus"], p["SequenceNumber"], p["CallbackSource"]) for url, p, _ in sim.webhooks
           if "/twilio/status?leg=agent" in url]
    assert leg == [("initiated", "0", "call-progress-events"), ("ringing", "1", "call-progress-events"),
                   ("in-progress", "2", "call-progress-events"), ("completed", "3", "call-progress-events")]
    conference = [p["StatusCallbackEvent"] for url, p, _ in sim.webhooks if url.endswith("/conference/events")]
    assert conference[:3] == ["participant-join", "participant-join", "conference-start"]
    assert conference[-1] == "conference-end"
    recording = [p for url, p, _ in sim.webhooks if "/twilio/recording" in url]
    assert [p["RecordingStatus"] for p in recording] == ["in-progress", "completed"]
    assert SID.match(recording[-1]["RecordingSid"]) and recording[-1]["RecordingChannels"] == "2"
    assert recording[-1]["RecordingSource"] == "StartCallRecordingTwiML"
    assert recording[-1]["CallSid"] == sid  # the parent (caller's) leg


def test_rest_needs_the_account_credentials(client, sim) -> None:
    from telephony.simulator import rest

    path = f"/2010-04-01/Accounts/{sim.account_sid}/Calls.json"
    answer = rest.handle(sim, "POST", path, b"To=%2B1&From=%2B2&Url=http%3A%2F%2Fx", {})
    assert answer.status == 401 and b"20003" in answer.body


def test_media_is_a_two_channel_wav_behind_http_auth(client, sim, hub, session) -> None:
    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.fail_next(method="DELETE", path_contains="/Recordings/", status=500, code=20500, times=10)
    sim.advance(10)
    sim.hangup(sid)
    sim.pump()
    recording = next(iter(sim.recordings.values()))
    from telephony.gateway import get_gateway

    session_http = get_gateway().client.http_client.session
    url = f"http://testserver/simulator/2010-04-01/Accounts/{sim.account_sid}/Recordings/{recording.sid}.wav"
    assert session_http.get(url).status_code == 401
    response = session_http.get(url, auth=requests.auth.HTTPBasicAuth(sim.account_sid, TEST_TWILIO_TOKEN))
    with wave.open(BytesIO(response.content)) as audio:
        assert audio.getnchannels() == 2 and audio.getframerate() == RECORDING_RATE
        assert audio.getnframes() == recording.duration() * RECORDING_RATE  # the whole call, not a clip


def test_recording_media_has_the_real_length_within_a_bounded_size() -> None:
    """A recording's media as long as the call (it was capped at 4 s), made by repeating a short
    pattern (the parties take turns), small enough for a demo to keep hours of calls: 8 kHz
    would be twice the size for tones that need no more than 4 kHz sampling."""
    from telephony.audio import MAX_RECORDING_SECONDS, RECORDING_BYTES_PER_SECOND, recording_media

    for seconds in (1, 37, 600):
        media = recording_media(2, seconds)
        with wave.open(BytesIO(media)) as audio:
            assert audio.getnchannels() == 2 and audio.getsampwidth() == 1
            assert audio.getnframes() == seconds * audio.getframerate()
        assert len(media) <= 44 + seconds * RECORDING_BYTES_PER_SECOND * 2
    with wave.open(BytesIO(recording_media(1, 5))) as mono:
        assert mono.getnchannels() == 1 and mono.getnframes() == 5 * mono.getframerate()
    with wave.open(BytesIO(recording_media(2, 0))) as empty:  # a recording of no time still plays
        assert empty.getnframes() == empty.getframerate()
    longest = recording_media(2, MAX_RECORDING_SECONDS * 3)
    with wave.open(BytesIO(longest)) as audio:
        assert audio.getnframes() == MAX_RECORDING_SECONDS * audio.getframerate()
    assert RECORDING_BYTES_PER_SECOND * MAX_RECORDING_SECONDS * 2 <= 32 * 1024 * 1024


def test_a_calls_recordings_are_listed_as_twilio_pages_them(client, sim, hub, session) -> None:
    """GET /Accounts/{sid}/Recordings.json?CallSid=...: the call's recordings (newest first; none
    deleted, none of another call) in Twilio's page shape, followed page by page by the twilio
    client."""
    import json

    from telephony.gateway import get_gateway
    from telephony.simulator import rest

    available(session, hub.agent)
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{hub.agent.id}").answer()
    sim.advance(5)
    gateway = get_gateway()
    second = gateway.start_recording(sid, status_callback="http://testserver/twilio/recording?kind=call")
    sim.advance(5)
    [first] = [r for r in sim.recordings if r != second and sim.recordings[r].call_sid == sid]
    other = sim.place_call("+8613900139000")
    sim.pump()
    headers = {"Authorization": "Basic " + __import__("base64").b64encode(
        f"{sim.account_sid}:{TEST_TWILIO_TOKEN}".encode()).decode()}
    path = f"/2010-04-01/Accounts/{sim.account_sid}/Recordings.json"
    answer = rest.handle(sim, "GET", path, b"", headers, query=f"CallSid={sid}&PageSize=1")
    assert answer.status == 200
    page = json.loads(answer.body)
    assert set(page) == {"recordings", "page", "page_size", "start", "end", "uri", "first_page_uri",
                         "next_page_uri", "previous_page_uri"}
    assert page["page"] == 0 and page["page_size"] == 1 and page["start"] == 0 and page["end"] == 0
    assert [r["sid"] for r in page["recordings"]] == [second]  # the newest first
    assert page["recordings"][0]["call_sid"] == sid and page["previous_page_uri"] is None
    assert page["next_page_uri"].startswith(path + "?") and "Page=1" in page["next_page_uri"]
    assert page["uri"].startswith(path + "?") and f"CallSid={sid}" in page["uri"]
    last = json.loads(rest.handle(sim, "GET", path, b"", headers,
                                  query=page["next_page_uri"].split("?", 1)[1]).body)
    assert [r["sid"] for r in last["recordings"]] == [first] and last["next_page_uri"] is None
    assert last["page"] == 1 and last["start"] == 1 and last["end"] == 1 and last["previous_page_uri"]

    listed = gateway.client.recordings.list(call_sid=sid, page_size=1)  # the real client pages through
    assert [r.sid for r in listed] == [second, first]
    assert {r.call_sid for r in listed} == {sid} and listed[0].source == "StartCallRecordingAPI"
    assert gateway.client.recordings.list(call_sid=other) == []
    sim.recordings[second].deleted = True
    assert [r["sid"] for r in gateway.list_recordings(sid)] == [first]
    assert rest.handle(sim, "GET", path, b"", {}, query=f"CallSid={sid}").status == 401
    bad = rest.handle(sim, "GET", path, b"", headers, query=f"CallSid={sid}&PageSize=0")
    assert bad.status == 400
