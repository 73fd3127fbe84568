"""Ticket tags: short lowercase codes (`abusive_caller`, `vip`), cleaned the same way everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.errors import ValidationFailed

_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Lowercased, spaces as underscores, each once, in order; ValidationFailed names a bad one."""
    cleaned: list[str] = []
    for raw in tags or ():
        tag = str(raw).strip().lower().replace(" ", "_")
        if not _TAG.match(tag):
            raise ValidationFailed("A tag is a short word: up to 40 letters, digits, “-” or “_” (spaces become “_”).",
                                   field="tags", params={"tag": str(raw)})
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned
