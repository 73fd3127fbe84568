"""The slice of Twilio's REST API (2010-04-01) the hub uses, answered by the simulator with
Twilio's JSON shapes, status codes and error codes: calls, recordings and their media,
conference participants and messages. HTTP Basic auth with the account SID and token."""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlencode

from telephony.audio import recording_media
from telephony.simulator.carrier import Simulator
from telephony.simulator.state import SimConference, SimParticipant

__all__ = ["RestResponse", "handle"]

PREFIX = "/2010-04-01/Accounts/"


@dataclass
class RestResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


def _json(status: int, payload: Any) -> RestResponse:
    return RestResponse(status, json.dumps(payload).encode())


def _error(status: int, code: int, message: str) -> RestResponse:
    return _json(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                           "status": status})


def _not_found(what: str) -> RestResponse:
    return _error(404, 20404, f"The requested resource {what} was not found")


class _Form:
    def __init__(self, body: bytes) -> None:
        self.values = parse_qs(body.decode() if body else "", keep_blank_values=True)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, [default])[0]

    def all(self, name: str) -> list[str]:
        return [v for value in self.values.get(name, []) for v in value.split()]

    def flag(self, name: str) -> bool | None:
        value = self.get(name)
        return None if value is None else value.lower() == "true"


def _authorised(sim: Simulator, headers: Mapping[str, str]) -> bool:
    header = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except Exception:  # noqa: BLE001 - a malformed header is simply not authorised
        return False
    return hmac.compare_digest(user, sim.account_sid) and hmac.compare_digest(password, sim.auth_token)


def _injected_failure(sim: Simulator, method: str, path: str) -> RestResponse | None:
    for rule in sim.failures:
        if rule["times"] > 0 and rule["method"] == method and rule["path"] in path:
            rule["times"] -= 1
            return _error(rule["status"], rule["code"], rule["message"])
    if sim.faults is not None and (failure := sim.faults.rest_failure(method, path)) is not None:
        return _error(*failure)
    return None


def injected_delay(sim: Simulator, method: str, path: str) -> float:
    """Seconds a slow REST answer is held back (by whoever serves it, outside the lock)."""
    return sim.faults.rest_delay(method.upper(), path) if sim.faults is not None else 0.0


ROUTES: list[tuple[str, str, str]] = [
    ("POST", r"Calls\.json", "create_call"),
    ("GET", r"Calls/(?P<sid>CA\w+)\.json", "fetch_call"),
    ("POST", r"Calls/(?P<sid>CA\w+)\.json", "update_call"),
    ("POST", r"Calls/(?P<sid>CA\w+)/Recordings\.json", "start_recording"),
    ("POST", r"Calls/(?P<sid>CA\w+)/Recordings/(?P<rsid>[\w.]+)\.json", "update_recording"),
    ("GET", r"Recordings\.json", "list_recordings"),
    ("GET", r"Recordings/(?P<rsid>RE\w+)\.json", "fetch_recording"),
    ("DELETE", r"Recordings/(?P<rsid>RE\w+)\.json", "delete_recording"),
    ("GET", r"Recordings/(?P<rsid>RE\w+)(?P<ext>\.wav|\.mp3)?", "media"),
    ("POST", r"Conferences/(?P<conf>[^/]+)/Participants\.json", "add_participant"),
    ("GET", r"Conferences/(?P<conf>[^/]+)/Participants/(?P<sid>CA\w+)\.json", "fetch_participant"),
    ("POST", r"Conferences/(?P<conf>[^/]+)/Participants/(?P<sid>CA\w+)\.json", "update_participant"),
    ("DELETE", r"Conferences/(?P<conf>[^/]+)/Participants/(?P<sid>CA\w+)\.json", "remove_participant"),
    ("POST", r"Messages\.json", "send_message"),
]
_COMPILED = [(m, re.compile(p + "$"), name) for m, p, name in ROUTES]


