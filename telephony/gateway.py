"""Everything the hub asks of Twilio's REST API, behind one interface. `get_gateway()` gives the
real `twilio.rest.Client` in production and, in the embedded mode, the same client whose HTTP
client rewrites Twilio's host to the carrier simulator, so one code path serves both."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from core.config import get_settings
from core.errors import DomainError

__all__ = ["CallState", "GatewayError", "SimulatorHttpClient", "TwilioGateway", "get_gateway", "install_gateway"]

log = logging.getLogger("hotline.telephony.gateway")
T = TypeVar("T")
TWILIO_HOST_SUFFIX = "twilio.com"
CURRENT_RECORDING = "Twilio.CURRENT"
RECORDINGS_PAGE_SIZE = 50  # a call has one recording or two; the client follows next_page_uri past these


class GatewayError(DomainError):
    """Twilio refused or could not be reached; the message says which request and why."""

    default_msgid = "Twilio refused or could not be reached; nothing was changed."

    code = "twilio_error"

    def __init__(self, message: str, *, status: int | None = None, twilio_code: int | None = None,
                 retryable: bool = False, params: dict[str, object] | None = None) -> None:
        super().__init__(message, params=params)
        self.status = status
        self.twilio_code = twilio_code
        self.retryable = retryable


@dataclass(frozen=True)
class CallState:
    sid: str
    status: str
    duration: int | None
    parent_call_sid: str | None = None


class SimulatorHttpClient(TwilioHttpClient):
    """twilio's own HTTP client, with Twilio's scheme and host rewritten to the simulator's base
    URL; an optional requests adapter answers in-process (the tests) instead of over HTTP."""

    def __init__(self, base_url: str, *, adapter: requests.adapters.BaseAdapter | None = None,
                 timeout: float = 10.0) -> None:
        # No pool over HTTP: a fresh connection each time (see request); an in-process adapter
        # (the tests) is mounted on the pooled session.
        super().__init__(pool_connections=adapter is not None, timeout=timeout)
        self.base_url = base_url.rstrip("/")
        if adapter is not None:
            assert self.session is not None
            self.session.mount(self.base_url + "/", adapter)

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        if not (parts.hostname or "").endswith(TWILIO_HOST_SUFFIX):
            return url
        base = urlsplit(self.base_url)
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))

    def request(self, method: str, url: str, params: Any = None, data: Any = None,
                headers: dict[str, str] | None = None, *args: Any, **kwargs: Any) -> Any:
        # A fresh connection each time: the simulator's server (the demo's own) closes one idle
        # for its keep-alive time, and a call placed on it as it closes is lost (not safe to repeat).
        # Without a pool nothing is reused even where the server keeps the connection open (it
        # decides that by its answer, not by our request's header, which asks it to close).
        headers = {**(headers or {}), "Connection": "close"}
        return super().request(method, self.rewrite(url), params, data, headers, *args, **kwargs)


def _rest_errors(fn: Callable[[], T]) -> T:
    """`fn()`, with a refused page of a list (which the twilio client raises as a bare
    TwilioException carrying the response, not as TwilioRestException) raised as the refusal it
    is, so a 429 or a 5xx on a list is retried and reported like any other."""
    try:
        return fn()
    except TwilioRestException:
        raise
    except TwilioException as exc:
        response = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], TwilioResponse) else None
        if response is None:
            raise
        try:
            body = json.loads(response.text)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        raise TwilioRestException(response.status_code, "", msg=str(body.get("message") or exc.args[0]),
                                  code=body.get("code")) from exc


def _retryable(exc: Exception, *, safe_to_repeat: bool) -> bool:
    if isinstance(exc, TwilioRestException):
        if exc.status == 429:
            return True  # refused before doing anything
        return safe_to_repeat and exc.status >= 500
    return safe_to_repeat and isinstance(exc, requests.ConnectionError | requests.Timeout)


class TwilioGateway:
    """The REST calls the hub makes. 429 (and, for requests safe to repeat, 5xx and network
    errors) are retried with exponential backoff; anything else raises GatewayError at once."""

    def __init__(self, client: Client, *, sleep: Callable[[float], None] = time.sleep, attempts: int = 4,
                 base_delay: float = 0.5, max_delay: float = 8.0) -> None:
        self.client = client
        self.sleep = sleep
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay

    @property
    def account_sid(self) -> str:
        return str(self.client.account_sid)

    def _call(self, what: str, fn: Callable[[], T], *, safe_to_repeat: bool = True) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return _rest_errors(fn)
            except (TwilioRestException, requests.RequestException) as exc:
                retry = _retryable(exc, safe_to_repeat=safe_to_repeat)
                status = getattr(exc, "status", None)
                if retry and attempt < self.attempts:
                    delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                    log.warning("twilio %s failed (%s), retry %d in %.2fs", what, status or type(exc).__name__,
                                attempt, delay)
                    self.sleep(delay)
                    continue
                message = getattr(exc, "msg", None) or type(exc).__name__
                raise GatewayError("Twilio could not do this: %(reason)s", params={"action": what, "reason": message},
                                   status=status,
                                   twilio_code=getattr(exc, "code", None), retryable=retry) from exc
        raise AssertionError("unreachable")

    # Calls ----------------------------------------------------------------------------
    def create_call(self, *, to: str, from_: str, url: str, status_callback: str | None = None,
                    status_callback_event: list[str] | None = None, timeout: int | None = None) -> str:
        call = self._call("place the call", lambda: self.client.calls.create(
            to=to, from_=from_, url=url, method="POST", status_callback=status_callback,
            status_callback_method="POST", status_callback_event=status_callback_event, timeout=timeout),
            safe_to_repeat=False)
        return str(call.sid)

    def update_call(self, call_sid: str, *, url: str | None = None, status: str | None = None,
                    twiml: str | None = None) -> None:
        kwargs = {k: v for k, v in (("url", url), ("status", status), ("twiml", twiml)) if v is not None}
        if url is not None:
            kwargs["method"] = "POST"
        self._call("update the call", lambda: self.client.calls(call_sid).update(**kwargs))

    def hangup(self, call_sid: str) -> None:
        self.update_call(call_sid, status="completed")

    def fetch_call(self, call_sid: str) -> CallState:
        call = self._call("fetch the call", lambda: self.client.calls(call_sid).fetch())
        return CallState(sid=str(call.sid), status=str(call.status), parent_call_sid=call.parent_call_sid,
                         duration=int(call.duration) if call.duration not in (None, "") else None)

    # Conferences ----------------------------------------------------------------------
    def add_participant(self, conference: str, *, from_: str, to: str, label: str | None = None,
                        status_callback: str | None = None, coaching: bool | None = None,
                        call_sid_to_coach: str | None = None, muted: bool | None = None,
                        timeout: int | None = None) -> str:
        participant = self._call("add the participant", lambda: self.client.conferences(conference).participants.create(
            from_=from_, to=to, label=label, status_callback=status_callback, coaching=coaching,
            call_sid_to_coach=call_sid_to_coach, muted=muted, timeout=timeout, early_media=True),
            safe_to_repeat=False)
        return str(participant.call_sid)

    def update_participant(self, conference: str, call_sid: str, **changes: Any) -> None:
        clean = {k: v for k, v in changes.items() if v is not None}
        self._call("update the participant",
                   lambda: self.client.conferences(conference).participants(call_sid).update(**clean))

    def remove_participant(self, conference: str, call_sid: str) -> None:
        self._call("remove the participant",
                   lambda: self.client.conferences(conference).participants(call_sid).delete())

    # Recordings -----------------------------------------------------------------------
    def start_recording(self, call_sid: str, *, status_callback: str, channels: str = "dual") -> str:
        recording = self._call("start recording", lambda: self.client.calls(call_sid).recordings.create(
            recording_channels=channels, recording_status_callback=status_callback,
            recording_status_callback_method="POST",
            recording_status_callback_event=["in-progress", "completed", "absent"]), safe_to_repeat=False)
        return str(recording.sid)

    def set_recording_status(self, call_sid: str, *, status: str, recording_sid: str = CURRENT_RECORDING,
                             pause_behavior: str | None = None) -> None:
        """`paused`, `in-progress` (resume) or `stopped`; the call's active recording by default."""
        kwargs: dict[str, Any] = {"status": status}
        if pause_behavior is not None:
            kwargs["pause_behavior"] = pause_behavior
        self._call(f"set the recording {status}",
                   lambda: self.client.calls(call_sid).recordings(recording_sid).update(**kwargs))

    def fetch_recording(self, recording_sid: str) -> dict[str, Any]:
        rec = self._call("fetch the recording", lambda: self.client.recordings(recording_sid).fetch())
        return _recording_fields(rec)

    def list_recordings(self, call_sid: str) -> list[dict[str, Any]]:
        """Every recording Twilio keeps of the call (all pages; deleted ones left out), as
        fetch_recording gives one. A GET: retried on 429 and 5xx like any request safe to repeat."""
        found = self._call("list the call's recordings",
                           lambda: self.client.recordings.list(call_sid=call_sid, page_size=RECORDINGS_PAGE_SIZE))
        return [_recording_fields(rec) for rec in found]

    def delete_recording(self, recording_sid: str) -> None:
        try:
            self._call("delete the recording", lambda: self.client.recordings(recording_sid).delete())
        except GatewayError as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    def media_url(self, recording_sid: str) -> str:
        return (f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}.wav")

    def download_media(self, url: str, dest: Path) -> tuple[int, str]:
        """Stream the media (HTTP auth on, as "Enforce HTTP Auth on Media URLs" requires) into
        `dest`; returns its size and sha256. Retried like any safe request."""
        http = self.client.http_client
        target = http.rewrite(url) if isinstance(http, SimulatorHttpClient) else url
        session = getattr(http, "session", None) or requests.Session()
        auth = (self.client.username, self.client.password)

        def fetch() -> tuple[int, str]:
            digest = hashlib.sha256()
            size = 0
            with session.get(target, auth=auth, stream=True, timeout=30) as response:
                if response.status_code >= 400:
                    raise TwilioRestException(response.status_code, target, "media download refused",
                                              method="GET")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open(dest, "wb") as handle:
                    for chunk in response.iter_content(64 * 1024):
                        handle.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
            return size, digest.hexdigest()

        return self._call("download the recording", fetch)

    # Messages -------------------------------------------------------------------------
    def send_sms(self, *, to: str, from_: str, body: str, status_callback: str | None = None) -> str:
        message = self._call("send the SMS", lambda: self.client.messages.create(
            to=to, from_=from_, body=body, status_callback=status_callback), safe_to_repeat=False)
        return str(message.sid)

    # In-call controls and callbacks (telephony.controls, telephony.callbacks) ---------------
    def dial_customer(self, *, to: str, from_: str, url: str, status_callback: str, timeout: int = 30,
                      machine_detection: str = "Enable") -> str:
        """A server-dialled callback: answering-machine detection runs before `url` is requested,
        which then carries `AnsweredBy` (human, machine_start, machine_end_*, fax, unknown)."""
        call = self._call("dial the customer", lambda: self.client.calls.create(
            to=to, from_=from_, url=url, method="POST", status_callback=status_callback,
            status_callback_method="POST", status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=timeout, machine_detection=machine_detection), safe_to_repeat=False)
        return str(call.sid)

    def add_conference_leg(self, conference: str, *, from_: str, to: str, status_callback: str,
                           label: str | None = None, end_conference_on_exit: bool = False,
                           muted: bool | None = None, coaching: bool | None = None,
                           call_sid_to_coach: str | None = None, timeout: int = 30) -> str:
        """Ring `to` into the conference (a transfer target, a monitoring leader, a callback's
        agent), with its status events sent to `status_callback`."""
        participant = self._call("add the participant", lambda: self.client.conferences(conference).participants.create(
            from_=from_, to=to, label=label, status_callback=status_callback, status_callback_method="POST",
            status_callback_event=["ringing", "answered", "completed"], end_conference_on_exit=end_conference_on_exit,
            muted=muted, coaching=coaching, call_sid_to_coach=call_sid_to_coach, timeout=timeout, early_media=True),
            safe_to_repeat=False)
        return str(participant.call_sid)


