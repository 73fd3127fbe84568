"""Ticket tags as a hotline's staff type them, in any script ("退款 申请", "Line down since Monday"):
surrounding whitespace trimmed, inner whitespace collapsed to one space, at most 40 characters,
control characters refused. Two tags are the same tag when their casefolded forms match; a tag is
stored and shown as first typed. Tags stored earlier as codes (`refund_request`) read as they are."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from core.errors import ValidationFailed

MAX_TAG_LENGTH = 40  # the width of ticket_tags.tag
_JOINERS = frozenset({"\u200c", "\u200d"})  # zero-width (non-)joiners shape some scripts and emoji


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") and ch not in _JOINERS for ch in text)


def clean_tag(raw: object) -> str:
    """One tag as it is kept; ValidationFailed (naming the tag as typed) when it cannot be one."""
    typed = str(raw)
    if _has_control(typed):
        raise ValidationFailed("A tag cannot contain a control character (such as a tab or a line break).",
                               field="tags", params={"tag": typed})
    tag = " ".join(unicodedata.normalize("NFC", typed).split())
    if not tag:
        raise ValidationFailed("Type a tag.", field="tags", params={"tag": typed})
    if len(tag) > MAX_TAG_LENGTH:
        raise ValidationFailed("A tag is at most %(max)s characters.", field="tags",
                               params={"tag": typed, "max": MAX_TAG_LENGTH})
    return tag


def tag_key(tag: str) -> str:
    """What two spellings of one tag share: whitespace collapsed, casefolded ("Straße" = "STRASSE")."""
    return " ".join(unicodedata.normalize("NFC", tag).split()).casefold()


def clean_tags(tags: Iterable[object]) -> list[str]:
    """Each tag cleaned, once (by its key, as first typed), in order; ValidationFailed names a bad one."""
    cleaned: dict[str, str] = {}
    for raw in tags or ():
        tag = clean_tag(raw)
        cleaned.setdefault(tag_key(tag), tag)
    return list(cleaned.values())


_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def clean_code(raw: object) -> str:
    """A complaint cause: a short lowercase code (`delivery_late`) the complaint reports group by."""
    code = str(raw).strip().lower().replace(" ", "_")
    if not _CODE.match(code):
        raise ValidationFailed("A cause is a short code such as 'delivery_late'.", field="complaint_cause",
                               params={"cause": str(raw)})
    return code