def handle(sim: Simulator, method: str, path: str, body: bytes, headers: Mapping[str, str],
           query: str = "") -> RestResponse:
    """Answer one REST request; `path` starts at `/2010-04-01/`, `query` is its query string (a
    GET's parameters: the twilio client sends a list's filters and paging there). Kept in the
    carrier's trace, when a run keeps one (Simulator.trace), as the hub's webhooks are."""
    asked = sim.now()
    response = _handle(sim, method, path, body, headers, query)
    if sim.trace is not None:
        rest = path[len(PREFIX):].partition("/")[2] if path.startswith(PREFIX) else path
        what = _Form(body).get("Status") or ("redirect" if _Form(body).get("Url") else "")
        with sim.lock:
            sim.trace.append((asked, sim.now(), f"REST {method.upper()} {rest}", _sid_of(rest), what,
                              response.status))
    return response


def _sid_of(rest: str) -> str:
    found = re.search(r"CA\w{32}", rest)
    return found.group(0) if found else ""


def _handle(sim: Simulator, method: str, path: str, body: bytes, headers: Mapping[str, str],
            query: str) -> RestResponse:
    method = method.upper()
    if not path.startswith(PREFIX):
        return _not_found(path)
    account, _, rest = path[len(PREFIX):].partition("/")
    if not _authorised(sim, headers):
        return _error(401, 20003, "Authenticate")
    if account != sim.account_sid:
        return _not_found(path)
    with sim.lock:
        failure = _injected_failure(sim, method, path)
        if failure is not None:
            return failure
        for route_method, pattern, name in _COMPILED:
            match = pattern.match(rest)
            if match and route_method == method:
                form = _Form(query.encode() if method == "GET" else body)
                return globals()["_" + name](sim, form, **match.groupdict())
    if any(pattern.match(rest) for _, pattern, _ in _COMPILED):
        return _error(405, 20004, f"Method {method} not allowed on {path}")
    return _not_found(path)


# Calls ----------------------------------------------------------------------------------------
def _create_call(sim: Simulator, form: _Form) -> RestResponse:
    to, from_, url, twiml = form.get("To"), form.get("From"), form.get("Url"), form.get("Twiml")
    if not to:
        return _error(400, 21201, "No 'To' number is specified")
    if not from_:
        return _error(400, 21213, "No 'From' number is specified")
    if not url and not twiml:
        return _error(400, 21205, "Url parameter is required")
    call = sim.create_call(to=to, from_=from_, url=url, twiml=twiml, status_callback=form.get("StatusCallback"),
                           events=frozenset(form.all("StatusCallbackEvent")), timeout=int(form.get("Timeout") or 60))
    _remember_machine_detection(call, form)
    return _json(201, call.resource())


def _fetch_call(sim: Simulator, form: _Form, sid: str) -> RestResponse:
    call = sim.calls.get(sid)
    return _json(200, call.resource()) if call else _not_found(f"/Calls/{sid}.json")


def _update_call(sim: Simulator, form: _Form, sid: str) -> RestResponse:
    call = sim.calls.get(sid)
    if call is None:
        return _not_found(f"/Calls/{sid}.json")
    status, url, twiml = form.get("Status"), form.get("Url"), form.get("Twiml")
    if not call.alive:
        return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
    if status in ("completed", "canceled"):
        if _answered_just_before(sim, call, status):
            return _json(200, call.resource())
        if status == "canceled" and call.status == "in-progress":
            return _json(200, call.resource())  # Twilio ignores cancel for an answered call
        sim.end(call, "completed" if call.answer_time else "canceled")
    elif status is not None:
        return _error(400, 21218, f"Invalid value {status!r} for Status")
    elif url or twiml:
        sim.redirect(call, url, twiml)
    return _json(200, call.resource())