# Choosing the gateway ---------------------------------------------------------------------------

_installed: TwilioGateway | None = None
_built: dict[tuple[Any, ...], TwilioGateway] = {}
_lock = threading.Lock()


def _recording_fields(rec: Any) -> dict[str, Any]:
    return {"sid": rec.sid, "status": rec.status, "duration": rec.duration, "channels": rec.channels,
            "call_sid": rec.call_sid, "source": rec.source}


def install_gateway(gateway: TwilioGateway | None) -> None:
    """Use this gateway from now on (tests and the demo install the simulator's)."""
    global _installed
    _installed = gateway


def get_gateway() -> TwilioGateway:
    """Real Twilio in production; the simulator, reached at `<public_url>/simulator`, otherwise."""
    if _installed is not None:
        return _installed
    settings = get_settings()
    sid = settings.twilio_account_sid or "AC" + "0" * 32
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else "simulator"
    key = (settings.is_production, sid, token, settings.public_url)
    with _lock:
        if key not in _built:
            if settings.is_production:
                http_client: TwilioHttpClient = TwilioHttpClient(timeout=10)
            else:
                http_client = SimulatorHttpClient(settings.public_url + "/simulator")
            _built[key] = TwilioGateway(Client(sid, token, http_client=http_client))
        return _built[key]
