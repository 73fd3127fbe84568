"""Languages of the pages: choosing a person's locale (their setting, then a cookie, then the
browser's Accept-Language), the Babel message catalogues, dates in a site's time zone, and the
zone's own name in the reader's words."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import (
    format_date,
    format_datetime,
    format_skeleton,
    format_time,
    get_timezone_location,
    get_timezone_name,
)
from babel.support import NullTranslations, Translations
from starlette.requests import HTTPConnection

from core.auth import Viewer
from core.config import get_settings
from core.models import LOCALES

DEFAULT_LOCALE = "en"
LOCALE_COOKIE = "hotline_locale"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
# What the language switcher shows, each in its own language.
LANGUAGE_NAMES = {"en": "English", "zh_Hans": "简体中文"}
# The `lang` attribute of <html>, for screen readers and fonts.
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where the locale is known."""
    return message


@lru_cache(maxsize=len(LOCALES) + 1)
def translations(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE:
        return NullTranslations()  # the messages are written in English
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")


def gettext(locale: str, message: str, **variables: Any) -> str:
    text = translations(locale).gettext(message)
    return text % variables if variables else text


def negotiate(accept_language: str | None) -> str:
    """The best of our locales for an Accept-Language header. Any Chinese gets Simplified
    Chinese: it is the only Chinese catalogue and beats English for a Chinese reader."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip().lower()))
    for _quality, _index, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh_Hans"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def locale_for(request: HTTPConnection, viewer: Viewer | None = None) -> str:
    """The person's own choice, else the language cookie, else the browser's preference."""
    if viewer is None:
        viewer = getattr(request.state, "viewer", None)
    if viewer is not None and viewer.locale in LOCALES:
        return str(viewer.locale)
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in LOCALES:
        return str(chosen)
    return negotiate(request.headers.get("accept-language"))


@lru_cache(maxsize=len(LOCALES) + 1)
def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)


def zone_for(viewer: Viewer | None) -> str:
    if viewer is not None and viewer.site_timezone:
        return viewer.site_timezone
    return get_settings().timezone


def format_day(day: date | str | None, locale: str) -> str:
    """A calendar day (or its ISO text) the way the reader's language writes it ("Feb 25, 2026")."""
    try:
        value = date.fromisoformat(day) if isinstance(day, str) else day
    except ValueError:
        return str(day)
    return format_date(value, format="medium", locale=babel_locale(locale)) if value else ""


def format_moment(moment: datetime | None, locale: str, zone: str, fmt: str = "medium") -> str:
    """A stored UTC time shown in the site's time zone, written the way the reader's language writes it."""
    if moment is None:
        return ""
    if fmt == "time":  # the time of day alone, for today's events
        return format_time(moment, format="short", tzinfo=ZoneInfo(zone), locale=babel_locale(locale))
    return format_datetime(moment, format=fmt, tzinfo=ZoneInfo(zone), locale=babel_locale(locale))


# Zones that are UTC under another name: CLDR words them "Unknown Region (UTC) Time", so their
# standard name is read from the locale's data instead.
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})


@lru_cache(maxsize=4096)
def zone_name(zone: str, locale: str) -> str:
    """A time zone as people say it in the reader's language ("China Time", "中国时间", "Central
    European Time"), for the pages; an IANA name that is no zone is shown as it is."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return zone
    lang = babel_locale(locale)
    if zone in _UTC_ZONES:
        return str(lang.time_zones["Etc/UTC"]["long"]["standard"])
    return str(get_timezone_name(zone, width="long", locale=lang))


@lru_cache(maxsize=4096)
def zone_place(zone: str, locale: str) -> str:
    """A zone named by its country and city ("Germany (Berlin) Time", "德国（柏林）时间"): what tells
    one zone from another in a list of them, where several share a name such as "Central European
    Time"."""
    if zone in _UTC_ZONES:
        return zone_name(zone, locale)
    try:
        return str(get_timezone_location(zone, locale=babel_locale(locale)))
    except LookupError:
        return zone


def format_month(month: str | None, locale: str) -> str:
    """A month's key ("2026-03") as the reader's language names it ("March 2026", "2026年3月");
    anything that is no month is shown as it is."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except (TypeError, ValueError):
        return str(month or "")
    return str(format_skeleton("yMMMM", first, locale=babel_locale(locale)))
