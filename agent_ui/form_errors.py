"""A refusal shown beside the field it is about: the domain error's own message (a msgid of the
catalogue, with its values), in the reader's language. Pages never reword a service's refusal:
they only say which of their fields it belongs beside."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import DomainError, Term, format_message


@dataclass(frozen=True)
class FormError:
    field: str  # the form field it belongs beside ("" for the form as a whole)
    message: str  # an English msgid, translated in the template
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    translate_params: tuple[str, ...] = ()  # params that are msgids themselves

    def text(self, gettext: Any) -> str:
        values = {k: Term(v) if k in self.translate_params else v for k, v in self.params.items()}
        return format_message(gettext(self.message), values, gettext)


def _page_field(error: Mapping[str, Any], default: str | None, names: Mapping[str, str], fallback: str) -> str:
    """The form's field for an error item: its whole location (dotted) or its last part, as the
    form names it; else the error's own field; else `fallback`."""
    loc = [str(part) for part in error.get("loc") or []]
    for where in ([".".join(loc), loc[-1]] if loc else []) + ([default] if default else []):
        if where in names:
            return names[where]
    return fallback


def describe_all(exc: DomainError, *, fields: Mapping[str, str] | None = None,
                 fallback_field: str = "") -> dict[str, FormError]:
    """Every field `exc` refuses, each with its message. `fields` maps the service's name of each
    field the form shows to the form's own name; a refusal of any other field (or of none) goes to
    `fallback_field`, so it is always seen."""
    names = dict(fields or {})
    found: dict[str, FormError] = {}
    for error in getattr(exc, "errors", None) or []:
        page_field = _page_field(error, exc.field, names, fallback_field)
        found.setdefault(page_field, FormError(page_field, str(error.get("msg", "")), dict(error.get("params") or {})))
    if not found:
        page_field = names.get(exc.field or "", fallback_field)
        found[page_field] = FormError(page_field, exc.msgid, dict(exc.params))
    return found


def describe(exc: DomainError, *, fields: Mapping[str, str] | None = None, fallback_field: str = "") -> FormError:
    """The refusal's first message, and the form field it belongs beside."""
    return next(iter(describe_all(exc, fields=fields, fallback_field=fallback_field).values()))
