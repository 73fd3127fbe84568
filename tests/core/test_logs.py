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
