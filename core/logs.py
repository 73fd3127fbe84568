"""Structured logging. Every record goes through a redaction filter: phone numbers (written any
way, URL-encoded too), e-mail addresses, bearer tokens and configured secrets never reach a log
line."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from core.config import Settings

# Phone numbers as people and programs write them: E.164 and national formats with spaces,
# dashes, dots, slashes or brackets between the digits, and the same inside an address (URL-encoded
# `%2B86...`, `%20` or `+` for a space). A run counts as a number from seven digits on. Not inside
# identifiers such as UUIDs or SIDs (no word character or dash on either side), and not a date, a
# time or an IP address.
_ESCAPED_SEPARATOR = r"%(?:2[0BbDdEeFf8-9]|0[9Aa])"
_SEPARATOR = rf"(?:[\s\-./()+]|{_ESCAPED_SEPARATOR})"
_PHONE = re.compile(rf"(?<![\w-])(?:\+|%2[Bb])?\(?\d(?:\d|{_SEPARATOR})*\d(?![\w-])")
_ESCAPE = re.compile(_ESCAPED_SEPARATOR)
_NOT_A_PHONE = re.compile(r"\d{4}-\d\d-\d\d(?:[ T]\d\d)?|\d{1,2}:\d\d(?::\d\d)?|\d{1,3}(?:\.\d{1,3}){3}")
_MIN_DIGITS = 7
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_BEARER = re.compile(r"(?i)(bearer\s+|hl_)[A-Za-z0-9._\-]+")
_KEYVALUE = re.compile(r"(?i)\b(password|token|secret|authorization|api_key|auth_token)=([^&\s]+)")

_secrets: list[str] = []

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    for value in _secrets:
        if value and value in text:
            text = text.replace(value, "[secret]")
    text = _KEYVALUE.sub(lambda m: f"{m.group(1)}=[secret]", text)
    text = _BEARER.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub(_phone, text)


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(c.isdigit() for c in _ESCAPE.sub(" ", found))
    if digits < _MIN_DIGITS or _NOT_A_PHONE.fullmatch(found.strip()):
        return found
    return "[phone]"


def _redact_value(value: Any) -> Any:
    """Strings anywhere in a structured extra (dicts, lists), redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str | dict | list | tuple):
                record.__dict__[key] = _redact_value(value)
        return True


class RedactingFormatter(logging.Formatter):
    """The plain-text line, tracebacks included, redacted as a whole."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["error"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


def setup_logging(settings: Settings) -> None:
    """Configure the root logger once per process (idempotent)."""
    _secrets.clear()
    for value in (
        settings.secret_key,
        settings.blind_index_key,
        settings.twilio_auth_token,
        settings.twilio_api_key_secret,
        *settings.data_keys,
    ):
        if value is not None:
            _secrets.append(value.get_secret_value())
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_hotline", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._hotline = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if settings.log_json else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Access logs carry full URLs; ours hold no personal data, but redact them all the same.
    for name in ("uvicorn.access", "uvicorn.error", "celery", "twilio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    # Beat sends sweeps every few seconds; their receipts drown the hub's own lines at INFO.
    quiet = logging.DEBUG if settings.log_level.upper() == "DEBUG" else logging.WARNING
    for name in ("celery", "kombu", "alembic"):
        logging.getLogger(name).setLevel(quiet)
