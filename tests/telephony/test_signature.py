"""X-Twilio-Signature: checked over the public URL and every parameter that arrived; a missing
or wrong one gets 403 and changes nothing."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import func, select
from starlette.datastructures import FormData

from telephony.models import Call, CallEvent
from tests.conftest import TEST_TWILIO_TOKEN
from tests.factories import fresh
from tests.telephony.hub import BASE, post_webhook, signature, voice_params


def _nothing_written(session) -> bool:  # type: ignore[no-untyped-def]
    fresh(session)
    return (session.scalar(select(func.count()).select_from(Call)) == 0
            and session.scalar(select(func.count()).select_from(CallEvent)) == 0)


def test_missing_signature_is_refused(client, hub, session) -> None:
    response = post_webhook(client, "/twilio/voice", voice_params(), signed=False)
    assert response.status_code == 403
    assert _nothing_written(session)


def test_signature_with_another_token_is_refused(client, hub, session) -> None:
    response = post_webhook(client, "/twilio/voice", voice_params(), token="not-the-auth-token")
    assert response.status_code == 403
    assert _nothing_written(session)


def test_tampered_parameter_is_refused(client, hub, session) -> None:
    params = voice_params()
    headers = {"X-Twilio-Signature": signature(BASE + "/twilio/voice", params)}
    response = client.post("/twilio/voice", data={**params, "From": "+8613900000000"}, headers=headers)
    assert response.status_code == 403
    assert _nothing_written(session)


def test_signature_for_another_url_is_refused(client, hub, session) -> None:
    params = voice_params()
    headers = {"X-Twilio-Signature": signature(BASE + "/twilio/voice?retry=1", params)}
    assert client.post("/twilio/voice", data=params, headers=headers).status_code == 403
    assert _nothing_written(session)


def test_status_callback_with_bad_signature_changes_nothing(client, hub, session) -> None:
    params = voice_params()
    assert post_webhook(client, "/twilio/voice", params).status_code == 200
    assert post_webhook(client, "/twilio/status", {**params, "CallStatus": "completed"},
                        token="forged").status_code == 403
    fresh(session)
    assert session.scalar(select(Call.status)) == "ringing"


def test_url_is_the_public_one_not_the_host_header(client, hub, session) -> None:
    # Behind a proxy the app sees another host; Twilio signed the public URL.
    params = voice_params()
    headers = {"X-Twilio-Signature": signature(BASE + "/twilio/voice", params)}
    response = client.post("http://10.0.0.7:8080/twilio/voice", data=params, headers=headers)
    assert response.status_code == 200


def test_new_and_repeated_parameters_are_signed_too(client, hub, session) -> None:
    params = voice_params(NewTwilioField="added-later")
    assert post_webhook(client, "/twilio/voice", params).status_code == 200
    pairs = [*voice_params(params["CallSid"]).items(), ("Repeated", "b"), ("Repeated", "a")]
    from twilio.request_validator import RequestValidator

    signed = RequestValidator(TEST_TWILIO_TOKEN).compute_signature(BASE + "/twilio/voice", FormData(pairs))
    response = client.post("/twilio/voice", content=urlencode(pairs),
                           headers={"X-Twilio-Signature": signed,
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    # Validating a plain dict (one value per key) would have failed this request.
    assert RequestValidator(TEST_TWILIO_TOKEN).compute_signature(BASE + "/twilio/voice", dict(pairs)) != signed


def test_blank_and_non_ascii_values_are_read_and_signed_as_sent(client, hub, session) -> None:
    # Twilio sends empty parameters (CallerName=) and UTF-8 text; both are part of the signature.
    params = voice_params(CallerName="", SpeechResult="投诉 complaint")
    assert post_webhook(client, "/twilio/voice", params).status_code == 200
    fresh(session)
    assert session.scalar(select(func.count()).select_from(Call)) == 1


def test_signature_over_the_url_with_its_default_port_is_accepted(client, hub, session) -> None:
    # Twilio has signed some URLs with the scheme's port spelt out: the library's full check
    # (with and without the port) still accepts those.
    from urllib.parse import urlsplit

    parts = urlsplit(BASE)
    port = 443 if parts.scheme == "https" else 80
    params = voice_params()
    headers = {"X-Twilio-Signature": signature(f"{parts.scheme}://{parts.hostname}:{port}{parts.path}/twilio/voice",
                                               params)}
    assert client.post("/twilio/voice", data=params, headers=headers).status_code == 200


def test_a_body_of_thousands_of_fields_is_refused_unread(client, hub, session) -> None:
    pairs = [*voice_params().items(), *((f"F{i}", "x") for i in range(1000))]
    response = client.post("/twilio/voice", content=urlencode(pairs),
                           headers={"X-Twilio-Signature": signature(BASE + "/twilio/voice", dict(pairs)),
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert _nothing_written(session)


def test_a_multipart_post_is_read_by_the_form_parser_and_still_checked(client, hub, session) -> None:
    params = voice_params()
    headers = {"X-Twilio-Signature": signature(BASE + "/twilio/voice", params)}
    response = client.post("/twilio/voice", files={k: (None, v) for k, v in params.items()}, headers=headers)
    assert response.status_code == 200
    forged = client.post("/twilio/voice", files={k: (None, v) for k, v in voice_params().items()},
                         headers={"X-Twilio-Signature": "forged"})
    assert forged.status_code == 403
