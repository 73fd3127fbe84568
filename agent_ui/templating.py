"""Rendering pages: one Jinja2 environment with the i18n extension, the context every page gets
(the person, their language, the CSRF token, the navigation), and whole-page or one-block
rendering for htmx requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from agent_ui import i18n, navigation
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

    return {"gettext": gettext, "_": gettext, "ngettext": ngettext}


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
        "nav": navigation.items_for(request, viewer.role) if viewer is not None else [],
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


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
