"""IVR settings (`/admin/ivr`): what callers hear in Mandarin and English (each text shows its
default until an administrator overrides it, and can go back to it), the default language and
site, the wait limit and when a requested callback is due. Saved by `telephony.ivr`."""

from __future__ import annotations

import string
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from agent_ui.i18n import N_
from agent_ui.pages import admin_common as common
from core.auth import AdminUser, DbSession
from core.errors import DomainError
from core.organisation import list_sites
from telephony import ivr
from telephony.ivr_texts import DEFAULT_TEXTS, LANGUAGES

router = APIRouter()

PAGE = "admin/ivr.html"
LANGUAGE_NAMES = {"zh-CN": N_("Mandarin"), "en-US": N_("English")}
TEXT_NAMES = {
    "greeting": N_("Greeting"), "menu": N_("Menu"), "no_input": N_("No choice heard"),
    "closed": N_("Closed (outside opening hours)"), "position": N_("Place in line"), "hold": N_("Please hold"),
    "wait_offer": N_("Offer after the wait limit"), "callback_confirm": N_("Callback confirmed"),
    "voicemail": N_("Voicemail prompt"), "voicemail_thanks": N_("Voicemail received"),
    "connecting": N_("Connecting to an agent"), "reconnect": N_("Reconnecting after a drop"),
    "goodbye": N_("Goodbye"), "queue_problem": N_("All lines busy"),
}
GENERAL_FIELDS = ("default_language", "default_site_id", "wait_limit_seconds", "callback_due_minutes")
FIELDS: common.Fields = {name: name for name in GENERAL_FIELDS}
TOO_LONG = N_("A text has at most 1000 characters.")
PLACEHOLDERS = N_("Use only the placeholders %(names)s, each in braces, as the default text does.")
NO_PLACEHOLDERS = N_("This text takes no placeholders: remove the braces.")


def field_name(language: str, key: str) -> str:
    return f"text-{language}-{key}"


def _text_fields() -> common.Fields:
    # update_settings locates a text as ["texts", language, key]; the page's field says both.
    return {f"texts.{language}.{key}": field_name(language, key) for language in LANGUAGES
            for key in DEFAULT_TEXTS[language]}


def _texts(config: ivr.IvrConfig) -> list[dict[str, Any]]:
    """Per language, each text as the caller hears it, its default and whether it is overridden."""
    rows = []
    for language in LANGUAGES:
        entries = []
        for key, default in DEFAULT_TEXTS[language].items():
            own = config.texts.get(language, {}).get(key) or ""
            entries.append({"key": key, "field": field_name(language, key), "name": TEXT_NAMES.get(key, key),
                            "value": own or default, "default": default, "overridden": bool(own)})
        rows.append({"language": language, "name": LANGUAGE_NAMES.get(language, language), "texts": entries})
    return rows


def _page(request: Request, session: DbSession, *, status_code: int = 200, errors: common.Errors | None = None,
          typed: dict[str, str] | None = None) -> Response:
    config = ivr.get_config(session)
    context = {"config": config, "ivr_languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES],
               "text_groups": _texts(config), "sites": list_sites(session), "errors": errors or {},
               "typed": typed or {}}
    return common.page(request, PAGE, context, status_code=status_code, push_url="/admin/ivr")


@router.get("/admin/ivr", include_in_schema=False)
def ivr_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    return _page(request, session)


def _placeholder_error(field: str, text: str, default: str) -> common.Errors:
    """The IVR fills `{position}` and `{minutes}` in with Python's format: a text naming any
    other placeholder, or with a stray brace, would fail during a call, so it is refused here."""
    allowed = {name for _, name, _, _ in string.Formatter().parse(default) if name}
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        used = {"{"}
    if used <= allowed:
        return {}
    if not allowed:
        return common.refuse(field, NO_PLACEHOLDERS)
    return common.refuse(field, PLACEHOLDERS, names=", ".join("{" + n + "}" for n in sorted(allowed)))


def _changed_texts(config: ivr.IvrConfig, form: dict[str, str]) -> tuple[dict[str, dict[str, str]], common.Errors]:
    """The texts whose wording differs from what is stored. A text typed the same as its default,
    or left empty, is stored as "" (not overridden), so it follows the default from then on."""
    changes: dict[str, dict[str, str]] = {}
    errors: common.Errors = {}
    for language in LANGUAGES:
        for key, default in DEFAULT_TEXTS[language].items():
            field = field_name(language, key)
            if field not in form:
                continue
            typed = form[field].replace("\r\n", "\n").strip()
            wanted = "" if typed in ("", default) else typed
            if wanted == (config.texts.get(language, {}).get(key) or ""):
                continue
            errors.update(_placeholder_error(field, wanted, default) if wanted else {})
            changes.setdefault(language, {})[key] = wanted
    return changes, errors


@router.post("/admin/ivr", include_in_schema=False)
def save(request: Request, session: DbSession, user: AdminUser,
         form: Annotated[dict[str, str], Depends(common.whole_form)]) -> Response:
    config = ivr.get_config(session)
    changes: dict[str, Any] = {}
    language = form.get("default_language", config.default_language)
    if language != config.default_language:
        changes["default_language"] = language
    site = common.optional_id(form.get("default_site_id", ""))
    if "default_site_id" in form and site != config.default_site_id:
        changes["default_site_id"] = site
    for key in ("wait_limit_seconds", "callback_due_minutes"):
        typed = form.get(key, "").strip()
        # Not a number: passed on as typed, so the service refuses it with the other fields.
        value: int | str = int(typed) if typed.lstrip("-").isdigit() else typed
        if value != getattr(config, key):
            changes[key] = value
    texts, errors = _changed_texts(config, form)
    if errors:
        return _page(request, session, status_code=422, errors=errors, typed=form)
    if not changes and not texts:
        return common.done("/admin/ivr", "nothing")
    try:
        ivr.update_settings(session, by_id=user.id, texts=texts or None, **changes)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, status_code=common.status_for(exc),
                     errors=common.explain(exc, {**FIELDS, **_text_fields()}), typed=form)
    return common.done("/admin/ivr", "ivr_saved")


@router.post("/admin/ivr/reset", include_in_schema=False)
def reset(request: Request, session: DbSession, user: AdminUser, text: Annotated[str, Form()] = "") -> Response:
    """Back to the default wording for one text (`text` is "language:key")."""
    language, _, key = text.partition(":")
    if key not in DEFAULT_TEXTS.get(language, {}):
        return _page(request, session, status_code=422,
                     errors=common.refuse("", N_("Choose a text of the list to put back.")))
    ivr.update_settings(session, by_id=user.id, texts={language: {key: ""}})
    return common.done(f"/admin/ivr#{field_name(language, key)}", "ivr_reset")
