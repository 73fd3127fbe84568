"""Logs never carry secrets or personal data."""

from __future__ import annotations

import io
import json
import logging

from core.config import Settings
from core.logs import JsonFormatter, RedactingFilter, redact, setup_logging


def test_redact_masks_phones_emails_tokens_and_secrets(settings: Settings) -> None:
    setup_logging(settings)
    secret = settings.secret()
    line = (f"call from +86 138 0013 8000 / 13800138000 by li.wei@example.com "
            f"Authorization: Bearer hl_abcdEFGH1234 password=hunter2 key {secret}")
    cleaned = redact(line)
    for leaked in ("138 0013 8000", "13800138000", "li.wei@example.com", "hl_abcdEFGH1234", "hunter2", secret):
        assert leaked not in cleaned
    assert "[phone]" in cleaned and "[email]" in cleaned and "[secret]" in cleaned


def test_json_lines_are_redacted_including_extras(settings: Settings) -> None:
    setup_logging(settings)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("hotline.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("dialling %s", "+8613800138000", extra={"caller": "+1 415 555 0100", "call_sid": "CA123"})
    finally:
        logger.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert record["message"] == "dialling [phone]"
    assert record["caller"] == "[phone]"
    assert record["call_sid"] == "CA123"
    assert record["level"] == "warning"


def test_identifiers_are_not_mistaken_for_phone_numbers() -> None:
    line = "task 1f20d8ef-5929-4246-ac7c-5917e4c60eb6 for CA0123456789abcdef0123456789abcdef"
    assert redact(line) == line


def test_url_encoded_and_spaced_numbers_are_redacted() -> None:
    """The finding: the access log wrote `GET /api/v1/customers/lookup?phone=%2B8613811110003` in
    clear, as the redaction did not see URL-encoded numbers."""
    lines = {
        "GET /api/v1/customers/lookup?phone=%2B8613811110003 HTTP/1.1": "8613811110003",
        "GET /customers?phone=%2b86%20138%201111%200003": "1111",
        "GET /search?phone=138+1111+0003&page=2": "1111",
        "called 138 1111 0003 back": "1111",
        "typed 1 3 8 1 1 1 1 0 0 0 3": "1 1 1 1",
        "full-width １３８１１１１０００３": "１１１１",
        "dotted 138.1111.0003 and bracketed (021) 6000-1234": "6000",
        "tel:+86-138-1111-0003;": "1111",
    }
    for line, leaked in lines.items():
        cleaned = redact(line)
        assert leaked not in cleaned and "[phone]" in cleaned, (line, cleaned)


def test_dates_times_addresses_and_short_numbers_stay() -> None:
    for line in ('127.0.0.1:54321 - "GET /tickets/42 HTTP/1.1" 200', "at 2026-12-05 12:33:53,174",
                 "version 1.2.3 took 1234 ms", "%20 only 12 of 34"):
        assert redact(line) == line


def test_structured_extras_and_plain_tracebacks_are_redacted(settings: Settings) -> None:
    from core.logs import RedactingFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("hotline.test.logs.plain")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("no customer with 13800138000")
        except ValueError:
            logger.exception("lookup failed", extra={"params": {"From": "%2B8613800138000", "n": 1}})
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "13800138000" not in text and "8613800138000" not in text and "[phone]" in text