def _answered_just_before(sim: Simulator, call: Any, status: str) -> bool:
    """The race of a withdrawn ring (fault `answer_stale`): the agent's browser phone picked up
    just before the hub's hang-up arrived. The answer is requested from the hub as usual; a
    cancel is then ignored (the call is answered), a hang-up lands a moment later."""
    if (sim.faults is None or call.waiting != "ringing" or call.direction == "inbound"
            or not call.to.startswith("client:") or not sim.faults.answers_stale(call.sid)):
        return False
    sim.answer(call.sid)
    if status == "completed":
        sim.at(2.0, _hang_up_later, sim, call.sid)
    return True


def _hang_up_later(sim: Simulator, sid: str) -> None:
    with sim.lock:
        call = sim.calls[sid]
        if call.alive:
            sim.end(call, "completed")


# Recordings -----------------------------------------------------------------------------------
def _start_recording(sim: Simulator, form: _Form, sid: str) -> RestResponse:
    call = sim.calls.get(sid)
    if call is None:
        return _not_found(f"/Calls/{sid}/Recordings.json")
    if call.status != "in-progress":
        return _error(400, 21220, "Call is not in-progress; it cannot be recorded")
    recording = sim.new_recording(call, source="StartCallRecordingAPI",
                                  channels=2 if form.get("RecordingChannels", "mono") == "dual" else 1,
                                  track=form.get("RecordingTrack", "both") or "both",
                                  callback=form.get("RecordingStatusCallback"),
                                  events=frozenset(form.all("RecordingStatusCallbackEvent")))
    call.recordings.append(recording.sid)
    return _json(201, recording.resource())


def _update_recording(sim: Simulator, form: _Form, sid: str, rsid: str) -> RestResponse:
    call = sim.calls.get(sid)
    if call is None:
        return _not_found(f"/Calls/{sid}.json")
    if rsid == "Twilio.CURRENT":
        if not call.recordings:
            return _not_found(f"/Calls/{sid}/Recordings/Twilio.CURRENT.json")
        rsid = call.recordings[-1]
    recording = sim.recordings.get(rsid)
    if recording is None or recording.call_sid != sid:
        return _not_found(f"/Calls/{sid}/Recordings/{rsid}.json")
    status = form.get("Status")
    if status == "paused" and recording.status == "in-progress":
        recording.status, recording.paused_at = "paused", sim.now()
    elif status == "in-progress" and recording.status == "paused":
        recording.paused_seconds += int((sim.now() - recording.paused_at).total_seconds()) if recording.paused_at else 0
        recording.status, recording.paused_at = "in-progress", None
    elif status == "stopped" and recording.status in ("in-progress", "paused"):
        sim.finish_recording(recording)
        call.recordings = [r for r in call.recordings if r != rsid]
    elif status not in ("paused", "in-progress", "stopped"):
        return _error(400, 21218, f"Invalid value {status!r} for Status")
    return _json(200, recording.resource())


MAX_PAGE_SIZE = 1000


