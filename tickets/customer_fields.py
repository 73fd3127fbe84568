"""Checking and normalising a customer's fields, shared by the service, the API and the CSV import:
every problem is collected with its field location, and messages never repeat the value."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from core import clock
from core.crypto import phone_index
from core.phones import InvalidPhoneNumber, normalise_phone
from tickets.models.customers import CONSENT_METHODS, CONSENT_PURPOSES, GENDERS, TIERS

# Personal fields: encrypted at rest, shown only on a full card, nulled by erasure.
PERSONAL_FIELDS = (
    "name", "gender", "birthday", "age", "email", "address", "id_number", "preferences", "special_needs",
)
EDITABLE_FIELDS = (*PERSONAL_FIELDS, "phones", "consent_purposes", "consent_method", "consent_at",
                   "owning_agent_id", "site_id")
PREFERENCE_KEYS = ("products", "call_times")
_MAX_LENGTH = {"name": 200, "address": 500, "id_number": 40, "special_needs": 1000, "email": 254}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_PHONES = 5
# A number the phone library cannot read (its own reason, in English, goes to `params`).
INVALID_PHONE = "Not a valid phone number: check the digits, and write a foreign number with + and its country code."


@dataclass(frozen=True)
class CleanPhone:
    number: str  # E.164
    index: str  # blind index
    is_primary: bool


class Problems:
    """Collects `{loc, msg}` entries; `raise_if_any` raises them together as ValidationFailed."""

    def __init__(self) -> None:
        self.items: list[dict[str, object]] = []

    def add(self, loc: Sequence[str | int], msg: str, **params: object) -> None:
        self.items.append({"loc": list(loc), "msg": msg, **({"params": params} if params else {})})

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            from core.errors import ValidationFailed

            raise ValidationFailed(self.items)


def clean_phones(raw: Any, problems: Problems, *, loc: str = "phones", region: str | None = "CN") -> list[CleanPhone]:
    """Phones as `["138 0013 8000", ...]` or `[{"number": ..., "is_primary": bool}, ...]`; the
    first is primary unless one is marked. At least one, at most MAX_PHONES, no repeats."""
    if raw is None or isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        problems.add([loc], "Give a list of phone numbers.")
        return []
    if not raw:
        problems.add([loc], "Give at least one phone number.")
        return []
    if len(raw) > MAX_PHONES:
        problems.add([loc], "Give at most %(limit)s phone numbers.", limit=MAX_PHONES)
        return []
    found: list[CleanPhone] = []
    seen: set[str] = set()
    for position, item in enumerate(raw):
        number, primary = (item, False) if isinstance(item, str) else (
            (item.get("number"), bool(item.get("is_primary"))) if isinstance(item, Mapping) else (None, False))
        try:
            e164 = normalise_phone(number if isinstance(number, str) else "", default_region=region)
        except InvalidPhoneNumber as exc:
            problems.add([loc, position, "number"], INVALID_PHONE, reason=str(exc))
            continue
        if e164 in seen:
            problems.add([loc, position, "number"], "This number is listed twice.")
            continue
        seen.add(e164)
        found.append(CleanPhone(e164, phone_index(e164, default_region=None), primary))
    primaries = sum(1 for p in found if p.is_primary)
    if primaries > 1:
        problems.add([loc], "Mark only one phone number as primary.")
    elif found and primaries == 0:
        first = found[0]
        found[0] = CleanPhone(first.number, first.index, True)
    return found


def _text(value: Any, field: str, problems: Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add([field], "Give text.")
        return None
    value = " ".join(value.split()) if field == "name" else value.strip()
    if not value:
        return None
    if len(value) > _MAX_LENGTH.get(field, 200):
        problems.add([field], "Keep it to %(limit)s characters.", limit=_MAX_LENGTH.get(field, 200))
        return None
    return value


def _birthday(value: Any, problems: Problems) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            problems.add(["birthday"], "Write the birthday as YYYY-MM-DD.")
            return None
    if not isinstance(value, date):
        problems.add(["birthday"], "Write the birthday as YYYY-MM-DD.")
        return None
    if value > clock.now().date() or value.year < 1900:
        problems.add(["birthday"], "The birthday must be a past date after 1900.")
        return None
    return value.isoformat()


def _age(value: Any, problems: Problems) -> str | None:
    if value is None or value == "":
        return None
    try:
        years = int(str(value).strip())
    except ValueError:
        problems.add(["age"], "The age is a whole number of years.")
        return None
    if not 0 <= years <= 130:
        problems.add(["age"], "The age must be between 0 and 130.")
        return None
    return str(years)


def _preferences(value: Any, problems: Problems) -> dict[str, list[str]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.add(["preferences"], "Give preferences as products and call_times lists.")
        return None
    unknown = sorted(set(value) - set(PREFERENCE_KEYS))
    if unknown:
        problems.add(["preferences"], "Give preferences as products and call_times lists.", unknown=unknown[0])
        return None
    clean: dict[str, list[str]] = {}
    for key in PREFERENCE_KEYS:
        items = value.get(key) or []
        if isinstance(items, str) or not all(isinstance(i, str) for i in items):
            problems.add(["preferences", key], "Give a list of short texts.")
            continue
        clean[key] = [i.strip()[:100] for i in items if i.strip()][:20]
    return clean if any(clean.values()) else None


def clean_fields(data: Mapping[str, Any], problems: Problems, *, partial: bool) -> dict[str, Any]:
    """The recognised fields of `data`, normalised. With `partial` only the given keys are
    checked (an update); otherwise the name and the phones are required and defaults filled."""
    out: dict[str, Any] = {}
    if not partial or "name" in data:
        name = _text(data.get("name"), "name", problems)
        if name is None and not any(p["loc"] == ["name"] for p in problems.items):
            problems.add(["name"], "The name is required.")
        out["name"] = name
    for field in ("address", "id_number", "special_needs"):
        if field in data:
            out[field] = _text(data[field], field, problems)
    if "email" in data:
        email = _text(data["email"], "email", problems)
        if email is not None and not _EMAIL.match(email):
            problems.add(["email"], "This does not look like an email address.")
        out["email"] = email.lower() if email and _EMAIL.match(email) else None
    if "gender" in data:
        gender = data["gender"] or None
        if gender is not None and gender not in GENDERS:
            problems.add(["gender"], "Choose a gender from the list.", known=list(GENDERS))
        out["gender"] = gender
    if "birthday" in data:
        out["birthday"] = _birthday(data["birthday"], problems)
    if "age" in data:
        out["age"] = _age(data["age"], problems)
    if "preferences" in data:
        out["preferences"] = _preferences(data["preferences"], problems)
    if not partial or "phones" in data:
        out["phones"] = clean_phones(data.get("phones"), problems)
    if not partial or "consent_purposes" in data:
        purposes = data.get("consent_purposes")
        purposes = ["service"] if purposes is None else purposes
        if isinstance(purposes, str) or not all(p in CONSENT_PURPOSES for p in purposes):
            problems.add(["consent_purposes"], "Choose the purposes from the list.", known=list(CONSENT_PURPOSES))
        else:
            out["consent_purposes"] = sorted(set(purposes) | {"service"})
    if not partial or "consent_method" in data:
        method = data.get("consent_method")
        if method not in CONSENT_METHODS:
            problems.add(["consent_method"], "Record how the customer consented: choose one from the list.",
                         known=list(CONSENT_METHODS))
        out["consent_method"] = method
    if not partial or "consent_at" in data:
        at = data.get("consent_at") or clock.now()
        if not isinstance(at, datetime) or at.tzinfo is None or at > clock.now():
            problems.add(["consent_at"], "The consent time must be a past time with a time zone.")
        out["consent_at"] = at
    for field in ("owning_agent_id", "site_id"):
        if field in data:
            value = data[field]
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                problems.add([field], "Give an id.")
            out[field] = value
    if "tier" in data:
        if data["tier"] not in TIERS:
            problems.add(["tier"], "Choose a tier from the list.", known=list(TIERS))
        out["tier"] = data["tier"]
    for field in ("points", "spend_cents"):
        if field in data:
            value = data[field] or 0
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.add([field], "Give a whole number, zero or more.")
            out[field] = value
    return out


def initials(name: str | None) -> str:
    """`Wang Li` -> `W. L.`; `王小明` -> `王**`: enough to tell callers apart, not to identify them."""
    if not name:
        return "—"
    words = name.split()
    if any("\u3400" <= ch <= "\u9fff" for ch in name):
        compact = "".join(words)
        return compact[0] + "*" * max(len(compact) - 1, 1)
    return " ".join(w[0].upper() + "." for w in words[:3])
