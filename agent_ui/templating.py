"""Rendering pages: one Jinja2 environment with the i18n extension, the context every page gets
(the person, their language, the CSRF token, the navigation), and whole-page or one-block
rendering for htmx requests."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from babel.numbers import format_percent
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from agent_ui import i18n, labels, navigation
from core import permissions
from core.auth import Viewer
from core.csrf import csrf_token_for

TEMPLATES_DIR = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=select_autoescape(["html", "xml"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
# Placeholders are passed as keyword arguments (`_("Hello %(name)s", name=...)`) and escaped.
env.newstyle_gettext = True  # type: ignore[attr-defined]


@pass_context
def _localtime(context: Context, moment: datetime | None, fmt: str = "medium") -> str:
    """`{{ ticket.created_at|localtime("short") }}`: a stored UTC time in the site's time zone,
    written the reader's way; "time" gives the time of day alone."""
    return i18n.format_moment(moment, context.get("locale", i18n.DEFAULT_LOCALE),
                              context.get("zone") or i18n.zone_for(None), fmt)


def _isoformat(moment: datetime | None) -> str:
    """For `data-*` attributes the page's scripts read (countdowns, time in state)."""
    return moment.isoformat() if moment is not None else ""


def _duration(seconds: float | None) -> str:
    """Seconds as a clock reads them: 4:05, or 1:02:03 past the hour (the scripts keep it ticking)."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@pass_context
def _percent(context: Context, share: float | None) -> str:
    """A share (0.83) as the reader's language writes a percentage; a dash when there is none."""
    if share is None:
        return "–"
    return format_percent(share, locale=i18n.babel_locale(context.get("locale", i18n.DEFAULT_LOCALE)))


_TICKET_NUMBER = re.compile(r"\bHL-\d{4}-\d{6,}\b")


def _ticket_links(text: str | None) -> Markup:
    """Free text (a duty log, a handover) with every ticket number in it a link to the ticket."""
    escaped = str(escape(text or ""))
    return Markup(_TICKET_NUMBER.sub(
        lambda m: f'<a class="ticket-number" href="/tickets/by-number/{m.group(0)}">{m.group(0)}</a>', escaped))


_LIST_SEPARATOR = i18n.N_(", ")


@pass_context
def _list_separator(context: Context) -> str:
    """What goes between the items of a list in the reader's language: ", " in English, "、" in Chinese."""
    return i18n.translations(context.get("locale", i18n.DEFAULT_LOCALE)).gettext(_LIST_SEPARATOR)


@pass_context
def _listed(context: Context, items: Any) -> Markup:
    """`{{ names|listed }}`: the items, escaped, joined with the reader's separator."""
    return Markup(escape(_list_separator(context))).join(escape(item) for item in items)


@pass_context
def _tag_label(context: Context, tag: str) -> str:
    """`{{ tag|tag_label }}`: a tag the hub sets in the reader's words; a person's tag as typed."""
    words = labels.system_tag.get(tag)
    return i18n.translations(context.get("locale", i18n.DEFAULT_LOCALE)).gettext(words) if words else tag


@pass_context
def _zone_name(context: Context, zone: str | None) -> str:
    """`{{ site.timezone|zone_name }}`: a time zone in the reader's words ("China Time", "中国时间"),
    never its IANA name; the one way a page names a zone."""
    return i18n.zone_name(zone, context.get("locale", i18n.DEFAULT_LOCALE)) if zone else ""


@pass_context
def _zone_place(context: Context, zone: str) -> str:
    """`{{ zone|zone_place }}`: the zone by country and city, for lists that pick one zone of many."""
    return i18n.zone_place(zone, context.get("locale", i18n.DEFAULT_LOCALE))


@pass_context
def _month_name(context: Context, month: str | None) -> str:
    """`{{ report.month|month_name }}`: "2026-03" as "March 2026" / "2026年3月"."""
    return i18n.format_month(month, context.get("locale", i18n.DEFAULT_LOCALE))