def _list_recordings(sim: Simulator, form: _Form) -> RestResponse:
    """The account's recordings, newest first, filtered by `CallSid` (and `ConferenceSid`), in
    pages of `PageSize` (50 unless asked; 1 to 1000) with Twilio's paging fields: `Page` numbers
    the page, `PageToken` (given back in `next_page_uri`) says where it starts. Deleted ones are
    left out, as Twilio does unless `IncludeSoftDeleted` is asked for."""
    try:
        size = int(form.get("PageSize") or 50)
        number = int(form.get("Page") or 0)
    except ValueError:
        return _error(400, 20001, "Invalid PageSize or Page")
    if not 1 <= size <= MAX_PAGE_SIZE or number < 0:
        return _error(400, 20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
    call_sid, conference_sid = form.get("CallSid"), form.get("ConferenceSid")
    soft_deleted = (form.get("IncludeSoftDeleted") or "").lower() == "true"
    found = [r for r in reversed(sim.recordings.values())  # kept in the order they were made
             if (soft_deleted or not r.deleted) and (not call_sid or r.call_sid == call_sid)
             and (not conference_sid or r.conference_sid == conference_sid)]
    token = form.get("PageToken") or ""
    start = int(token[2:]) if token.startswith("PA") and token[2:].isdigit() else number * size
    rows = found[start:start + size]
    path = f"{PREFIX}{sim.account_sid}/Recordings.json"
    filters = {k: v for k, v in (("CallSid", call_sid), ("ConferenceSid", conference_sid)) if v}

    def page_uri(page: int, at: int) -> str:
        return path + "?" + urlencode({**filters, "PageSize": size, "Page": page,
                                       **({"PageToken": f"PA{at}"} if page else {})})

    more = start + size < len(found)
    return _json(200, {
        "recordings": [r.resource() for r in rows], "page": number, "page_size": size, "start": start,
        "end": start + max(len(rows), 1) - 1, "uri": page_uri(number, start), "first_page_uri": page_uri(0, 0),
        "next_page_uri": page_uri(number + 1, start + size) if more else None,
        "previous_page_uri": page_uri(number - 1, max(0, start - size)) if number > 0 else None})


def _fetch_recording(sim: Simulator, form: _Form, rsid: str) -> RestResponse:
    recording = sim.recordings.get(rsid)
    if recording is None or recording.deleted:
        return _not_found(f"/Recordings/{rsid}.json")
    return _json(200, recording.resource())


def _delete_recording(sim: Simulator, form: _Form, rsid: str) -> RestResponse:
    recording = sim.recordings.get(rsid)
    if recording is None or recording.deleted:
        return _not_found(f"/Recordings/{rsid}.json")
    recording.deleted = True
    return RestResponse(204)


def _media(sim: Simulator, form: _Form, rsid: str, ext: str | None) -> RestResponse:
    recording = sim.recordings.get(rsid)
    if recording is None or recording.deleted or recording.status != "completed":
        return _not_found(f"/Recordings/{rsid}")
    if ext == ".mp3":
        return _error(404, 20404, "the simulator keeps WAV media only; ask for .wav")
    return RestResponse(200, recording_media(recording.channels, recording.duration()), "audio/x-wav")


# Conferences ----------------------------------------------------------------------------------
def _conference(sim: Simulator, key: str) -> SimConference | None:
    return sim.conference_sids.get(key) if key.startswith("CF") else sim.conferences.get(key)


def _add_participant(sim: Simulator, form: _Form, conf: str) -> RestResponse:
    to, from_ = form.get("To"), form.get("From")
    if not to or not from_:
        return _error(400, 21201, "'To' and 'From' are required")
    conference = _conference(sim, conf)
    name = conference.name if conference else conf
    if conference is None and conf.startswith("CF"):
        return _not_found(f"/Conferences/{conf}.json")
    attrs = ' startConferenceOnEnter="true"'
    if form.flag("Muted"):
        attrs += ' muted="true"'
    if form.get("Label"):
        attrs += f' participantLabel="{escape(form.get("Label") or "")}"'
    if form.get("CallSidToCoach") and form.flag("Coaching"):
        attrs += f' coach="{escape(form.get("CallSidToCoach") or "")}"'
    attrs += _participant_exit_attr(form)
    twiml = f"<Response><Dial><Conference{attrs}>{escape(name)}</Conference></Dial></Response>"
    call = sim.create_call(to=to, from_=from_, url=None, twiml=twiml, status_callback=form.get("StatusCallback"),
                           events=frozenset(form.all("StatusCallbackEvent")), timeout=int(form.get("Timeout") or 60))
    return _json(201, {"account_sid": sim.account_sid, "call_sid": call.sid,
                       "conference_sid": conference.sid if conference else None, "label": form.get("Label"),
                       "status": "queued", "muted": bool(form.flag("Muted")), "hold": False,
                       "coaching": bool(form.flag("Coaching")), "call_sid_to_coach": form.get("CallSidToCoach")})


def _participant(sim: Simulator, conf: str, sid: str) -> tuple[SimConference, SimParticipant] | None:
    conference = _conference(sim, conf)
    if conference is None or conference.status == "completed":
        return None
    part = conference.participants.get(sid)
    return None if part is None else (conference, part)


def _fetch_participant(sim: Simulator, form: _Form, conf: str, sid: str) -> RestResponse:
    found = _participant(sim, conf, sid)
    if found is None:
        return _not_found(f"/Conferences/{conf}/Participants/{sid}.json")
    conference, part = found
    return _json(200, conference.participant_resource(part))


def _update_participant(sim: Simulator, form: _Form, conf: str, sid: str) -> RestResponse:
    found = _participant(sim, conf, sid)
    if found is None:
        return _not_found(f"/Conferences/{conf}/Participants/{sid}.json")
    conference, part = found
    for field, param, on, off in (("hold", "Hold", "participant-hold", "participant-unhold"),
                                  ("muted", "Muted", "participant-mute", "participant-unmute")):
        value = form.flag(param)
        if value is not None and value != getattr(part, field):
            setattr(part, field, value)
            sim.conference_event(conference, on if value else off, part)
    coaching = form.flag("Coaching")
    if coaching is not None:
        part.coaching = coaching
        part.call_sid_to_coach = form.get("CallSidToCoach") if coaching else None
        sim.conference_event(conference, "participant-modify", part)
    _update_participant_extras(sim, part, form)
    return _json(200, conference.participant_resource(part))


def _remove_participant(sim: Simulator, form: _Form, conf: str, sid: str) -> RestResponse:
    found = _participant(sim, conf, sid)
    if found is None:
        return _not_found(f"/Conferences/{conf}/Participants/{sid}.json")
    conference, part = found
    sim.leave_conference(sim.calls[sid], "participant_removed")
    return RestResponse(204)


# In-call controls and callbacks (telephony.controls, telephony.callbacks) ----------------------
def _remember_machine_detection(call: Any, form: _Form) -> None:
    """`MachineDetection=Enable|DetectMessageEnd` on a created call: the call's URL is then
    requested with `AnsweredBy` once the called party picks up (see Simulator.answer_as)."""
    if form.get("MachineDetection") in ("Enable", "DetectMessageEnd"):
        call.machine_detection = form.get("MachineDetection")


def _participant_exit_attr(form: _Form) -> str:
    """`EndConferenceOnExit` on a participant created over REST."""
    return ' endConferenceOnExit="true"' if form.flag("EndConferenceOnExit") else ""


def _update_participant_extras(sim: Simulator, part: Any, form: _Form) -> None:
    """`EndConferenceOnExit` changed on a live participant, and the hold music a participant put
    on hold hears (`HoldUrl`), noted in what their call heard."""
    end_on_exit = form.flag("EndConferenceOnExit")
    if end_on_exit is not None:
        part.end_on_exit = end_on_exit
    if form.flag("Hold") and form.get("HoldUrl") and part.call_sid in sim.calls:
        sim.calls[part.call_sid].heard.append(f"[hold {(form.get('HoldUrl') or '').rsplit('/', 1)[-1]}]")


# Messages -------------------------------------------------------------------------------------
def _send_message(sim: Simulator, form: _Form) -> RestResponse:
    to, from_, body = form.get("To"), form.get("From") or form.get("MessagingServiceSid"), form.get("Body")
    if not to:
        return _error(400, 21604, "A 'To' phone number is required")
    if not from_:
        return _error(400, 21603, "A 'From' phone number is required")
    if not body:
        return _error(400, 21602, "Message body is required")
    message = sim.send_message(to=to, from_=from_, body=body, status_callback=form.get("StatusCallback"))
    return _json(201, message.resource())
