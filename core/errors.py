"""Domain errors raised by services. The API edge (hotline/errors.py) maps them to status codes
in one place; services never raise HTTP errors."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; `message` says what went wrong and what to do, `code` is
    stable, and `params` are the values a client needs to act on it (e.g. the current version)."""

    code = "refused"

    def __init__(self, message: str = "", *, field: str | None = None,
                 params: dict[str, object] | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.field = field
        self.params: dict[str, object] = dict(params or {})


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
    """Some fields are not valid; `errors` lists each with its location."""

    code = "invalid"

    def __init__(self, errors: list[dict[str, object]] | str, *, field: str | None = None) -> None:
        if isinstance(errors, str):
            errors = [{"loc": [field] if field else [], "msg": errors}]
        super().__init__("; ".join(str(e["msg"]) for e in errors), field=field)
        self.errors = errors
