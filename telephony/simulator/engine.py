"""The simulated carrier's core: a clock-driven work list, signed webhooks with Twilio's
parameters, and the execution of the TwiML each call receives. `pump()` runs whatever is due;
tests move a frozen clock with `advance()`, the demo runs `pump()` in a thread."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from twilio.request_validator import RequestValidator

from core import clock
from telephony.audio import HOLD_MUSIC_SECONDS
from telephony.simulator.state import API_VERSION, SimCall, new_sid, rfc2822
from telephony.simulator.twiml import TwimlError, Verb, parse

log = logging.getLogger("hotline.simulator")

# post(url, params, headers) -> (status code, body text)
WebhookTransport = Callable[[str, dict[str, str], dict[str, str]], tuple[int, str]]
SAY_SECONDS = 2
PLAY_SECONDS = 5


class Engine:
    """Work list, webhooks and TwiML execution; queues, conferences, recordings and phones are
    added by the classes that make up `Simulator`."""

    def __init__(self, *, account_sid: str, auth_token: str, public_url: str, transport: WebhookTransport,
                 hotline_number: str = "+862160000000", voicemail_seconds: int = 5) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.public_url = public_url.rstrip("/")
        self.transport = transport
        self.hotline_number = hotline_number
        self.voice_url = self.public_url + "/twilio/voice"
        self.status_callback_url = self.public_url + "/twilio/status"
        self.voicemail_seconds = voicemail_seconds
        self.validator = RequestValidator(auth_token)
        self.lock = threading.RLock()
        self.calls: dict[str, SimCall] = {}
        self.errors: list[str] = []
        self.webhooks: list[tuple[str, dict[str, str], int]] = []
        self._timers: list[tuple[datetime, int, Callable[..., object], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self.faults: Any = None  # telephony.simulator.faults.Faults, when a run injects faults
        # The carrier's trace, when a run keeps one: (when sent, when answered, path, CallSid,
        # what it reports, the HTTP status) for every webhook and every REST request the hub
        # made (telephony.simulator.rest), in the order answered.
        self.trace: list[tuple[datetime, datetime, str, str, str, int]] | None = None

    # The verbs of queues, conferences and recordings, played by the rooms (telephony.simulator.rooms).
    def enqueue(self, call: SimCall, verb: Verb) -> None:
        raise NotImplementedError

    def _refetch_wait(self, sid: str, epoch: int) -> None:
        raise NotImplementedError

    def leave_queue(self, call: SimCall, result: str) -> None:
        raise NotImplementedError

    def dial(self, call: SimCall, verb: Verb) -> None:
        raise NotImplementedError

    def start_twiml_recording(self, call: SimCall, noun: Verb) -> None:
        raise NotImplementedError

    def stop_recordings(self, call: SimCall) -> None:
        raise NotImplementedError

    def start_record(self, call: SimCall, verb: Verb) -> None:
        raise NotImplementedError

    # Time and work ------------------------------------------------------------------
    def now(self) -> datetime:
        return clock.now()

    def at(self, delay: float, fn: Callable[..., object], *args: Any) -> None:
        with self.lock:
            heapq.heappush(self._timers, (self.now() + timedelta(seconds=delay), next(self._order), fn, args))

    def next_due(self) -> datetime | None:
        with self.lock:
            return self._timers[0][0] if self._timers else None

    def pump(self, max_steps: int = 5000) -> int:
        """Run everything due now, including what that work schedules for now."""
        steps = 0
        while True:
            with self.lock:
                if not self._timers or self._timers[0][0] > self.now():
                    return steps
                _, _, fn, args = heapq.heappop(self._timers)
            fn(*args)
            steps += 1
            if steps >= max_steps:
                raise RuntimeError("the simulator did not settle; a TwiML loop without time passing?")

    def advance(self, seconds: float) -> None:
        """Move a FrozenClock forward, stopping at each piece of due work on the way."""
        frozen = clock.get_clock()
        if not isinstance(frozen, clock.FrozenClock):
            raise RuntimeError("advance() needs core.clock's FrozenClock installed")
        target = self.now() + timedelta(seconds=seconds)
        self.pump()
        while (due := self.next_due()) is not None and due <= target:
            if due > self.now():
                frozen.set(due)
            self.pump()
        frozen.set(target)
        self.pump()

    def run_until(self, condition: Callable[[], bool], *, within: float) -> bool:
        """Advance a FrozenClock one piece of due work at a time until `condition()` holds."""
        deadline = self.now() + timedelta(seconds=within)
        self.pump()
        while not condition():
            due = self.next_due()
            if due is None or due > deadline:
                return False
            self.advance(max(0.0, (due - self.now()).total_seconds()))
        return True

    # Webhooks -----------------------------------------------------------------------
    def sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params),
                "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
                "Content-Type": "application/x-www-form-urlencoded"}

    def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        sent = self.now()
        try:
            status, body = self.transport(url, params, self.sign(url, params))
        except Exception as exc:  # noqa: BLE001 - the carrier sees a failed request, nothing more
            log.warning("simulator webhook to %s failed: %s", url.split("?")[0], type(exc).__name__)
            status, body = 599, ""
        with self.lock:
            self.webhooks.append((url, dict(params), status))
            if self.trace is not None:
                what = (params.get("StatusCallbackEvent") or params.get("RecordingStatus")
                        or params.get("QueueResult") or params.get("CallStatus") or "")
                self.trace.append((sent, self.now(), url.split("?")[0].removeprefix(self.public_url),
                                   params.get("CallSid") or params.get("ConferenceSid") or "", what, status))
        return status, body

    def call_params(self, call: SimCall, **extra: str) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": call.sid,
            "CallStatus": call.status, "Direction": call.direction, "From": call.from_, "To": call.to,
            "Caller": call.from_, "Called": call.to, "CallToken": "", "FromCountry": "CN", "ToCountry": "CN",
        }
        if call.direction == "inbound":
            params.pop("CallToken")
        params.update({k: v for k, v in extra.items() if v is not None})
        return params

    def notify(self, url: str | None, params: dict[str, str]) -> None:
        """Schedule a callback whose answer is ignored (status, recording, conference events)."""
        if not url:
            return
        if self.faults is not None:
            self.faults.deliver(self, url, params)
        else:
            self.at(0, self.post, url, params)

    def status_event(self, call: SimCall, event: str) -> None:
        if not call.status_callback or event not in call.status_callback_events:
            return
        extra = {"CallbackSource": "call-progress-events", "SequenceNumber": str(call.sequence),
                 "Timestamp": rfc2822(self.now()) or ""}
        if event == "completed":
            extra["CallDuration"] = str(call.duration())
            extra["Duration"] = str(max(1, (call.duration() + 59) // 60)) if call.answer_time else "0"
        call.sequence += 1
        self.notify(call.status_callback, self.call_params(call, **extra))

    # TwiML fetching and execution -----------------------------------------------------
    def resolve(self, call: SimCall, url: str) -> str:
        return urljoin(call.doc_url or self.public_url + "/", url)

    def fetch(self, call: SimCall, url: str, *, context: str = "call",
              extra: Callable[[SimCall], dict[str, str]] | dict[str, str] | None = None) -> None:
        """Schedule the request for this call's next TwiML document."""
        self.at(0, self._fetch, call.sid, call.epoch, url, context, extra)

    def _fetch(self, sid: str, epoch: int, url: str, context: str, extra: Any) -> None:
        with self.lock:
            call = self.calls[sid]
            if call.epoch != epoch or not call.alive:
                return
            more = extra(call) if callable(extra) else (extra or {})
            params = self.call_params(call, **more)
        status, body = self.post(url, params)
        with self.lock:
            if call.epoch != epoch or not call.alive:
                return
            if status >= 400 or not body.strip():
                self.app_error(call, f"HTTP {status} from {url.split('?')[0]}")
                return
            try:
                verbs = parse(body, context=context)
            except TwimlError as exc:
                self.app_error(call, f"{exc} (from {url.split('?')[0]})")
                return
            if call.direction == "inbound" and call.status == "ringing":
                self.answer_inbound(call, verbs)
            call.program, call.context, call.doc_url = verbs, context, url
            call.cycle_started = self.now()
            self.run(call)

    def answer_inbound(self, call: SimCall, verbs: list[Verb]) -> None:
        if verbs and verbs[0].name in ("Reject",):
            return
        call.status = "in-progress"
        call.answer_time = self.now()

    def app_error(self, call: SimCall, message: str) -> None:
        log.warning("simulator: application error on %s: %s", call.sid, message)
        self.errors.append(f"{call.sid}: {message}")
        call.heard.append("[an application error has occurred]")
        self.end(call, "completed" if call.answer_time else "failed")

    def bump(self, call: SimCall) -> int:
        call.epoch += 1
        return call.epoch

    def later(self, call: SimCall, seconds: float) -> None:
        self.at(seconds, self._continue, call.sid, call.epoch)

    def _continue(self, sid: str, epoch: int) -> None:
        with self.lock:
            call = self.calls[sid]
            if call.epoch == epoch and call.alive:
                self.run(call)

    def run(self, call: SimCall) -> None:
        """Execute verbs until one takes time or waits for something."""
        while call.alive and call.program:
            verb = call.program.pop(0)
            name = verb.name
            if name in ("Say", "Play", "Pause"):
                self.bump(call)
                self.later(call, self.play_verb(call, verb))
                return
            if name == "Gather":
                self.start_gather(call, verb)
                return
            if name == "Record":
                self.start_record(call, verb)
                return
            if name == "Redirect":
                self.bump(call)
                self.fetch(call, self.resolve(call, verb.text), context=call.context)
                return
            if name == "Hangup":
                self.end(call, "completed")
                return
            if name == "Reject":
                self.end(call, "busy" if verb.get("reason") == "busy" else "no-answer")
                return
            if name == "Leave":
                if call.waiting == "queue":
                    self.leave_queue(call, "leave")
                    return
                continue  # outside a queue Twilio ignores it
            if name == "Enqueue":
                self.enqueue(call, verb)
                return
            if name == "Dial":
                self.dial(call, verb)
                return
            if name == "Start":
                for child in verb.children:
                    if child.name == "Recording":
                        self.start_twiml_recording(call, child)
                continue
            if name == "Stop":
                for child in verb.children:
                    if child.name == "Recording":
                        self.stop_recordings(call)
                continue
            self.app_error(call, f"the simulator does not play <{name}>")
            return
        if not call.alive:
            return
        if call.waiting == "queue":
            # A wait URL document that has played through is requested again.
            pause = 0 if call.cycle_started is None or self.now() > call.cycle_started else 5
            self.bump(call)
            self.at(pause, self._refetch_wait, call.sid, call.epoch)
        elif call.waiting is None:
            self.end(call, "completed")  # the document ended: Twilio hangs up

    def play_verb(self, call: SimCall, verb: Verb) -> int:
        loops = max(1, verb.number("loop", 1)) if verb.name != "Pause" else 1
        if verb.name == "Say":
            call.heard.append(verb.text)
            return SAY_SECONDS * loops
        if verb.name == "Play":
            call.heard.append(f"[play {verb.text.rsplit('/', 1)[-1]}]")
            seconds = HOLD_MUSIC_SECONDS if verb.text.endswith("hold-music.wav") else PLAY_SECONDS
            return seconds * loops
        return verb.number("length", 1)

    # Gather ---------------------------------------------------------------------------
    def start_gather(self, call: SimCall, verb: Verb) -> None:
        self.bump(call)
        call.gather, call.digits = verb, ""
        call.waiting = "gather" if call.waiting is None else call.waiting
        prompt = sum(self.play_verb(call, child) for child in verb.children)
        self.at(prompt + verb.number("timeout", 5), self._gather_timeout, call.sid, call.epoch)

    def gathering(self, call: SimCall) -> bool:
        return call.gather is not None

    def gather_input(self, call: SimCall, *, digits: str | None = None, speech: str | None = None) -> bool:
        verb = call.gather
        if verb is None:
            return False
        inputs = set((verb.get("input") or "dtmf").split())
        if speech is not None:
            if "speech" not in inputs:
                return False
            self._gather_done(call, {"SpeechResult": speech, "Confidence": "0.92"})
            return True
        if "dtmf" not in inputs or not digits:
            return False
        finish = verb.get("finishOnKey", "#") or ""
        call.digits += digits
        wanted = verb.number("numDigits", 0)
        if finish and finish in call.digits:
            self._gather_done(call, {"Digits": call.digits.split(finish)[0], "FinishedOnKey": finish})
        elif wanted and len(call.digits) >= wanted:
            self._gather_done(call, {"Digits": call.digits[:wanted]})
        else:
            self.bump(call)
            self.at(verb.number("timeout", 5), self._gather_timeout, call.sid, call.epoch)
        return True

    def _gather_done(self, call: SimCall, params: dict[str, str]) -> None:
        verb = call.gather
        call.gather = None
        if call.waiting == "gather":
            call.waiting = None
        self.bump(call)
        self.fetch(call, self.resolve(call, verb.get("action") or call.doc_url or ""), context=call.context,
                   extra=params)

    def _gather_timeout(self, sid: str, epoch: int) -> None:
        with self.lock:
            call = self.calls[sid]
            if call.epoch != epoch or not call.alive or call.gather is None:
                return
            if call.digits:
                self._gather_done(call, {"Digits": call.digits})
                return
            verb = call.gather
            if verb.flag("actionOnEmptyResult", False):
                self._gather_done(call, {"Digits": ""})
                return
            call.gather = None
            if call.waiting == "gather":
                call.waiting = None
            self.run(call)

    # Ending a call --------------------------------------------------------------------
    def end(self, call: SimCall, status: str) -> None:
        if not call.alive:
            return
        self.bump(call)
        call.gather = None
        call.status = status
        call.end_time = self.now()
        self.before_end(call)
        call.waiting = None
        call.program = []
        self.after_end(call)
        self.status_event(call, "completed")

    def before_end(self, call: SimCall) -> None:  # queues, conferences, recordings hook in here
        pass

    def after_end(self, call: SimCall) -> None:
        pass

    # Placing and answering calls ------------------------------------------------------
    def new_call(self, *, from_: str, to: str, direction: str, **fields: Any) -> SimCall:
        now = self.now()
        call = SimCall(sid=new_sid("CA"), account_sid=self.account_sid, from_=from_, to=to, direction=direction,
                       created_at=now, start_time=now, **fields)
        call.cycle_started = now
        self.calls[call.sid] = call
        return call
