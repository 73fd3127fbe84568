"""Scorecards (`/admin/scorecards`): the evaluation forms QA scores calls on, every version kept
for the evaluations that used it, and the next version of the active one: its names, section
titles and weights, each question's wording in both languages, weight, critical and "not
applicable" flags, and one new question per section. `qa.scorecards` checks the whole form
(weights, codes, scales) and audits the new version; the previous one is retired."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from agent_ui.form_errors import FormError
from agent_ui.i18n import N_
from agent_ui.pages import admin_common as common
from core.auth import AdminUser, DbSession
from core.errors import DomainError, ValidationFailed
from qa import scorecards

router = APIRouter()

SCALES = {"yes_no": N_("Yes or no"), "one_to_five": N_("1 to 5"), "points": N_("Points")}
STATES = {"active": N_("In use"), "retired": N_("Retired")}
WEIGHT_RULE = N_("A weight is a number of at least 0, like 1 or 2.5.")
TEXT_RULE = N_("Write it in both languages.")
CODE_RULE = N_("A code is lower-case letters, digits or underscores, starting with a letter, used once on the form.")
POINTS_RULE = N_("A points question needs its most points, from 1 to 100.")
FORM_RULE = N_("The scorecard cannot be saved like this: at least one scored question needs a weight above 0, "
               "and a bonus item cannot be critical.")
# The last part of a refused location -> its message; anything else is explained above the form.
FIELD_RULES = {"weight": WEIGHT_RULE, "text_en": TEXT_RULE, "text_zh": TEXT_RULE, "title_en": TEXT_RULE,
               "title_zh": TEXT_RULE, "name_en": TEXT_RULE, "name_zh": TEXT_RULE, "code": CODE_RULE,
               "max_points": POINTS_RULE}
common.DONE["scorecard_versioned"] = N_("The new version is in use: new evaluations are scored on it; earlier "
                                        "ones keep the version they used.")
_NUMBER = re.compile(r"^\d{1,4}([.,]\d{1,3})?$")


def _field(location: list[Any], new_at: dict[int, int]) -> str:
    """A service location (sections, 0, questions, 2, weight) as the form's field name (s0.q2.weight);
    the question added on the page is `s0.new`."""
    parts, out = list(location), []
    if parts[:1] == ["sections"] and len(parts) > 1 and isinstance(parts[1], int):
        out.append(f"s{parts[1]}")
        if parts[2:3] == ["questions"] and len(parts) > 3 and isinstance(parts[3], int):
            out.append("new" if new_at.get(parts[1]) == parts[3] else f"q{parts[3]}")
            parts = parts[4:]
        else:
            parts = parts[2:]
    elif parts[:1] == ["sections"]:
        return ""
    return ".".join(out + [str(p) for p in parts[:1]])


def _refused_fields(exc: DomainError, new_at: dict[int, int]) -> common.Errors:
    """Each refused field of the form with its rule. The definition is checked by its pydantic
    schema, whose messages are pydantic's English, so the page states the field's rule instead."""
    errors: common.Errors = {}
    for error in getattr(exc, "errors", None) or []:
        location = list(error.get("loc") or [])
        field = _field(location, new_at)
        rule = FIELD_RULES.get(field.rsplit(".", 1)[-1]) if field else None
        if rule is None:
            errors.setdefault("", FormError("", FORM_RULE))
        else:
            errors.setdefault(field, FormError(field, rule))
    return errors or {"": FormError("", FORM_RULE)}


def _page(request: Request, session: DbSession, card: Any, *, status_code: int = 200,
          errors: common.Errors | None = None, typed: dict[str, str] | None = None) -> Response:
    context = {"card": card, "definition": scorecards.definition_of(card), "scales": SCALES, "states": STATES,
               "versions": [c for c in scorecards.list_scorecards(session, include_retired=True)
                            if c.code == card.code],
               "errors": errors or {}, "typed": typed or {}}
    return common.page(request, "admin/scorecard.html", context, status_code=status_code,
                       push_url=f"/admin/scorecards/{card.id}")


@router.get("/admin/scorecards", include_in_schema=False)
def scorecards_page(request: Request, session: DbSession, user: AdminUser) -> Response:
    scorecards.active(session)  # the shipped scorecard exists from the first look on
    cards = scorecards.list_scorecards(session, include_retired=True)
    return common.page(request, "admin/scorecards.html", {"cards": cards, "states": STATES})


@router.get("/admin/scorecards/{scorecard_id}", include_in_schema=False)
def scorecard_page(request: Request, session: DbSession, user: AdminUser, scorecard_id: int) -> Response:
    return _page(request, session, scorecards.get(session, scorecard_id=scorecard_id))


def _number(text: str) -> float | None:
    value = text.strip().replace(",", ".")
    return float(value) if _NUMBER.match(value) else None


@router.post("/admin/scorecards/{scorecard_id}/versions", include_in_schema=False)
def new_version(request: Request, session: DbSession, user: AdminUser, scorecard_id: int,
                form: Annotated[dict[str, str], Depends(common.whole_form)]) -> Response:
    card = scorecards.get(session, scorecard_id=scorecard_id)
    definition = scorecards.definition_of(card)
    typed = {name: value[:500] for name, value in form.items() if name != "csrf_token"}
    errors: common.Errors = {}

    def text(name: str, current: str) -> str:
        return form.get(name, current).strip()[:500]

    def weight(name: str, current: Any) -> Any:
        if name not in form:
            return current
        value = _number(form[name])
        if value is None:
            errors[name] = FormError(name, WEIGHT_RULE)
        return value if value is not None else current

    definition["name_en"], definition["name_zh"] = text("name_en", card.name_en), text("name_zh", card.name_zh)
    new_at: dict[int, int] = {}
    for si, section in enumerate(definition["sections"]):
        section["title_en"] = text(f"s{si}.title_en", section["title_en"])
        section["title_zh"] = text(f"s{si}.title_zh", section["title_zh"])
        if section["weight"] is not None:
            section["weight"] = weight(f"s{si}.weight", section["weight"])
        for qi, question in enumerate(section["questions"]):
            key = f"s{si}.q{qi}"
            question["text_en"] = text(f"{key}.text_en", question["text_en"])
            question["text_zh"] = text(f"{key}.text_zh", question["text_zh"])
            question["weight"] = weight(f"{key}.weight", question["weight"])
            question["critical"] = f"{key}.critical" in form
            question["allows_na"] = f"{key}.allows_na" in form
        code = form.get(f"s{si}.new.code", "").strip().lower()
        if code:
            scale = form.get(f"s{si}.new.scale", "one_to_five")
            points = form.get(f"s{si}.new.max_points", "").strip()
            new_at[si] = len(section["questions"])
            section["questions"].append({
                "code": code, "text_en": text(f"s{si}.new.text_en", ""), "text_zh": text(f"s{si}.new.text_zh", ""),
                "scale": scale if scale in SCALES else "one_to_five",
                "max_points": int(points) if points.isdigit() else None,
                "weight": weight(f"s{si}.new.weight", 1.0), "allows_na": False, "critical": False, "bonus": False,
                "levels": []})
    if errors:
        return _page(request, session, card, status_code=422, errors=errors, typed=typed)
    try:
        made = scorecards.new_version(session, code=card.code, definition=definition, by=user)
    except ValidationFailed as exc:
        session.rollback()
        return _page(request, session, card, status_code=422, errors=_refused_fields(exc, new_at), typed=typed)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, card, status_code=common.status_for(exc),
                     errors=common.explain(exc, {}), typed=typed)
    return common.done(f"/admin/scorecards/{made.id}", "scorecard_versioned")