env.filters["localtime"] = _localtime
env.filters["month_name"] = _month_name
env.filters["zone_name"] = _zone_name
env.filters["zone_place"] = _zone_place
env.filters["tag_label"] = _tag_label
env.filters["listed"] = _listed
env.globals["list_separator"] = _list_separator
env.filters["ticket_links"] = _ticket_links
env.filters["ticket_numbers"] = lambda text: list(dict.fromkeys(_TICKET_NUMBER.findall(text or "")))
env.filters["percent"] = _percent
env.filters["duration"] = _duration
env.filters["iso"] = _isoformat
# Words for domain codes (`_(labels.status[ticket.status])`), the same in every page.
env.globals["labels"] = labels.ALL


def _gettext_callables(locale: str) -> dict[str, Any]:
    """Per-render gettext functions, so concurrent requests in different languages never share
    state on the environment. Same behaviour as Jinja's own newstyle callables."""
    catalogue = i18n.translations(locale)

    @pass_context
    def gettext(__context: Context, __string: str, **variables: Any) -> str:
        rv = catalogue.gettext(__string)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    @pass_context
    def ngettext(__context: Context, __singular: str, __plural: str, __num: int, **variables: Any) -> str:
        variables.setdefault("num", __num)
        rv = catalogue.ngettext(__singular, __plural, __num)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    # `tr` translates without the template context, for Python objects that word themselves
    # (a FormError given `tr` by the template); its result is escaped like any other value.
    return {"gettext": gettext, "_": gettext, "ngettext": ngettext, "tr": catalogue.gettext}


def page_context(request: Request, viewer: Viewer | None) -> dict[str, Any]:
    """What every page gets. The shell reads `viewer`, a plain copy of the signed-in person,
    so it renders even after the request's database session has closed (error pages)."""
    locale = i18n.locale_for(request, viewer)
    zone = i18n.zone_for(viewer)
    context: dict[str, Any] = {
        "request": request,
        "viewer": viewer,
        "locale": locale,
        "html_lang": i18n.HTML_LANG.get(locale, "en"),
        "languages": i18n.LANGUAGE_NAMES,
        "csrf_token": csrf_token_for(request),
        "nav": navigation.bar_for(request, viewer.role) if viewer is not None else [],
        "role_label": navigation.role_label(viewer.role) if viewer is not None else "",
        "current_path": request.url.path,
        "can": lambda roles: viewer is not None and permissions.allowed(viewer.role, roles),
        "when": lambda moment, fmt="medium": i18n.format_moment(moment, locale, zone, fmt),
        "zone": zone,
    }
    context.update(_gettext_callables(locale))
    return context


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           block: str | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render a page, or only its `block` (the htmx fragment convention: the same endpoint
    answers an `HX-Request` with just the part that changes)."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    values = page_context(request, viewer)
    values.update(context or {})
    template = env.get_template(name)
    if block is not None:
        html = "".join(template.blocks[block](template.new_context(values)))
    else:
        html = template.render(values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if viewer is not None:
        # Pages with a person's work on them must not linger in shared caches or the back button.
        response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Vary", "Cookie, Accept-Language, HX-Request")
    return response


def render_partial(name: str, context: dict[str, Any], *, locale: str, zone: str, csrf_token: str = "",
                   viewer: Viewer | None = None) -> str:
    """A panel's template rendered without a request (the websocket's live fragments): only what
    panels use is in the context, not the shell's navigation."""
    values: dict[str, Any] = {"viewer": viewer, "locale": locale, "html_lang": i18n.HTML_LANG.get(locale, "en"),
                              "csrf_token": csrf_token, "zone": zone, "errors": {},
                              "when": lambda moment, fmt="medium": i18n.format_moment(moment, locale, zone, fmt)}
    values.update(_gettext_callables(locale))
    values.update(context)
    return env.get_template(name).render(values)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
