"""Reading the TwiML the hub returns, and refusing what Twilio would refuse: an unknown verb, a
noun in the wrong place, a missing required value, a verb a queue's wait URL may not use."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

__all__ = ["TwimlError", "Verb", "parse"]

VERBS = {"Say", "Play", "Pause", "Gather", "Record", "Dial", "Enqueue", "Leave", "Hangup", "Redirect", "Reject",
         "Start", "Stop", "Connect", "Refer", "Sms", "Message", "Pay", "Prompt"}
NESTED = {
    "Gather": {"Say", "Play", "Pause"},
    "Dial": {"Number", "Client", "Conference", "Queue", "Sip", "Sim", "Application", "WhatsApp"},
    "Start": {"Recording", "Stream", "Siprec", "Transcription", "ConversationRelay"},
    "Stop": {"Recording", "Stream", "Siprec", "Transcription"},
    "Client": {"Identity", "Parameter"},
    "Enqueue": {"Task"},
    "Say": {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"},
}
# TwiML returned by an <Enqueue> waitUrl (and the actions of a <Gather> inside it).
WAIT_VERBS = {"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}
NEEDS_TEXT = {"Play", "Redirect", "Conference", "Number", "Queue", "Sip"}
INTEGER_ATTRS = {"timeout", "numDigits", "maxLength", "length", "loop", "maxParticipants", "timeLimit"}
ENUMS = {
    ("Gather", "input"): {"dtmf", "speech"},
    ("Dial", "record"): {"do-not-record", "record-from-answer", "record-from-ringing", "record-from-answer-dual",
                         "record-from-ringing-dual", "true", "false"},
    ("Conference", "record"): {"do-not-record", "record-from-start"},
    ("Recording", "channels"): {"mono", "dual"},
    ("Recording", "track"): {"inbound", "outbound", "both"},
    ("Record", "trim"): {"trim-silence", "do-not-trim"},
    ("Conference", "beep"): {"true", "false", "onEnter", "onExit"},
}
EVENT_LISTS = {
    ("Record", "recordingStatusCallbackEvent"): {"in-progress", "completed", "absent"},
    ("Recording", "recordingStatusCallbackEvent"): {"in-progress", "completed", "absent"},
    ("Conference", "statusCallbackEvent"): {"start", "end", "join", "leave", "mute", "hold", "modify", "speaker",
                                            "announcement"},
    ("Client", "statusCallbackEvent"): {"initiated", "ringing", "answered", "completed"},
}


class TwimlError(ValueError):
    """What Twilio would report for this document (12100: not valid XML; 12200: schema)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class Verb:
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list[Verb] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def flag(self, name: str, default: bool) -> bool:
        value = self.attrs.get(name)
        return default if value is None else value.lower() == "true"

    def number(self, name: str, default: int) -> int:
        value = self.attrs.get(name)
        return default if value is None else int(value)

    def events(self, name: str) -> frozenset[str]:
        return frozenset((self.attrs.get(name) or "").replace(",", " ").split())


def _convert(element: ET.Element, parent: str | None) -> Verb:
    verb = Verb(element.tag, dict(element.attrib), (element.text or "").strip())
    allowed = NESTED.get(element.tag, set())
    for child in element:
        if child.tag not in allowed:
            where = f"<{element.tag}>"
            raise TwimlError(12200, f"<{child.tag}> is not allowed inside {where}")
        verb.children.append(_convert(child, element.tag))
    _check(verb)
    return verb


def _check(verb: Verb) -> None:
    for attr in INTEGER_ATTRS & verb.attrs.keys():
        try:
            int(verb.attrs[attr])
        except ValueError:
            raise TwimlError(12200, f"<{verb.name}> {attr}={verb.attrs[attr]!r} is not a number") from None
    for (name, attr), allowed in ENUMS.items():
        if verb.name == name and attr in verb.attrs:
            values = verb.attrs[attr].split() if attr == "input" else [verb.attrs[attr]]
            if not values or any(v not in allowed for v in values):
                raise TwimlError(12200, f"<{name}> {attr}={verb.attrs[attr]!r} is not one of {sorted(allowed)}")
    for (name, attr), allowed in EVENT_LISTS.items():
        if verb.name == name and attr in verb.attrs and not verb.events(attr) <= allowed:
            raise TwimlError(12200, f"<{name}> {attr}={verb.attrs[attr]!r} names an unknown event")
    if verb.name in NEEDS_TEXT and not verb.text and not (verb.name == "Play" and verb.get("digits")):
        raise TwimlError(12200, f"<{verb.name}> needs its value (a URL, a name or a number)")
    if verb.name == "Enqueue":
        if not verb.text and not verb.get("workflowSid"):
            raise TwimlError(12200, "<Enqueue> needs a queue name")
        if len(verb.text) > 64:
            raise TwimlError(12200, "a queue name is at most 64 characters")
    if verb.name == "Say" and not verb.text and not verb.children:
        raise TwimlError(12200, "<Say> needs something to say")
    if verb.name == "Dial" and not verb.text and not verb.children:
        raise TwimlError(12200, "<Dial> needs a number or a noun")
    if verb.name == "Client" and not verb.text and not any(c.name == "Identity" for c in verb.children):
        raise TwimlError(12200, "<Client> needs an identity")


def parse(document: str, *, context: str = "call") -> list[Verb]:
    """The verbs of a `<Response>`; `context="wait"` applies the rules of an Enqueue wait URL."""
    try:
        root = ET.fromstring(document.strip().encode())
    except ET.ParseError as exc:
        raise TwimlError(12100, f"the document is not valid XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(12100, f"the root element is <{root.tag}>, not <Response>")
    verbs = []
    for element in root:
        if element.tag not in VERBS:
            raise TwimlError(12200, f"<{element.tag}> is not a TwiML verb")
        if context == "wait" and element.tag not in WAIT_VERBS:
            raise TwimlError(12200, f"<{element.tag}> is not allowed in a queue's wait URL")
        verbs.append(_convert(element, None))
    return verbs
