"""Security headers on every response: a strict Content-Security-Policy (no inline scripts or
styles, everything from /static), no framing, no sniffing, and HSTS behind https."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import get_settings

_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "media-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in _POLICY.items())

# The agent desktop with Twilio's Voice SDK (production phone): the SDK signals over
# wss://voice-js.<edge>.twilio.com, reports call quality to https://eventgw.twilio.com and plays its
# ring tones from https://sdk.twilio.com. Only that page gets these sources; the audio itself is
# WebRTC media, which CSP does not govern.
TWILIO_PHONE_CONTENT_SECURITY_POLICY = "; ".join(
    f"{name} {value}" for name, value in {
        **_POLICY,
        "connect-src": "'self' wss://*.twilio.com https://eventgw.twilio.com https://*.twilio.com",
        "media-src": "'self' blob: https://sdk.twilio.com",
    }.items()
)

BASE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Agents' browsers will carry the call audio: the microphone stays allowed for our own origin.
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=(), usb=()",
}


class SecurityHeadersMiddleware:
    """Adds the headers a response does not set itself (a page may loosen its own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = get_settings().public_url.startswith("https://")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in BASE_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if https and "Strict-Transport-Security" not in headers:
                    headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
            await send(message)

        await self.app(scope, receive, send_with_headers)
