"""Reminders where a person works: what beat's sweeps left for them (a certificate due or overdue, a
handover not accepted after the shift change, the monthly quality report due), said in their
language with a link to the work, on their pages (home, shifts, duty, QA). Dismissing one marks
it read; the service settles it by itself once the work is done."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from agent_ui import flash, i18n
from agent_ui.i18n import N_
from core import directory
from core.auth import CurrentUser, DbSession
from core.errors import DomainError
from core.models import User
from tickets import escalation

router = APIRouter()

# kind: (the person's own text, a leader's text about someone else, when it differs)
TEXTS: dict[str, tuple[str, str | None]] = {
    "leave.certificate_due": (
        N_("Hand in your medical certificate today (%(day)s)."),
        N_("%(name)s's medical certificate is due today (%(day)s).")),
    "leave.certificate_overdue": (
        N_("Your medical certificate was due on %(day)s: your sick leave counts as absence until you hand it in."),
        N_("%(name)s's medical certificate was due on %(day)s: the sick leave counts as absence until it is handed "
           "in.")),
    "leave.absence_withdrawn": (
        N_("Your medical certificate was received: your sick leave no longer counts as absence."),
        N_("%(name)s's medical certificate was received: the sick leave no longer counts as absence.")),
    "handover.not_accepted": (
        N_("The handover of %(day)s (%(shift)s) is not accepted %(minutes)s minutes after the shift change."), None),
    "qa.report_due": (N_("The service-quality analysis report of %(month)s for %(team)s is due on %(due)s."), None),
    "grant_request.asked": (
        N_("A callback authorisation request waits for your answer."),
        N_("%(name)s asks for a callback authorisation: grant or decline it.")),
    "grant_request.granted": (N_("Your callback authorisation request was granted."), None),
    "grant_request.declined": (N_("Your callback authorisation request was declined: read why."), None),
    "care.regular_contact_due": (
        N_("A key customer of yours has had no contact for %(days)s days: time for a regular call."), None),
}
SHIFT_WORDS = {"day": N_("day shift"), "night": N_("night shift"), "custom": N_("other shift")}


def _href(kind: str, params: dict[str, Any], own: bool) -> str:
    if kind.startswith("grant_request."):
        anchor = "request" if kind == "grant_request.asked" else "mine"
        return f"/authorisations/requests#{anchor}-{int(params.get('request_id') or 0)}"
    if kind == "care.regular_contact_due":
        return f"/customers/{int(params.get('customer_id') or 0)}"
    if kind.startswith("leave."):
        return "/shifts#my-leave" if own else "/shifts#certificates"
    if kind == "handover.not_accepted":
        if params.get("handover_id"):
            return f"/duty/handovers/{int(params['handover_id'])}"
        return f"/duty?day={params.get('day', '')}&kind={params.get('shift_kind', 'day')}#handover-panel"
    return f"/qa/reports/monthly?team_id={int(params.get('team_id') or 0)}&month={params.get('month', '')}#analysis"


def for_viewer(session: Session, user: User, *, locale: str) -> list[dict[str, Any]]:
    """The viewer's unread reminders, newest first, each with its text and link."""
    notes = [n for n in escalation.notifications_for(session, user.id, unread_only=True, limit=50) if n.kind in TEXTS]
    names = directory.staff_names(session, {int((n.params or {})["user_id"]) for n in notes
                                            if (n.params or {}).get("user_id")})
    gettext = i18n.translations(locale).gettext
    items = []
    for note in notes:
        params = note.params or {}
        own = params.get("user_id") in (None, user.id)
        team = directory.get_team(session, team_id=int(params["team_id"])) if params.get("team_id") else None
        values = {"day": i18n.format_day(params.get("day"), locale),
                  "due": i18n.format_day(params.get("due_on"), locale),
                  "month": i18n.format_month(params.get("month"), locale), "minutes": params.get("minutes", ""),
                  "days": params.get("days", ""),
                  "shift": gettext(SHIFT_WORDS.get(str(params.get("shift_kind")), SHIFT_WORDS["custom"])),
                  "team": team.name if team else "",
                  "name": names[int(params["user_id"])].display_name if params.get("user_id") in names else ""}
        own_text, about_text = TEXTS[note.kind]
        items.append({"id": note.id, "kind": note.kind, "href": _href(note.kind, params, own),
                      "text": gettext(own_text if own or about_text is None else about_text) % values})
    return items


@router.post("/reminders/{notification_id}/dismiss", include_in_schema=False)
def dismiss(request: Request, session: DbSession, user: CurrentUser, notification_id: int,
            back: Annotated[str, Form()] = "/") -> Response:
    """Mark one's own reminder read; back to the page it was on (htmx: the item goes)."""
    try:
        escalation.mark_read(session, notification_id=notification_id, user=user)
    except DomainError:
        session.rollback()  # not theirs, or gone: nothing to dismiss
    if request.headers.get("HX-Request") == "true":
        return Response("", status_code=200)
    return RedirectResponse(flash.safe_next(back, "/"), status_code=303)
