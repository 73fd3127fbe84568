"""What the simulated carrier keeps: calls, queues, conferences, recordings and messages, with
Twilio-shaped SIDs and the JSON Twilio's REST API returns for each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"
API_BASE = "https://api.twilio.com"


def new_sid(prefix: str) -> str:
    """`CA` + 32 hex digits, as Twilio's SIDs are."""
    return prefix + uuid.uuid4().hex


def rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment, usegmt=True) if moment is not None else None


@dataclass
class SimCall:
    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str  # inbound | outbound-api
    status: str = "queued"
    url: str | None = None
    status_callback: str | None = None
    status_callback_events: frozenset[str] = frozenset({"completed"})
    timeout: int = 60
    created_at: datetime | None = None
    start_time: datetime | None = None
    answer_time: datetime | None = None
    end_time: datetime | None = None
    sequence: int = 0
    # Execution of TwiML: the verbs left, the context they run in ("call" or "wait").
    epoch: int = 0
    program: list[Any] = field(default_factory=list)
    context: str = "call"
    doc_url: str | None = None
    waiting: str | None = None  # gather | queue | conference | record | ringing
    gather: Any = None
    digits: str = ""
    speech: str | None = None
    queue_name: str | None = None
    enqueue: Any = None
    main_program: list[Any] = field(default_factory=list)
    enqueued_at: datetime | None = None
    conference: str | None = None
    dial: Any = None
    dial_started: datetime | None = None
    record: Any = None
    record_sid: str | None = None
    recordings: list[str] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    cycle_started: datetime | None = None
    twiml: str | None = None
    # MachineDetection asked for when the call was created (Enable | DetectMessageEnd).
    machine_detection: str | None = None

    @property
    def alive(self) -> bool:
        return self.status in ("queued", "initiated", "ringing", "in-progress")

    def duration(self) -> int:
        if self.answer_time is None or self.end_time is None:
            return 0
        return max(0, int((self.end_time - self.answer_time).total_seconds()))

    def resource(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"
        return {
            "sid": self.sid, "account_sid": self.account_sid, "parent_call_sid": None, "to": self.to,
            "to_formatted": self.to, "from": self.from_, "from_formatted": self.from_, "status": self.status,
            "direction": self.direction, "start_time": rfc2822(self.start_time), "end_time": rfc2822(self.end_time),
            "duration": str(self.duration()) if self.end_time else None, "price": None, "price_unit": "USD",
            "answered_by": None, "api_version": API_VERSION, "forwarded_from": None, "group_sid": None,
            "caller_name": None, "queue_time": "0", "trunk_sid": None, "phone_number_sid": None,
            "date_created": rfc2822(self.created_at), "date_updated": rfc2822(self.created_at), "uri": uri,
            "subresource_uris": {"recordings": uri.replace(".json", "/Recordings.json")},
        }


@dataclass
class SimParticipant:
    call_sid: str
    label: str | None = None
    start_on_enter: bool = True
    end_on_exit: bool = False
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None


@dataclass
class SimConference:
    sid: str
    name: str
    account_sid: str
    status: str = "init"  # init | in-progress | completed
    participants: dict[str, SimParticipant] = field(default_factory=dict)
    status_callback: str | None = None
    status_callback_events: frozenset[str] = frozenset()
    sequence: int = 0
    created_at: datetime | None = None

    def participant_resource(self, part: SimParticipant) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid, "call_sid": part.call_sid, "conference_sid": self.sid,
            "label": part.label, "muted": part.muted, "hold": part.hold, "coaching": part.coaching,
            "call_sid_to_coach": part.call_sid_to_coach, "status": "connected",
            "start_conference_on_enter": part.start_on_enter, "end_conference_on_exit": part.end_on_exit,
            "date_created": rfc2822(self.created_at), "date_updated": rfc2822(self.created_at),
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Conferences/{self.sid}/Participants/"
                   f"{part.call_sid}.json",
        }


@dataclass
class SimRecording:
    sid: str
    account_sid: str
    call_sid: str
    source: str
    channels: int
    track: str = "both"
    status: str = "in-progress"
    conference_sid: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    paused_seconds: int = 0
    paused_at: datetime | None = None
    status_callback: str | None = None
    status_callback_events: frozenset[str] = frozenset({"completed"})
    deleted: bool = False
    error_code: int = 0

    def duration(self) -> int:
        if self.start_time is None or self.end_time is None:
            return 0
        return max(0, int((self.end_time - self.start_time).total_seconds()) - self.paused_seconds)

    @property
    def url(self) -> str:
        return f"{API_BASE}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{self.sid}"

    def resource(self) -> dict[str, Any]:
        return {
            "sid": self.sid, "account_sid": self.account_sid, "call_sid": self.call_sid,
            "conference_sid": self.conference_sid, "api_version": API_VERSION, "status": self.status,
            "channels": self.channels, "source": self.source, "track": self.track,
            "duration": str(self.duration()) if self.end_time else "-1", "error_code": self.error_code or None,
            "start_time": rfc2822(self.start_time), "date_created": rfc2822(self.start_time),
            "date_updated": rfc2822(self.end_time or self.start_time), "price": None, "price_unit": "USD",
            "media_url": self.url, "encryption_details": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{self.sid}.json",
        }


@dataclass
class SimMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status: str = "queued"
    status_callback: str | None = None
    created_at: datetime | None = None

    def resource(self) -> dict[str, Any]:
        return {
            "sid": self.sid, "account_sid": self.account_sid, "to": self.to, "from": self.from_, "body": self.body,
            "status": self.status, "direction": "outbound-api", "num_segments": "1", "num_media": "0",
            "api_version": API_VERSION, "date_created": rfc2822(self.created_at), "date_sent": None,
            "date_updated": rfc2822(self.created_at), "error_code": None, "error_message": None, "price": None,
            "price_unit": "USD", "messaging_service_sid": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json", "subresource_uris": {},
        }
