"""Domain errors raised by services. The API edge (hotline/errors.py) maps them to status codes
in one place; services never raise HTTP errors.

An error is a stable `code`, the values it speaks of (`params`) and a message template (`msgid`,
English, with `%(name)s` placeholders). The template is a msgid of the pages' catalogues: whoever
shows the error (the API, a page) translates it into the reader's language and fills in the
values then, so a reworded sentence is reworded in one place and never loses its translation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Gettext = Callable[[str], str]


class Term(str):
    """A value of a message that is itself a msgid (a state, a kind of leave): translated with
    the message. Mark it where the error is raised: `params={"state": Term("on a break")}`."""

    __slots__ = ()


#: What a refusal says when nothing more precise is known.
GENERAL = "That could not be done. Reload the page and try again; if it keeps happening, tell your team leader."
#: A value that is none of those allowed; `params` name the value and the allowed ones (`known`).
NOT_ALLOWED_VALUE = "Not one of the allowed values; choose one from the list."


def untranslated(text: str) -> str:
    """No translation: the English msgid itself."""
    return text


def format_message(template: str, params: Mapping[str, Any] | None = None, gettext: Gettext = untranslated) -> str:
    """`template` (already translated) filled with `params`; values that are `Term`s are translated
    too. Without values the template is shown as it is (a lone "%" needs no doubling)."""
    if not params:
        return template
    values = {name: gettext(value) if isinstance(value, Term) else value for name, value in params.items()}
    try:
        return template % values
    except (KeyError, TypeError, ValueError):
        return template


def default_message(cls: type[DomainError]) -> str:
    """What an error of `cls` raised without a message says: its `default_msgid`, else its
    docstring's sentence (the nearest class that has either)."""
    for klass in cls.__mro__:
        if "default_msgid" in vars(klass):
            return str(vars(klass)["default_msgid"])
        if vars(klass).get("__doc__"):
            return " ".join(str(vars(klass)["__doc__"]).split())
    return GENERAL


def item_text(error: Mapping[str, Any], gettext: Gettext = untranslated) -> str:
    """One invalid field's message in the language of `gettext`. A broken rule (`rule`, a code)
    is translated by its code, whose catalogue text names its values `{like_this}`."""
    params = error.get("params") or {}
    rule = error.get("rule")
    if rule:
        translated = gettext(str(rule))
        if translated != rule:
            try:
                return translated.format(**params)
            except (KeyError, IndexError, ValueError):
                pass
    return format_message(gettext(str(error.get("msg", ""))), params, gettext)


class DomainError(Exception):
    """A request the domain refuses; its message says what went wrong and what to do, `code` is
    stable, and `params` are the values the message names and a client needs to act on it (e.g.
    the current version).

    `msgid` is the message's template (a catalogue msgid); `message` is it in English with the
    values filled in, for logs and the command line. `text(gettext)` is it in a reader's language."""

    code = "refused"
    default_msgid = GENERAL
    #: The field the refusal belongs beside, when the class always names the same one.
    default_field: str | None = None

    def __init__(self, message: str = "", *, code: str | None = None, field: str | None = None,
                 params: Mapping[str, object] | None = None) -> None:
        self.msgid = message or default_message(type(self))
        if code is not None:
            self.code = code
        self.field = field if field is not None else self.default_field
        self.params: dict[str, object] = dict(params or {})
        self.message = format_message(self.msgid, self.params)
        super().__init__(self.message)

    def text(self, gettext: Gettext = untranslated) -> str:
        """The message in the language of `gettext`, with its values."""
        return format_message(gettext(self.msgid), self.params, gettext)

    def items(self, gettext: Gettext = untranslated) -> list[dict[str, Any]]:
        """The invalid fields, each with where it is (`loc`) and what is wrong (`msg`) in the
        language of `gettext`: empty unless the error names fields."""
        return [{**error, "msg": item_text(error, gettext)} for error in getattr(self, "errors", None) or []]


class NotFound(DomainError):
    """The thing asked for does not exist, or is not yours to see."""

    code = "not_found"


class PermissionDenied(DomainError):
    """Your role does not allow this."""

    code = "forbidden"


class Conflict(DomainError):
    """The thing changed or already exists; reload and try again."""

    code = "conflict"


class ValidationFailed(DomainError):
    """Some fields are not valid; `errors` lists each with its location, its message template
    (`msg`) and the values that message names (`params`)."""

    code = "invalid"
    default_msgid = "Some fields are not valid; see each field."

    def __init__(self, errors: list[dict[str, Any]] | str, *, field: str | None = None, code: str | None = None,
                 params: Mapping[str, object] | None = None) -> None:
        if isinstance(errors, str):
            errors = [{"loc": [field] if field else [], "msg": errors, **({"params": dict(params)} if params else {})}]
            super().__init__(str(errors[0]["msg"]), code=code, field=field, params=params)
        else:
            single = len(errors) == 1
            super().__init__(str(errors[0]["msg"]) if single else self.default_msgid,
                             code=code, field=field, params=errors[0].get("params") if single else params)
            if len(errors) != 1:
                self.message = "; ".join(format_message(str(e["msg"]), e.get("params")) for e in errors)
                self.args = (self.message,)
        self.errors = errors

    def text(self, gettext: Gettext = untranslated) -> str:
        if len(self.errors) == 1 or not self.errors:
            return super().text(gettext)
        return "; ".join(item["msg"] for item in self.items(gettext))
