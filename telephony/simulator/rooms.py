"""Where simulated calls wait and meet: queues (`<Enqueue>` and its wait URL), conferences
(`<Dial><Conference>` with Twilio's status events), recordings (`<Record>`, `<Start><Recording>`,
the REST API) and voicemail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telephony.simulator.engine import Engine
from telephony.simulator.state import SimCall, SimConference, SimParticipant, SimRecording, new_sid, rfc2822
from telephony.simulator.twiml import Verb

CONFERENCE_EVENTS = {"conference-start": "start", "conference-end": "end", "participant-join": "join",
                     "participant-leave": "leave", "participant-hold": "hold", "participant-unhold": "hold",
                     "participant-mute": "mute", "participant-unmute": "mute", "participant-modify": "modify"}


@dataclass
class SimQueue:
    sid: str
    name: str
    max_size: int = 1000
    members: list[str] = field(default_factory=list)
    waited: list[int] = field(default_factory=list)

    def average(self) -> int:
        return sum(self.waited[-50:]) // len(self.waited[-50:]) if self.waited else 0


class Rooms(Engine):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queues: dict[str, SimQueue] = {}
        self.conferences: dict[str, SimConference] = {}  # active, by friendly name
        self.conference_sids: dict[str, SimConference] = {}
        self.recordings: dict[str, SimRecording] = {}

    # Queues ---------------------------------------------------------------------------
    def enqueue(self, call: SimCall, verb: Verb) -> None:
        queue = self.queues.setdefault(verb.text, SimQueue(sid=new_sid("QU"), name=verb.text))
        call.enqueue, call.main_program, call.program = verb, call.program, []
        self.bump(call)
        if len(queue.members) >= queue.max_size:
            call.queue_name = queue.name
            call.enqueued_at = self.now()
            self._queue_result(call, queue, "queue-full")
            return
        queue.members.append(call.sid)
        call.waiting, call.queue_name, call.enqueued_at, call.context = "queue", queue.name, self.now(), "wait"
        call.heard.append(f"[enqueued in {queue.name}]")
        wait_url = verb.get("waitUrl")
        if wait_url:
            self.fetch(call, self.resolve(call, wait_url), context="wait", extra=self.queue_params)

    def queue_params(self, call: SimCall) -> dict[str, str]:
        queue = self.queues[call.queue_name or ""]
        position = queue.members.index(call.sid) + 1 if call.sid in queue.members else 0
        return {"QueueSid": queue.sid, "QueuePosition": str(position), "QueueTime": str(self._queued_for(call)),
                "AvgQueueTime": str(queue.average()), "CurrentQueueSize": str(len(queue.members)),
                "MaxQueueSize": str(queue.max_size)}

    def _queued_for(self, call: SimCall) -> int:
        return int((self.now() - call.enqueued_at).total_seconds()) if call.enqueued_at else 0

    def _refetch_wait(self, sid: str, epoch: int) -> None:
        with self.lock:
            call = self.calls[sid]
            if call.epoch != epoch or not call.alive or call.waiting != "queue":
                return
            self.fetch(call, self.resolve(call, call.enqueue.get("waitUrl")), context="wait", extra=self.queue_params)

    def leave_queue(self, call: SimCall, result: str) -> None:
        queue = self.queues[call.queue_name or ""]
        if call.sid in queue.members:
            queue.members.remove(call.sid)
            queue.waited.append(self._queued_for(call))
        call.waiting, call.context, call.gather = None, "call", None
        self.bump(call)
        self._queue_result(call, queue, result)

    def _queue_result(self, call: SimCall, queue: SimQueue, result: str) -> None:
        verb, call.enqueue = call.enqueue, None
        call.program, call.main_program = call.main_program, []
        params = {"QueueResult": result, "QueueSid": queue.sid, "QueueTime": str(self._queued_for(call))}
        action = verb.get("action") if verb is not None else None
        if result in ("redirected", "hangup", "bridged"):
            if action:  # requested right away; the call is elsewhere, so the answer is ignored
                self.notify(self.resolve(call, action), self.call_params(call, **params))
            return
        if action:
            call.program = []
            self.fetch(call, self.resolve(call, action), extra=params)
        else:
            self.later(call, 0)

    # Conferences ----------------------------------------------------------------------
    def dial(self, call: SimCall, verb: Verb) -> None:
        nouns = [c for c in verb.children if c.name == "Conference"]
        if not nouns:
            self.app_error(call, "the simulator connects <Dial> to a <Conference> only")
            return
        noun = nouns[0]
        conference = self.conferences.get(noun.text)
        if conference is None:
            conference = SimConference(sid=new_sid("CF"), name=noun.text, account_sid=self.account_sid,
                                       created_at=self.now())
            self.conferences[noun.text] = conference
            self.conference_sids[conference.sid] = conference
        if conference.status_callback is None and noun.get("statusCallback"):
            conference.status_callback = self.resolve(call, noun.get("statusCallback") or "")
            conference.status_callback_events = noun.events("statusCallbackEvent")
        self.bump(call)
        call.waiting, call.conference, call.dial, call.dial_started = "conference", noun.text, verb, self.now()
        self.join(conference, SimParticipant(
            call_sid=call.sid, label=noun.get("participantLabel"), muted=noun.flag("muted", False),
            start_on_enter=noun.flag("startConferenceOnEnter", True),
            end_on_exit=noun.flag("endConferenceOnExit", False),
            coaching=bool(noun.get("coach")), call_sid_to_coach=noun.get("coach")))

    def join(self, conference: SimConference, part: SimParticipant) -> None:
        conference.participants[part.call_sid] = part
        self.calls[part.call_sid].heard.append(f"[joined {conference.name}]")
        self.conference_event(conference, "participant-join", part)
        if (conference.status == "init" and len(conference.participants) >= 2
                and any(p.start_on_enter for p in conference.participants.values())):
            conference.status = "in-progress"
            self.conference_event(conference, "conference-start")

    def conference_event(self, conference: SimConference, event: str, part: SimParticipant | None = None,
                         **extra: str) -> None:
        if CONFERENCE_EVENTS[event] not in conference.status_callback_events or not conference.status_callback:
            return
        params = {"AccountSid": self.account_sid, "ConferenceSid": conference.sid, "FriendlyName": conference.name,
                  "StatusCallbackEvent": event, "SequenceNumber": str(conference.sequence),
                  "Timestamp": rfc2822(self.now()) or ""}
        conference.sequence += 1
        if part is not None:
            params.update({"CallSid": part.call_sid, "Muted": str(part.muted).lower(), "Hold": str(part.hold).lower(),
                           "Coaching": str(part.coaching).lower(),
                           "EndConferenceOnExit": str(part.end_on_exit).lower(),
                           "StartConferenceOnEnter": str(part.start_on_enter).lower()})
            if part.label:
                params["ParticipantLabel"] = part.label
        params.update(extra)
        self.notify(conference.status_callback, params)

    def leave_conference(self, call: SimCall, reason: str, *, continue_call: bool = True) -> None:
        conference = self.conferences.get(call.conference or "")
        call.conference, call.waiting = None, None
        dial, call.dial = call.dial, None
        if conference is not None:
            part = conference.participants.pop(call.sid, None)
            if part is not None:
                self.conference_event(conference, "participant-leave", part, ReasonParticipantLeft=reason,
                                      ParticipantCallStatus=call.status)
                if conference.status != "completed" and (part.end_on_exit or not conference.participants):
                    self.end_conference(conference, ending=call.sid if part.end_on_exit else None)
        if continue_call and call.alive:
            self.dial_finished(call, dial)

    def end_conference(self, conference: SimConference, *, ending: str | None = None) -> None:
        conference.status = "completed"
        self.conferences.pop(conference.name, None)
        reason = "participant-with-end-conference-on-exit-left" if ending else "last-participant-left"
        extra = {"ReasonConferenceEnded": reason}
        if ending:
            extra["CallSidEndingConference"] = ending
        for sid in list(conference.participants):
            self.leave_conference(self.calls[sid], "conference_ended")
        self.conference_event(conference, "conference-end", None, **extra)

    def dial_finished(self, call: SimCall, dial: Verb | None) -> None:
        self.bump(call)
        seconds = int((self.now() - call.dial_started).total_seconds()) if call.dial_started else 0
        action = dial.get("action") if dial is not None else None
        if action:
            call.program = []
            self.fetch(call, self.resolve(call, action),
                       extra={"DialCallStatus": "completed", "DialCallDuration": str(seconds)})
        else:
            self.later(call, 0)

    # Recordings -----------------------------------------------------------------------
    def new_recording(self, call: SimCall, *, source: str, channels: int, track: str, callback: str | None,
                      events: frozenset[str]) -> SimRecording:
        recording = SimRecording(sid=new_sid("RE"), account_sid=self.account_sid, call_sid=call.sid, source=source,
                                 channels=channels, track=track, start_time=self.now(),
                                 status_callback=self.resolve(call, callback) if callback else None,
                                 status_callback_events=events or frozenset({"completed"}))
        self.recordings[recording.sid] = recording
        self.recording_event(recording, "in-progress")
        return recording

    def recording_event(self, recording: SimRecording, status: str) -> None:
        if status not in recording.status_callback_events or not recording.status_callback:
            return
        params = {"AccountSid": self.account_sid, "CallSid": recording.call_sid, "RecordingSid": recording.sid,
                  "RecordingUrl": recording.url, "RecordingStatus": status,
                  "RecordingChannels": str(recording.channels), "RecordingSource": recording.source,
                  "RecordingStartTime": rfc2822(recording.start_time) or "", "RecordingTrack": recording.track,
                  "RecordingDuration": str(recording.duration()) if recording.end_time else "-1",
                  "ErrorCode": str(recording.error_code)}
        self.notify(recording.status_callback, params)

    def start_twiml_recording(self, call: SimCall, noun: Verb) -> None:
        recording = self.new_recording(call, source="StartCallRecordingTwiML",
                                       channels=2 if noun.get("channels", "dual") == "dual" else 1,
                                       track=noun.get("track", "both") or "both",
                                       callback=noun.get("recordingStatusCallback"),
                                       events=noun.events("recordingStatusCallbackEvent"))
        call.recordings.append(recording.sid)

    def finish_recording(self, recording: SimRecording) -> None:
        if recording.status in ("completed", "absent", "stopped"):
            return
        if recording.status == "paused" and recording.paused_at is not None:
            recording.paused_seconds += int((self.now() - recording.paused_at).total_seconds())
        recording.end_time = self.now()
        if recording.duration() < 1:
            recording.status, recording.error_code = "absent", 16101
        else:
            recording.status = "completed"
        self.recording_event(recording, recording.status)

    def stop_recordings(self, call: SimCall) -> None:
        for sid in call.recordings:
            self.finish_recording(self.recordings[sid])
        call.recordings = []

    # <Record>: voicemail ----------------------------------------------------------------
    def start_record(self, call: SimCall, verb: Verb) -> None:
        self.bump(call)
        call.heard.append("[beep]")
        recording = self.new_recording(call, source="RecordVerb", channels=1, track="inbound",
                                       callback=verb.get("recordingStatusCallback"),
                                       events=verb.events("recordingStatusCallbackEvent"))
        call.waiting, call.record, call.record_sid = "record", verb, recording.sid
        speaking = min(self.voicemail_seconds, verb.number("maxLength", 3600))
        self.at(speaking, self._record_finished, call.sid, call.epoch, "#")

    def _record_finished(self, sid: str, epoch: int, digits: str) -> None:
        with self.lock:
            call = self.calls[sid]
            if call.epoch == epoch and call.alive and call.waiting == "record":
                self.record_done(call, digits)

    def record_done(self, call: SimCall, digits: str) -> None:
        verb, recording = call.record, self.recordings[call.record_sid or ""]
        call.record, call.record_sid, call.waiting = None, None, None
        self.bump(call)
        self.finish_recording(recording)
        params = {"RecordingUrl": recording.url, "RecordingSid": recording.sid,
                  "RecordingDuration": str(recording.duration()), "Digits": digits}
        action = self.resolve(call, verb.get("action") or call.doc_url or "")
        if not call.alive:
            self.notify(action, self.call_params(call, **params))
        elif recording.status == "completed":
            call.program = []
            self.fetch(call, action, extra=params)
        else:
            self.later(call, 0)  # nothing recorded: Twilio goes on with the next verb

    # Ending hooks ---------------------------------------------------------------------
    def before_end(self, call: SimCall) -> None:
        if call.waiting == "queue":
            self.leave_queue(call, "hangup")
        elif call.waiting == "conference":
            self.leave_conference(call, "hangup", continue_call=False)
        elif call.waiting == "record":
            self.record_done(call, "hangup")

    def after_end(self, call: SimCall) -> None:
        self.stop_recordings(call)
