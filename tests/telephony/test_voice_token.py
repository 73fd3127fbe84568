"""The browser phone's access token: the signed-in agent's own identity only, a VoiceGrant for
incoming calls and the hub's TwiML app, one hour; signed with a simulator key in the embedded
mode and with the API key in production."""

from __future__ import annotations

import jwt
from pydantic import SecretStr

from core import config
from core.models import Role
from telephony import voice_token
from tests.factories import make_user
from tests.telephony.controls_helpers import bearer


def _claims(token: str, secret: str) -> dict:
    return jwt.decode(token, secret, algorithms=["HS256"])


def test_get_voice_token_for_own_identity(client, session, settings) -> None:
    agent = make_user(session)
    response = client.get("/api/v1/voice/token", headers=bearer(session, agent))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "simulator" and body["identity"] == f"agent_{agent.id}" and body["ttl_seconds"] == 3600
    claims = _claims(body["token"], voice_token._simulator_secret())
    assert claims["exp"] - claims["nbf"] == 3600 and claims["iss"] == voice_token.SIMULATOR_KEY_SID
    grant = claims["grants"]
    assert grant["identity"] == f"agent_{agent.id}"
    assert grant["voice"]["incoming"] == {"allow": True}
    assert grant["voice"]["outgoing"]["application_sid"].startswith("AP")
    same = client.get(f"/api/v1/voice/token?identity=agent_{agent.id}", headers=bearer(session, agent))
    assert same.status_code == 200


def test_get_voice_token_for_another_identity_forbidden(client, session) -> None:
    agent = make_user(session)
    other = make_user(session)
    response = client.get(f"/api/v1/voice/token?identity=agent_{other.id}", headers=bearer(session, agent))
    assert response.status_code == 403
    assert "your own phone" in response.json()["detail"]


def test_get_voice_token_needs_a_role_that_takes_calls(client, session) -> None:
    qa = make_user(session, role=Role.qa_inspector)
    assert client.get("/api/v1/voice/token", headers=bearer(session, qa)).status_code == 403
    assert client.get("/api/v1/voice/token").status_code == 401


def test_production_token_is_signed_with_the_api_key(session, settings) -> None:
    agent = make_user(session)
    production = settings.model_copy(update={
        "mode": "production", "twilio_api_key_sid": "SK" + "1" * 32,
        "twilio_api_key_secret": SecretStr("api-key-secret-" + "k" * 32), "twilio_twiml_app_sid": "AP" + "2" * 32})
    config.configure(production)
    try:
        issued = voice_token.issue(user=agent)
        missing = production.model_copy(update={"twilio_twiml_app_sid": None})
        config.configure(missing)
        try:
            voice_token.issue(user=agent)
        except voice_token.VoiceUnavailable as exc:
            assert exc.params["missing"] == ["HOTLINE_TWILIO_TWIML_APP_SID"]
        else:
            raise AssertionError("a token without the TwiML app was issued")
    finally:
        config.configure(settings)
    assert issued.mode == "twilio"
    claims = _claims(issued.token, "api-key-secret-" + "k" * 32)
    assert claims["iss"] == "SK" + "1" * 32 and claims["sub"] == settings.twilio_account_sid
    assert claims["grants"]["voice"]["outgoing"]["application_sid"] == "AP" + "2" * 32
