"""The one check every Twilio webhook passes: `X-Twilio-Signature` validated with twilio's
`RequestValidator` over the public URL and every form parameter that arrived."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import FormData, UploadFile
from twilio.request_validator import RequestValidator, compare

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
    validator = RequestValidator(token.get_secret_value())
    # The multi-dict itself: a repeated parameter contributes every value, as Twilio signs it.
    # Twilio signs the URL it was given, which is this one, so one HMAC settles a genuine
    # request; anything else gets the library's full check (the URL with and without a port).
    return compare(validator.compute_signature(url, form), signature) or validator.validate(url, form, signature)


FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000  # Twilio sends a few dozen; a body with more is not Twilio's


async def read_form(request: Request) -> FormData:
    """The posted parameters. Twilio posts urlencoded forms, read here straight from the body
    (the standard library's parser, as Starlette would decode them: blank values kept, UTF-8
    escapes); anything else goes through Starlette's form parser."""
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != FORM_TYPE:
        return await request.form()
    body = await request.body()
    try:
        fields: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FIELDS))
        return FormData(fields)
    except ValueError:
        raise HTTPException(status_code=400, detail="Too many form fields.") from None


async def twilio_form(request: Request) -> FormData:
    """FastAPI dependency: the webhook's form parameters, or 403 when the signature is missing
    or wrong (nothing is read or written before this passes)."""
    form = await read_form(request)
    if not is_valid(public_url_for(request), form, request.headers.get(SIGNATURE_HEADER)):
        log.warning("twilio webhook refused: bad or missing signature", extra={"path": request.url.path})
        raise HTTPException(status_code=403, detail="The request is not signed by Twilio.")
    return form


TwilioForm = Annotated[FormData, Depends(twilio_form)]
