"""The most a written part of the floor's records holds (a duty log's notes, a handover's parts,
its questions and additions, a notice's text): longer is refused whole, never cut."""

from __future__ import annotations

from core.errors import ValidationFailed

TEXT_LIMIT = 10_000  # the pages state it on each box (maxlength)
TOO_LONG = "This text has %(length)s characters; keep it to %(max)s at most."


def check_length(name: str, value: str) -> None:
    """Refuse `value` past the limit, naming the field, so the writer shortens it."""
    if len(value) > TEXT_LIMIT:
        raise ValidationFailed(TOO_LONG, field=name, params={"length": len(value), "max": TEXT_LIMIT})
