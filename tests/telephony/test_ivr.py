"""The IVR's TwiML and settings: greeting and menu in the caller's language, keys and speech,
texts an administrator edits, wait TwiML that a queue accepts, the offer after the wait limit."""

from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from telephony import ivr
from telephony.simulator.twiml import TwimlError, parse
from tests.telephony.hub import post_webhook, voice_params


def test_menu_gathers_keys_and_speech_in_the_callers_language() -> None:
    config = ivr.IvrConfig()
    for language in ("zh-CN", "en-US"):
        (gather, say, redirect) = parse(ivr.menu_twiml(config, language))
        assert gather.name == "Gather" and gather.get("input") == "dtmf speech"
        assert gather.get("language") == language and gather.get("numDigits") == "1"
        assert [c.get("language") for c in gather.children] == [language, language]
        assert redirect.name == "Redirect" and "retry=1" in redirect.text


def test_menu_is_built_once_per_settings_and_follows_an_edit() -> None:
    config = ivr.IvrConfig()
    first = ivr.menu_twiml(config, "en-US")
    assert ivr.menu_twiml(config, "en-US") is first  # kept: every new call hears the same menu
    assert ivr.menu_twiml(config, "zh-CN") != first
    assert "retry=1" not in ivr.menu_twiml(config, "en-US", greet=False, retry=1)
    edited = ivr.IvrConfig(texts={"en-US": {"greeting": "Welcome to the edited hotline."}})
    assert "Welcome to the edited hotline." in ivr.menu_twiml(edited, "en-US")
    assert "Welcome to the edited hotline." not in ivr.menu_twiml(config, "en-US")


def test_second_silence_goes_to_an_operator_not_a_hang_up() -> None:
    verbs = parse(ivr.menu_twiml(ivr.IvrConfig(), "en-US", greet=False, retry=1))
    assert verbs[-1].name == "Redirect" and "default=operator" in verbs[-1].text


@pytest.mark.parametrize(("digits", "speech", "language", "choice"), [
    ("1", None, "zh-CN", "inquiry"), ("2", None, "en-US", "complaint"), ("3", None, "zh-CN", "membership"),
    ("4", None, "zh-CN", "callback"), ("0", None, "en-US", "operator"), ("7", None, "en-US", None),
    (None, "我要投诉", "zh-CN", "complaint"), (None, "转人工", "zh-CN", "operator"),
    (None, "I'd like a call back please", "en-US", "callback"), (None, "Membership points", "en-US", "membership"),
    (None, "hmm", "en-US", None),
])
def test_menu_choices(digits, speech, language, choice) -> None:  # type: ignore[no-untyped-def]
    assert ivr.choice_for(digits=digits, speech=speech, language=language) == choice


def test_wait_twiml_uses_only_verbs_a_queue_allows() -> None:
    config = ivr.IvrConfig()
    for offer in (False, True):
        verbs = parse(ivr.wait_twiml(config, "en-US", position=3, wait_seconds=240, offer_choices=offer),
                      context="wait")
        assert verbs[0].text == "You are number 3 in line. The estimated wait is about 4 minutes."
        assert verbs[-1].name == "Play" and verbs[-1].text.endswith("/twilio/hold-music.wav")
        assert any(v.name == "Gather" for v in verbs) is offer
    with pytest.raises(TwimlError):
        parse(ivr.voicemail_twiml(config, "en-US"), context="wait")  # <Record> is not allowed there


def test_settings_are_edited_validated_and_audited(session) -> None:
    config = ivr.update_settings(session, by_id=None, wait_limit_seconds=60,
                                 texts={"en-US": {"greeting": "Hello from Store 9."}})
    session.commit()
    assert config.wait_limit_seconds == 60
    assert ivr.get_config(session).text("en-US", "greeting") == "Hello from Store 9."
    assert ivr.get_config(session).text("zh-CN", "greeting").startswith("您好")
    with pytest.raises(ValidationFailed) as refused:
        ivr.update_settings(session, default_language="fr-FR", texts={"en-US": {"nope": "x"}})
    assert {tuple(e["loc"]) for e in refused.value.errors} == {("default_language",), ("texts", "en-US", "nope")}
    from core.audit import entries_for

    assert [e.action for e in entries_for(session, object_type="ivr_settings")] == ["ivr.settings_changed"]


def test_caller_switches_language_with_9(client, hub, session) -> None:
    params = voice_params()
    post_webhook(client, "/twilio/voice", params)
    response = post_webhook(client, "/twilio/menu?lang=zh-CN", {**params, "Digits": "9"})
    gather = parse(response.text)[0]
    assert gather.get("language") == "en-US" and gather.children[0].text.startswith("For inquiries")


def test_edited_greeting_is_heard(client, hub, session) -> None:
    ivr.update_settings(session, default_language="en-US", texts={"en-US": {"greeting": "Hi from the test shop."}})
    session.commit()
    response = post_webhook(client, "/twilio/voice", voice_params())
    assert parse(response.text)[0].children[0].text == "Hi from the test shop."


def test_wait_offers_voicemail_and_callback_after_the_limit(client, hub, session) -> None:
    params = voice_params()
    post_webhook(client, "/twilio/voice", params)
    post_webhook(client, "/twilio/menu", {**params, "Digits": "1"})
    queue = {**params, "QueueSid": "QU" + "1" * 32, "QueuePosition": "1", "CurrentQueueSize": "1",
             "AvgQueueTime": "0"}
    early = parse(post_webhook(client, "/twilio/wait", {**queue, "QueueTime": "30"}).text, context="wait")
    late = parse(post_webhook(client, "/twilio/wait", {**queue, "QueueTime": "181"}).text, context="wait")
    assert not any(v.name == "Gather" for v in early)
    assert any(v.name == "Gather" and "offer=1" in (v.get("action") or "") for v in late)


def test_hold_music_is_served(client) -> None:
    response = client.get("/twilio/hold-music.wav")
    assert response.status_code == 200 and response.content[:4] == b"RIFF"


def test_a_text_with_a_placeholder_the_call_cannot_fill_is_refused(session) -> None:
    with pytest.raises(ValidationFailed) as refused:
        ivr.update_settings(session, texts={"en-US": {"greeting": "Welcome to {place}."}})
    assert refused.value.errors[0]["loc"] == ["texts", "en-US", "greeting"]
    with pytest.raises(ValidationFailed):
        ivr.update_settings(session, texts={"zh-CN": {"greeting": "您好 {"}})
    assert ivr.get_config(session).texts == {}
