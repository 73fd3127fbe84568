"""Phone numbers: parsing any written form into E.164 and masking a number for people who may
not see it in full. No keys here; the blind index of a number is `core.crypto.phone_index`."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat


class InvalidPhoneNumber(ValueError):
    """The text is not a phone number we can dial. The message never repeats the number, so it
    is safe to log and to show."""


_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "its country code is unknown; write it with a + and the country code",
    NumberParseException.NOT_A_NUMBER: "it does not look like a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}


def parse_phone(raw: str, *, default_region: str | None = "CN") -> phonenumbers.PhoneNumber:
    """Parse and validate; `default_region` applies to numbers written without a country code."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhoneNumber("no phone number was given")
    try:
        number = phonenumbers.parse(raw.strip(), default_region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "it could not be read")
        raise InvalidPhoneNumber(f"not a valid phone number: {reason}") from None
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_number(number)
        where = f" for {region}" if region and region != "ZZ" else ""
        raise InvalidPhoneNumber(
            f"not a valid phone number{where}: check the digits, and write a foreign number with + and its country code"
        )
    return number


def normalise_phone(raw: str, *, default_region: str | None = "CN") -> str:
    """The E.164 form (`+8613800138000`) of a number written in any usual way
    (`138 0013 8000`, `+86 138-0013-8000`, `008613800138000`)."""
    return phonenumbers.format_number(parse_phone(raw, default_region=default_region), PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """`+86 138****0000`: the country code, the first digits and the last four of the national
    number. Shorter national numbers show fewer digits so at least a third (and three) stay hidden."""
    number = parse_phone(e164, default_region=None)
    national = phonenumbers.national_significant_number(number)
    length = len(national)
    must_hide = max(3, length // 3)
    head, tail = 3, 4
    while length - head - tail < must_hide and (head or tail):
        if head > 1:
            head -= 1
        elif tail > 2:
            tail -= 1
        elif head:
            head -= 1
        else:
            tail -= 1
    hidden = max(length - head - tail, 0)
    return f"+{number.country_code} {national[:head]}{'*' * hidden}{national[length - tail:] if tail else ''}"
