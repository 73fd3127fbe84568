"""Access tokens for the agents' browser phones (Twilio Voice SDK): a `VoiceGrant` allowing
incoming calls to `agent_<user id>` and outgoing calls through the hub's TwiML app, valid one
hour. Real Twilio needs an API key; the embedded mode signs with a simulator key instead and
says so, since only the simulator's phone can use such a token."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from core.config import get_settings
from core.errors import Conflict, PermissionDenied
from core.models import User
from telephony.bridge import agent_identity

__all__ = ["TTL_SECONDS", "VoiceToken", "VoiceUnavailable", "issue"]

TTL_SECONDS = 3600
SIMULATOR_KEY_SID = "SK" + "0" * 32
SIMULATOR_APP_SID = "AP" + "0" * 32


class VoiceUnavailable(Conflict):
    """The browser phone cannot be set up: a Twilio setting is missing."""

    code = "voice_unavailable"


@dataclass(frozen=True)
class VoiceToken:
    token: str
    identity: str
    ttl_seconds: int
    expires_at: datetime
    mode: str  # "twilio" or "simulator"


def _simulator_secret() -> str:
    # Derived, not stored: a token made with it is good for the simulator only.
    return hmac.new(get_settings().secret().encode(), b"hotline.simulator.voice-key", hashlib.sha256).hexdigest()


def issue(*, user: User, identity: str | None = None) -> VoiceToken:
    """A token for the signed-in agent's own identity; asking for anyone else's is refused."""
    own = agent_identity(user.id)
    if identity is not None and identity.removeprefix("client:") != own:
        raise PermissionDenied("A browser phone token is only for your own phone.")
    settings = get_settings()
    account = settings.twilio_account_sid or "AC" + "0" * 32
    if settings.is_production:
        missing = [name for name, value in (("HOTLINE_TWILIO_API_KEY_SID", settings.twilio_api_key_sid),
                                            ("HOTLINE_TWILIO_API_KEY_SECRET", settings.twilio_api_key_secret),
                                            ("HOTLINE_TWILIO_TWIML_APP_SID", settings.twilio_twiml_app_sid))
                   if not value]
        if missing:
            raise VoiceUnavailable("The browser phone needs settings that are missing; ask an administrator.",
                                   params={"missing": missing})
        key_sid = settings.twilio_api_key_sid or ""
        secret = settings.twilio_api_key_secret.get_secret_value() if settings.twilio_api_key_secret else ""
        app_sid, mode = settings.twilio_twiml_app_sid, "twilio"
    else:
        key_sid, secret = SIMULATOR_KEY_SID, _simulator_secret()
        app_sid, mode = settings.twilio_twiml_app_sid or SIMULATOR_APP_SID, "simulator"
    # Wall time, not core.clock: Twilio checks nbf and exp against its own clock.
    issued = int(time.time())
    token = AccessToken(account, key_sid, secret, identity=own, ttl=TTL_SECONDS, nbf=issued,
                        valid_until=issued + TTL_SECONDS)
    token.add_grant(VoiceGrant(incoming_allow=True, outgoing_application_sid=app_sid))
    return VoiceToken(token=token.to_jwt(), identity=own, ttl_seconds=TTL_SECONDS,
                      expires_at=datetime.fromtimestamp(issued + TTL_SECONDS, UTC), mode=mode)
