"""The one check every Twilio webhook passes: `X-Twilio-Signature` validated with twilio's
`RequestValidator` over the public URL and every form parameter that arrived."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from core.config import get_settings

log = logging.getLogger("hotline.telephony.signature")

SIGNATURE_HEADER = "X-Twilio-Signature"


def public_url_for(request: Request) -> str:
    """The URL Twilio was given: the configured public base, never the Host header, which a
    proxy or load balancer rewrites (and anyone can forge)."""
    url = get_settings().public_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


def is_valid(url: str, form: FormData, signature: str | None) -> bool:
    token = get_settings().twilio_auth_token
    if not signature or token is None:
        return False
    # The multi-dict itself: a repeated parameter contributes every value, as Twilio signs it.
    return RequestValidator(token.get_secret_value()).validate(url, form, signature)


async def twilio_form(request: Request) -> FormData:
    """FastAPI dependency: the webhook's form parameters, or 403 when the signature is missing
    or wrong (nothing is read or written before this passes)."""
    form = await request.form()
    if not is_valid(public_url_for(request), form, request.headers.get(SIGNATURE_HEADER)):
        log.warning("twilio webhook refused: bad or missing signature", extra={"path": request.url.path})
        raise HTTPException(status_code=403, detail="The request is not signed by Twilio.")
    return form


TwilioForm = Annotated[FormData, Depends(twilio_form)]
