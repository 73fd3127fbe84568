"""The simulated carrier as tests and the demo use it: callers who dial, press keys, speak and
hang up; agents' browser phones (`client:agent_<id>`) that ring, answer, decline and hang up;
outbound calls and SMS the hub asks for over REST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telephony.simulator.rooms import Rooms
from telephony.simulator.state import SimCall, SimMessage, new_sid

DEFAULT_EVENTS = frozenset({"completed"})


@dataclass
class Phone:
    """A simulated endpoint: an agent's browser phone (`agent_5`) or a customer's number."""

    sim: Simulator
    identity: str

    def ringing(self) -> list[str]:
        return self.sim.ringing_for(self.identity)

    def active(self) -> list[str]:
        return self.sim.active_for(self.identity)

    def answer(self, sid: str | None = None) -> str:
        return self.sim.answer(self._pick(sid, self.ringing()))

    def decline(self, sid: str | None = None) -> str:
        return self.sim.decline(self._pick(sid, self.ringing()))

    def hangup(self, sid: str | None = None) -> str:
        return self.sim.hangup(self._pick(sid, self.active()))

    def _pick(self, sid: str | None, sids: list[str]) -> str:
        if sid is not None:
            return sid
        if not sids:
            raise LookupError(f"{self.identity} has no such call")
        return sids[0]


class Simulator(Rooms):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.messages: dict[str, SimMessage] = {}
        self.failures: list[dict[str, Any]] = []

    # Callers ------------------------------------------------------------------------------
    def place_call(self, from_: str, to: str | None = None) -> str:
        """A caller dials the hotline: Twilio requests the number's voice URL."""
        with self.lock:
            call = self.new_call(from_=from_, to=to or self.hotline_number, direction="inbound", status="ringing",
                                 status_callback=self.status_callback_url, status_callback_events=DEFAULT_EVENTS)
            self.fetch(call, self.voice_url)
            return call.sid

    def press(self, sid: str, digits: str) -> bool:
        """Keys pressed on the phone; heard only by a `<Gather>` or `<Record>` waiting for them."""
        with self.lock:
            call = self.calls[sid]
            if call.waiting == "record" and call.record is not None:
                if digits[:1] in (call.record.get("finishOnKey", "1234567890*#") or ""):
                    self.record_done(call, digits[:1])
                    return True
                return False
            return self.gather_input(call, digits=digits)

    def speak(self, sid: str, text: str) -> bool:
        with self.lock:
            return self.gather_input(self.calls[sid], speech=text)

    def hangup(self, sid: str) -> str:
        with self.lock:
            call = self.calls[sid]
            self.end(call, "completed" if call.answer_time else "canceled")
            return sid

    def listening(self, sid: str) -> bool:
        """Whether a `<Gather>` is waiting for this caller's keys."""
        with self.lock:
            return self.calls[sid].gather is not None

    def heard(self, sid: str) -> list[str]:
        with self.lock:
            return list(self.calls[sid].heard)

    def call(self, sid: str) -> SimCall:
        return self.calls[sid]

    # Phones -------------------------------------------------------------------------------
    def phone(self, identity: str) -> Phone:
        return Phone(self, identity.removeprefix("client:"))

    def _endpoint(self, call: SimCall) -> str:
        return call.to.removeprefix("client:")

    def ringing_for(self, identity: str) -> list[str]:
        with self.lock:
            return [c.sid for c in self.calls.values()
                    if c.direction != "inbound" and c.waiting == "ringing" and self._endpoint(c) == identity]

    def active_for(self, identity: str) -> list[str]:
        with self.lock:
            return [c.sid for c in self.calls.values()
                    if c.direction != "inbound" and c.status == "in-progress" and self._endpoint(c) == identity]

    def answer(self, sid: str) -> str:
        with self.lock:
            call = self.calls[sid]
            if call.waiting != "ringing":
                raise LookupError("that call is not ringing")
            self.bump(call)
            call.waiting, call.status, call.answer_time = None, "in-progress", self.now()
            if call.twiml:
                call.doc_url = call.url or self.public_url + "/"
                call.program = self._parse_inline(call)
                self.at(0, self._continue, call.sid, call.epoch)
            else:
                self.fetch(call, call.url or "")
            self.status_event(call, "answered")
            return sid

    def decline(self, sid: str) -> str:
        with self.lock:
            call = self.calls[sid]
            if call.waiting != "ringing":
                raise LookupError("that call is not ringing")
            self.end(call, "busy")
            return sid

    def _parse_inline(self, call: SimCall) -> list[Any]:
        from telephony.simulator.twiml import parse

        return parse(call.twiml or "")

    # Outbound calls (REST) ------------------------------------------------------------------
    def create_call(self, *, to: str, from_: str, url: str | None, twiml: str | None, status_callback: str | None,
                    events: frozenset[str], timeout: int) -> SimCall:
        with self.lock:
            call = self.new_call(from_=from_, to=to, direction="outbound-api", status="queued", url=url,
                                 status_callback=status_callback, status_callback_events=events or DEFAULT_EVENTS,
                                 timeout=timeout)
            call.twiml = twiml
            self.at(0, self._dial_out, call.sid)
            return call

    def _dial_out(self, sid: str) -> None:
        with self.lock:
            call = self.calls[sid]
            if not call.alive:
                return
            call.status = "initiated"
            self.status_event(call, "initiated")
            call.status, call.waiting = "ringing", "ringing"
            self.status_event(call, "ringing")
            self.bump(call)
            self.at(call.timeout, self._ring_timeout, sid, call.epoch)

    def _ring_timeout(self, sid: str, epoch: int) -> None:
        with self.lock:
            call = self.calls[sid]
            if call.epoch == epoch and call.waiting == "ringing":
                self.end(call, "no-answer")

    def redirect(self, call: SimCall, url: str | None, twiml: str | None) -> None:
        """A REST update with new TwiML: the call leaves its queue or conference and runs it."""
        if call.waiting == "ringing":
            call.url, call.twiml = url or call.url, twiml or call.twiml
            return
        if call.waiting == "queue":
            self.leave_queue(call, "redirected")
        elif call.waiting == "conference":
            self.leave_conference(call, "modified", continue_call=False)
        elif call.waiting == "record":
            self.record_done(call, "hangup")
        self.bump(call)
        call.gather, call.waiting, call.program, call.context = None, None, [], "call"
        if twiml:
            call.program = self._parse_inline_text(twiml)
            self.at(0, self._continue, call.sid, call.epoch)
        elif url:
            self.fetch(call, url)

    def _parse_inline_text(self, twiml: str) -> list[Any]:
        from telephony.simulator.twiml import parse

        return parse(twiml)

    # SMS ----------------------------------------------------------------------------------
    def send_message(self, *, to: str, from_: str, body: str, status_callback: str | None) -> SimMessage:
        with self.lock:
            message = SimMessage(sid=new_sid("SM"), account_sid=self.account_sid, to=to, from_=from_, body=body,
                                 status_callback=status_callback, created_at=self.now())
            self.messages[message.sid] = message
            self.at(0, self._deliver, message.sid)
            return message

    def _deliver(self, sid: str) -> None:
        with self.lock:
            message = self.messages[sid]
            for status in ("sent", "delivered"):
                message.status = status
                if message.status_callback:
                    self.notify(message.status_callback, {
                        "AccountSid": self.account_sid, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                        "SmsStatus": status, "From": message.from_, "To": message.to, "ApiVersion": "2010-04-01"})

    # Answering-machine detection ------------------------------------------------------------
    def answer_as(self, sid: str, answered_by: str = "human") -> str:
        """The called party picks up a call the hub created with `MachineDetection`, and
        detection decides `answered_by` (human, machine_start, machine_end_beep,
        machine_end_silence, machine_end_other, fax or unknown): the call's URL is requested
        with `AnsweredBy`, as Twilio does once synchronous detection ends."""
        with self.lock:
            call = self.calls[sid]
            if call.waiting != "ringing":
                raise LookupError("that call is not ringing")
            self.bump(call)
            call.waiting, call.status, call.answer_time = None, "in-progress", self.now()
            extra = {"AnsweredBy": answered_by} if call.machine_detection else {}
            self.fetch(call, call.url or "", extra=extra)
            self.status_event(call, "answered")
            return sid

    # Faults for tests -----------------------------------------------------------------------
    def fail_next(self, *, method: str, path_contains: str, status: int, code: int, times: int = 1,
                  message: str = "simulated failure") -> None:
        """Make the next `times` matching REST requests fail as Twilio would (429, 500, 404...)."""
        with self.lock:
            self.failures.append({"method": method.upper(), "path": path_contains, "status": status, "code": code,
                                  "times": times, "message": message})
