"""What the scheduling pages (roster, floor records, requests) share: refusals explained rule by
rule in the reader's language, local days and times of the site, and the post-redirect-get or
htmx-fragment answer to a form."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from agent_ui import flash, i18n, labels
from agent_ui.form_errors import describe
from agent_ui.i18n import N_
from core import clock
from core.errors import DomainError
from scheduling.errors import RuleViolated, StepRefused
from scheduling.rules import MESSAGES

_ISO_MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
_ISO_DAY = re.compile(r"^\d{4}-\d\d-\d\d$")

# Words for the states of scheduling's records, translated in the templates.
STATUS = {
    "pending": N_("Waiting for approval"), "approved": N_("Approved"), "refused": N_("Refused"),
    "cancelled": N_("Withdrawn"), "proposed": N_("Proposed"), "registered": N_("Registered"),
    "draft": N_("Draft"), "submitted": N_("Submitted"), "returned": N_("Returned with questions"),
    "accepted": N_("Accepted"), "on_time": N_("Present"), "late": N_("Late"), "absent": N_("Absent"),
    "on_leave": N_("On leave"), "excused": N_("Excused"), "expected": N_("Expected"),
    "queued": N_("Queued"), "running": N_("Solving"), "done": N_("Done"), "failed": N_("Failed"),
    "published": N_("Published"),
}
LEAVE_KINDS = {"personal": N_("Personal leave"), "sick": N_("Sick leave"), "special": N_("Special leave"),
               "business": N_("Business leave"), "study": N_("Study leave")}
# Why an approver refuses leave; the requester reads the rule's text (scheduling.rules.messages).
REFUSAL_REASONS = {"staffing": N_("Not enough people on duty"), "notice": N_("Asked too late"),
                   "documents": N_("Reason or papers not enough"), "other": N_("Another reason (say it in the note)")}
SHIFT_KINDS = {"day": N_("Day shift"), "night": N_("Night shift"), "custom": N_("Other shift")}
STEPS = {"supervisor": N_("Supervisor"), "center_head": N_("Center head")}


def zone_of(request: Request) -> str:
    return i18n.zone_for(getattr(request.state, "viewer", None))


def locale_of(request: Request) -> str:
    return i18n.locale_for(request)


def today(zone: str) -> date:
    return clock.now().astimezone(ZoneInfo(zone)).date()


def parse_day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def local_moment(value: str, zone: str) -> datetime | None:
    """A `datetime-local` field's value read as the site's wall clock, in UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    return (datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC),
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC))


# Rule values that are codes (a skill, a job type, a kind of leave): shown as their words.
_CODED_PARAMS = {"skill": labels.queue, "shift_job_type": labels.job_type, "person_job_type": labels.job_type,
                 "requester_job_type": labels.job_type, "partner_job_type": labels.job_type}


def _param(value: Any, locale: str, zone: str, name: str = "") -> Any:
    if name in _CODED_PARAMS and isinstance(value, str):
        return i18n.translations(locale).gettext(_CODED_PARAMS[name][value])
    if name == "kind" and isinstance(value, str) and value in LEAVE_KINDS:
        return i18n.translations(locale).gettext(LEAVE_KINDS[value])
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        try:
            return i18n.format_moment(datetime.fromisoformat(value), locale, zone, "short")
        except ValueError:
            return value
    if isinstance(value, str) and _ISO_DAY.match(value):
        return i18n.format_day(value, locale)
    return value


def rule_text(error: dict[str, Any], locale: str, zone: str) -> str:
    """One broken rule in the reader's language: the catalogue's text for its code (msgid = the
    code), else the English of scheduling.rules.messages, filled with its values."""
    rule = str(error.get("rule") or "")
    english = MESSAGES.get(rule)
    if english is None:
        return str(error.get("msg") or rule)
    translated = i18n.translations(locale).gettext(rule)
    text = english if translated == rule else translated
    params = {k: _param(v, locale, zone, k) for k, v in (error.get("params") or {}).items()}
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return str(error.get("msg") or english)


def explain(errors: list[dict[str, Any]], request: Request) -> list[dict[str, str]]:
    locale, zone = locale_of(request), zone_of(request)
    return [{"rule": str(e.get("rule") or ""), "text": rule_text(e, locale, zone)} for e in errors or []]


def refusal(request: Request, exc: DomainError) -> dict[str, Any]:
    """What a refused form shows: every broken rule for a rule refusal, else one sentence, and
    the service's name of the field it is about (the box it marks), if any."""
    if isinstance(exc, (RuleViolated, StepRefused)):
        return {"rules": explain([v.as_error() for v in exc.violations], request), "message": None, "field": None}
    return {"rules": [], "message": describe(exc), "field": exc.field}


def status_for(exc: DomainError) -> int:
    return 422 if exc.code in ("invalid",) or isinstance(exc, RuleViolated) else 409


def done(request: Request, location: str, message: str) -> Response:
    """Post-redirect-get with a one-time note (an English msgid) for the next page."""
    response = RedirectResponse(location, status_code=303)
    flash.set_flash(response, {"done": message})
    return response


def take_flash(request: Request) -> str | None:
    """The note a redirect left (an English msgid), shown once."""
    return DONE.get(str(flash.read_flash(request).get("done")))


def finish(request: Request, response: Response) -> Response:
    flash.clear_flash(request, response)
    return response


DONE = {
    "leave": N_("Your leave request was sent."), "leave_decided": N_("The leave request was decided."),
    "leave_cancelled": N_("The leave request was withdrawn."), "swap": N_("Your swap request was sent."),
    "swap_changed": N_("The swap was updated."), "assigned": N_("The shift was assigned."),
    "removed": N_("The shift was removed."), "roster": N_("The roster was created."),
    "published": N_("The roster was published."), "generating": N_("The solver is working on the roster."),
    "notice": N_("The notice was published."), "acknowledged": N_("Thank you: the notice is marked as read."),
    "log": N_("The duty log was saved."), "handover_saved": N_("The handover was saved."),
    "handover_submitted": N_("The handover was sent to the incoming lead."),
    "handover_accepted": N_("You accepted the handover: it is locked and the outgoing shift is closed."),
    "handover_returned": N_("The handover went back to the outgoing lead with your questions."),
    "addition": N_("Your addition was appended."), "rollcall": N_("Roll call was taken."),
    "excused": N_("The entry is marked as excused."),
    "certificate": N_("The medical certificate is recorded as received."),
    "day_off": N_("The day is asked off: the next roster keeps it free if it can."),
    "day_off_withdrawn": N_("The day off was withdrawn."),
    "notice_withdrawn": N_("The notice was withdrawn: nobody needs to acknowledge it any more."),
    "template": N_("The shift template was saved: rosters can assign it now."),
    "template_changed": N_("The shift template was changed: shifts assigned from now on use it."),
    "template_retired": N_("The shift template is out of use: rosters no longer offer it."),
    "template_in_use": N_("The shift template is in use again."),
}
