"""The IVR: editable settings (texts per language, wait limit), the menu's choices and the TwiML
the caller hears from greeting to queue, built with twilio's `VoiceResponse`."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from twilio.twiml.voice_response import Gather, VoiceResponse

from core.cache import forget, remembered
from core.config import get_settings
from core.errors import ValidationFailed
from telephony.ivr_texts import APOLOGY, DEFAULT_TEXTS, LANGUAGES, SPEECH_WORDS
from telephony.models import IvrSettings

__all__ = ["CHOICES", "LANGUAGES", "MENU_DIGITS", "IvrConfig", "choice_for", "get_config", "update_settings",
           "menu_twiml", "closed_twiml", "voicemail_twiml", "apology_twiml", "enqueue_twiml", "wait_twiml",
           "leave_twiml", "goodbye_twiml", "hangup_twiml", "leave_only_twiml", "webhook_url", "HOLD_MUSIC_PATH",
           "queue_name_for"]

MENU_DIGITS = {"1": "inquiry", "2": "complaint", "3": "membership", "4": "callback", "0": "operator"}
SWITCH_LANGUAGE_DIGIT = "9"
# Menu choice -> (skill the router looks for, category of the ticket opened for the call).
CHOICES: dict[str, tuple[str, str]] = {
    "inquiry": ("inquiry", "inquiry"),
    "complaint": ("complaint", "complaint"),
    "membership": ("membership", "inquiry"),
    "callback": ("callback", "callback_request"),
    "operator": ("operator", "other"),
}
HOLD_MUSIC_PATH = "/twilio/hold-music.wav"
VOICEMAIL_MAX_SECONDS = 180
_EDITABLE = ("default_language", "default_site_id", "wait_limit_seconds", "callback_due_minutes")


@dataclass(frozen=True)
class IvrConfig:
    default_language: str = "zh-CN"
    default_site_id: int | None = None
    wait_limit_seconds: int = 180
    callback_due_minutes: int = 60
    texts: dict[str, dict[str, str]] = field(default_factory=dict)

    def language(self, wanted: str | None) -> str:
        return wanted if wanted in LANGUAGES else self.default_language

    def text(self, language: str, key: str, **values: Any) -> str:
        language = self.language(language)
        own = self.texts.get(language, {}).get(key)
        template = own if own else DEFAULT_TEXTS[language][key]
        return template.format(**values) if values else template


def get_config(session: Session) -> IvrConfig:
    """The settings in force (remembered for a few seconds: every call reads them)."""
    return remembered(session, "ivr", lambda: _load_config(session))


def _load_config(session: Session) -> IvrConfig:
    row = session.get(IvrSettings, 1)
    if row is None:
        return IvrConfig()
    return IvrConfig(default_language=row.default_language, default_site_id=row.default_site_id,
                     wait_limit_seconds=row.wait_limit_seconds,
                     callback_due_minutes=row.callback_due_minutes, texts=dict(row.texts or {}))


# What a number setting that is not a whole number of at least 1 is answered with.
WHOLE_NUMBER = {"wait_limit_seconds": "Give a whole number of seconds, 1 or more.",
                "callback_due_minutes": "Give a whole number of minutes, 1 or more."}


def _placeholder_problem(text: str, default: str) -> dict[str, object] | None:
    """Texts are filled in with `str.format` during a call: a placeholder the default does not
    have, or a stray brace, would fail then, so it is refused now."""
    allowed = {name for _, name, _, _ in string.Formatter().parse(default) if name}
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"msg": "Use only the placeholders %(names)s, each in braces, as the default text does.",
                "params": {"names": ", ".join("{" + n + "}" for n in sorted(allowed)) or "-"}}
    if used - allowed:
        if not allowed:
            return {"msg": "This text takes no placeholders: remove the braces."}
        return {"msg": "Use only the placeholders %(names)s, each in braces, as the default text does.",
                "params": {"names": ", ".join("{" + n + "}" for n in sorted(allowed))}}
    return None


def update_settings(session: Session, *, by_id: int | None = None, texts: dict[str, dict[str, str]] | None = None,
                    **changes: Any) -> IvrConfig:
    """Change the IVR settings (an administrator's edit); every change is audited by name."""
    from core.audit import record

    errors: list[dict[str, object]] = []
    for key in changes:
        if key not in _EDITABLE:
            errors.append({"loc": [key], "msg": "This is not an IVR setting."})
    if "default_language" in changes and changes["default_language"] not in LANGUAGES:
        errors.append({"loc": ["default_language"], "msg": "Choose a language from the list.",
                       "params": {"known": list(LANGUAGES)}})
    for key in ("wait_limit_seconds", "callback_due_minutes"):
        if key in changes and (not isinstance(changes[key], int) or changes[key] < 1):
            errors.append({"loc": [key], "msg": WHOLE_NUMBER[key]})
    for language, entries in (texts or {}).items():
        if language not in LANGUAGES:
            errors.append({"loc": ["texts", language], "msg": "Choose a language from the list.",
                           "params": {"known": list(LANGUAGES)}})
            continue
        for key, value in entries.items():
            if key not in DEFAULT_TEXTS[language]:
                errors.append({"loc": ["texts", language, key], "msg": "This is not an IVR text."})
            elif not isinstance(value, str) or len(value) > 1000:
                errors.append({"loc": ["texts", language, key], "msg": "A text has at most 1000 characters."})
            elif (wrong := _placeholder_problem(value, DEFAULT_TEXTS[language][key])) is not None:
                errors.append({"loc": ["texts", language, key], **wrong})
    if errors:
        raise ValidationFailed(errors)
    row = session.get(IvrSettings, 1)
    if row is None:
        row = IvrSettings(id=1, texts={})
        session.add(row)
    for key, value in changes.items():
        setattr(row, key, value)
    if texts:
        merged = {lang: dict(entries) for lang, entries in (row.texts or {}).items()}
        for language, entries in texts.items():
            merged.setdefault(language, {}).update(entries)
        row.texts = merged
    row.updated_by_id = by_id
    session.flush()
    changed = sorted(changes) + sorted(f"texts.{lang}.{key}" for lang, e in (texts or {}).items() for key in e)
    forget()
    record(session, action="ivr.settings_changed", actor_id=by_id, object_type="ivr_settings", object_id=1,
           details={"fields": changed})
    return _load_config(session)


def choice_for(*, digits: str | None, speech: str | None, language: str) -> str | None:
    """The menu item a keypress or a spoken answer chooses, or None."""
    if digits:
        return MENU_DIGITS.get(digits.strip()[:1])
    if speech:
        said = speech.lower()
        for choice, words in SPEECH_WORDS.get(language, {}).items():
            if any(word in said for word in words):
                return choice
    return None


def queue_name_for(skill_code: str) -> str:
    # Twilio's queue is only a holding pen (the router decides who is next); one per skill
    # keeps each well under the queue size limit. Names stay under 64 characters.
    return f"hotline-{skill_code}"[:64]


def webhook_url(path: str, **query: Any) -> str:
    base = get_settings().public_url + path
    clean = {k: v for k, v in query.items() if v is not None}
    return base + ("?" + urlencode(clean) if clean else "")


def _say(node: VoiceResponse | Gather, text: str, language: str) -> None:
    node.say(text, language=language)


def _xml(response: VoiceResponse) -> str:
    return str(response)


# Every new call hears the same menu: its XML is kept per settings object (a fresh IvrConfig
# comes with every read of the settings, so an edit is heard at once), public URL, language
# and step. Building it with VoiceResponse is a fair share of an incoming call's CPU.
_MENUS: dict[tuple[int, str, str, bool, int], tuple[IvrConfig, str]] = {}
_MENUS_MAX = 64


def menu_twiml(config: IvrConfig, language: str, *, greet: bool = True, retry: int = 0) -> str:
    """Greeting and menu in one `<Gather>`, keys or speech; no answer asks once more, then the
    caller goes to an operator rather than being dropped."""
    language = config.language(language)
    key = (id(config), get_settings().public_url, language, greet, retry)
    kept = _MENUS.get(key)
    if kept is not None and kept[0] is config:  # the same object: its id was not reused
        return kept[1]
    xml = _menu_xml(config, language, greet=greet, retry=retry)
    if len(_MENUS) >= _MENUS_MAX:
        _MENUS.clear()
    _MENUS[key] = (config, xml)
    return xml


def _menu_xml(config: IvrConfig, language: str, *, greet: bool, retry: int) -> str:
    response = VoiceResponse()
    gather = Gather(input="dtmf speech", num_digits=1, timeout=6, speech_timeout="auto", language=language,
                    action=webhook_url("/twilio/menu", lang=language), method="POST",
                    action_on_empty_result=False)
    if greet:
        _say(gather, config.text(language, "greeting"), language)
    _say(gather, config.text(language, "menu"), language)
    response.append(gather)
    if retry < 1:
        _say(response, config.text(language, "no_input"), language)
        response.redirect(webhook_url("/twilio/voice", retry=retry + 1, lang=language), method="POST")
    else:
        response.redirect(webhook_url("/twilio/menu", lang=language, default="operator"), method="POST")
    return _xml(response)


def _record(response: VoiceResponse, *, degraded: bool = False) -> None:
    response.record(action=webhook_url("/twilio/voicemail-done", degraded=1 if degraded else None), method="POST",
                    max_length=VOICEMAIL_MAX_SECONDS, finish_on_key="#", play_beep=True, timeout=10,
                    recording_status_callback=webhook_url("/twilio/recording", kind="voicemail"),
                    recording_status_callback_method="POST",
                    recording_status_callback_event="in-progress completed absent")


def voicemail_twiml(config: IvrConfig, language: str, *, intro: str | tuple[str, ...] = "voicemail") -> str:
    language = config.language(language)
    response = VoiceResponse()
    for key in (intro,) if isinstance(intro, str) else intro:
        _say(response, config.text(language, key), language)
    _record(response)
    _say(response, config.text(language, "voicemail_thanks"), language)
    response.hangup()
    return _xml(response)


def closed_twiml(config: IvrConfig, language: str) -> str:
    return voicemail_twiml(config, language, intro="closed")


def apology_twiml(language: str | None = None) -> str:
    """For when the database is down: no settings can be read, so both languages are said, and
    the caller still leaves a message (its callback is spooled until the database is back)."""
    response = VoiceResponse()
    first = language if language in LANGUAGES else "zh-CN"
    for lang in (first, *(x for x in LANGUAGES if x != first)):
        _say(response, APOLOGY[lang], lang)
    _record(response, degraded=True)
    response.hangup()
    return _xml(response)


def enqueue_twiml(config: IvrConfig, language: str, *, skill_code: str, intro: str | None = None) -> str:
    language = config.language(language)
    response = VoiceResponse()
    if intro:
        _say(response, config.text(language, intro), language)
    response.enqueue(queue_name_for(skill_code), action=webhook_url("/twilio/queue-result"), method="POST",
                     wait_url=webhook_url("/twilio/wait"), wait_url_method="POST")
    # Reached only if the queue action does not answer: never leave the caller in silence.
    _say(response, config.text(language, "queue_problem"), language)
    _record(response)
    return _xml(response)


def wait_twiml(config: IvrConfig, language: str, *, position: int | None, wait_seconds: int | None,
               offer_choices: bool) -> str:
    """What a queued caller hears, over and over: position, estimated wait, hold music, and past
    the wait limit the offer of a voicemail or a callback. Only verbs a wait URL may use."""
    language = config.language(language)
    response = VoiceResponse()
    if position:
        minutes = max(1, round((wait_seconds or 0) / 60))
        _say(response, config.text(language, "position", position=position, minutes=minutes), language)
    else:
        _say(response, config.text(language, "hold"), language)
    if offer_choices:
        gather = Gather(input="dtmf", num_digits=1, timeout=5, action=webhook_url("/twilio/wait", offer=1),
                        method="POST")
        _say(gather, config.text(language, "wait_offer"), language)
        response.append(gather)
    response.play(webhook_url(HOLD_MUSIC_PATH))
    return _xml(response)


def leave_twiml(config: IvrConfig, language: str, *, say: str | None = None) -> str:
    response = VoiceResponse()
    if say:
        _say(response, config.text(language, say), config.language(language))
    response.leave()
    return _xml(response)


def hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return _xml(response)


def leave_only_twiml() -> str:
    response = VoiceResponse()
    response.leave()
    return _xml(response)


def goodbye_twiml(config: IvrConfig, language: str, *, key: str = "goodbye") -> str:
    language = config.language(language)
    response = VoiceResponse()
    _say(response, config.text(language, key), language)
    response.hangup()
    return _xml(response)
