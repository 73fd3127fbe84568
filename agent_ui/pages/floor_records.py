"""The floor's records: roll call with its violations, the duty log (figures prefilled, editable)
and its weekly roll-up, handovers (written, accepted or returned, then locked with marked
additions) under `/duty`, and notices with read receipts under `/notices`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from agent_ui import flash
from agent_ui.i18n import N_
from agent_ui.pages import reminders
from agent_ui.pages import scheduling as common
from agent_ui.pages.qa_scoring import PostedForm
from agent_ui.templating import is_htmx, render
from core import clock
from core.auth import CurrentUser, DbSession, TeamLeaderUser
from core.db import become_writer
from core.directory import list_users
from core.errors import DomainError, ValidationFailed
from core.models import Role, User
from core.organisation import list_sites, list_teams
from qa import coaching as qa_coaching
from scheduling import access, dutylog, rollcall
from scheduling import handover as handover_service
from scheduling import notices as notice_service
from scheduling.texts import TEXT_LIMIT

router = APIRouter()

DUTY, HANDOVER, WEEKLY, NOTICES = ("scheduling/duty.html", "scheduling/handover.html", "scheduling/weekly.html",
                                   "scheduling/notices.html")
COUNT_LIMIT = 1_000_000


def _names(session: DbSession, user: User) -> dict[int, str]:
    return {u.id: u.display_name for u in list_users(session, site_id=user.site_id, active_only=False)}


def _waiting_handovers(session: DbSession, user: User) -> list[Any]:
    return handover_service.waiting_for(session, viewer=user)


def _duty_site(request: Request, session: DbSession, user: User) -> tuple[int | None, list[Any]]:
    """The site whose floor the page shows: the viewer's own; for a center head or admin without
    one, the site they picked (`?site=`), or the only site. None, with the sites, asks them to pick."""
    if user.site_id is not None:
        return user.site_id, []
    sites = list_sites(session)
    raw = request.query_params.get("site", "")
    chosen = next((s.id for s in sites if raw.isdigit() and s.id == int(raw)), None)
    if chosen is None and len(sites) == 1:
        chosen = sites[0].id
    return chosen, sites


def _site_query(user: User, site_id: int | None) -> str:
    return f"&site={site_id}" if user.site_id is None and site_id is not None else ""


def _duty_context(request: Request, session: DbSession, user: User) -> dict[str, Any]:
    site_id, sites = _duty_site(request, session, user)
    if site_id is None:
        return {"sites": sites, "choose": "/duty"}
    zone = common.zone_of(request)
    day = common.parse_day(request.query_params.get("day"), common.today(zone))
    kind = request.query_params.get("kind") or "day"
    kind = kind if kind in common.SHIFT_KINDS else "day"
    start, _end = common.day_bounds(day, zone)
    entries = rollcall.roll_call(session, site_id=site_id, start=start, by=user, window_minutes=24 * 60)
    log = dutylog.open_log(session, site_id=site_id, day=day, shift_kind=kind, by=user)
    handover = handover_service.for_duty_log(session, duty_log_id=log.id)
    staffing = (handover_service.staffing(session, duty_log_id=log.id)
                if handover is None or handover.status in ("draft", "returned") else [])
    session.commit()  # the roll call and the prefilled log are kept, whatever the page does next
    return {
        "site_q": _site_query(user, site_id), "sites": sites, "site_id": site_id, "choose": None,
        "day": day, "kind": kind, "prev_day": day - timedelta(days=1), "next_day": day + timedelta(days=1),
        "roll_call": [(shift, entry, common.explain(entry.violations, request)) for shift, entry in entries],
        "log": log, "handover": handover, "waiting": _waiting_handovers(session, user), "names": _names(session, user),
        "staffing": staffing_lines(staffing), "leave_kinds": common.LEAVE_KINDS,
        "reminders": reminders.for_viewer(session, user, locale=common.locale_of(request)),
        "fields": handover_service.FIELDS, "field_words": FIELD_WORDS, "status_words": common.STATUS,
        "shift_kinds": common.SHIFT_KINDS, "week_start": day - timedelta(days=day.weekday()),
        "text_limit": TEXT_LIMIT,
        # QA's common problems for this team's roll-call briefing (a team leader's own team).
        "briefing": qa_coaching.briefing_items(session, team_id=user.team_id, on_date=day, user=user)
        if user.team_id is not None else None,
    }


def staffing_lines(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hub's staffing changes with their times as moments, for the templates to say."""
    def moment(value: Any) -> datetime | None:
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    return [{**item, "start": moment(item.get("start")), "end": moment(item.get("end"))} for item in items or []]


FIELD_WORDS = {
    "equipment_status": N_("Equipment status"), "difficult_issues": N_("Difficult issues"),
    "unresolved_issues": N_("Unresolved issues"), "staffing_changes": N_("Staffing changes (swaps, absences)"),
    "notices": N_("Notices"), "superiors_instructions": N_("Superiors' instructions"),
    "customer_feedback": N_("Customers' suggestions and complaints"),
    "system_problems": N_("System problems"), "notes": N_("Notes"),
    "inquiry_count": N_("Inquiries"), "lookup_count": N_("Lookups"),
    "proactive_count": N_("Proactive service"),
}
SOURCES = {"tickets": N_("from tickets"), "manual": N_("typed by the leader"),
           "edited": N_("edited by the leader"), "audit": N_("from customer cards opened in full"),
           "callbacks": N_("from callbacks the hub dialled")}


def _render(request: Request, template: str, block: str, context: dict[str, Any], *, status_code: int = 200,
            errors: dict[str, Any] | None = None, **extra: Any) -> Response:
    context.update(errors=errors or {}, note=common.take_flash(request), sources=SOURCES, **extra)
    response = render(request, template, context, status_code=status_code, block=block if is_htmx(request) else None)
    return common.finish(request, response)


def _duty(request: Request, session: DbSession, user: User, **extra: Any) -> Response:
    return _render(request, DUTY, "duty_main", _duty_context(request, session, user), **extra)


def _handover_page(request: Request, session: DbSession, user: User, handover_id: int, **extra: Any) -> Response:
    handover = handover_service.get(session, handover_id=handover_id)
    access.require_site(user, handover.site_id, "read handovers")
    context = {"handover": handover, "log": dutylog.get(session, log_id=handover.duty_log_id),
               "additions": handover_service.additions(session, handover_id=handover.id),
               "staffing": staffing_lines((handover.listed or {}).get("staffing") or []),
               "leave_kinds": common.LEAVE_KINDS,
               "names": _names(session, user), "fields": handover_service.FIELDS, "field_words": FIELD_WORDS,
               "status_words": common.STATUS, "shift_kinds": common.SHIFT_KINDS,
               "text_limit": TEXT_LIMIT}
    return _render(request, HANDOVER, "handover_main", context, **extra)


def _back(request: Request, session: DbSession, user: User, key: str, location: str,
          handover_id: int | None = None) -> Response:
    """htmx gets the block again with its note; a plain post is redirected (post-redirect-get)."""
    if not is_htmx(request):
        return common.done(request, location, key)
    if handover_id is not None:
        return _handover_page(request, session, user, handover_id, note_now=common.DONE[key])
    return _duty(request, session, user, note_now=common.DONE[key])


def _refused(request: Request, session: DbSession, user: User, where: str, exc: DomainError,
             handover_id: int | None = None, **typed: Any) -> Response:
    session.rollback()
    errors = {where: common.refusal(request, exc)}
    if handover_id is not None:
        return _handover_page(request, session, user, handover_id, status_code=common.status_for(exc),
                              errors=errors, **typed)
    return _duty(request, session, user, status_code=common.status_for(exc), errors=errors, **typed)


def _here(back: str) -> str:
    """Where the form was (its `back` field): the same day and shift of the duty page."""
    target = flash.safe_next(back, "/duty")
    return target if target.startswith("/duty") else "/duty"


@router.get("/duty", include_in_schema=False)
def duty(request: Request, session: DbSession, user: TeamLeaderUser) -> Response:
    become_writer(session)  # the first look of the day opens the duty log
    return _duty(request, session, user)


@router.post("/duty/rollcall/{shift_id}/excuse", include_in_schema=False)
def excuse(request: Request, session: DbSession, user: TeamLeaderUser, shift_id: int,
           note: Annotated[str, Form()] = "", back: Annotated[str, Form()] = "",
           user_id: Annotated[str, Form()] = "") -> Response:
    try:
        rollcall.excuse(session, shift_id=shift_id, by=user, note=note,
                        user_id=int(user_id) if user_id.isdigit() else None)
    except DomainError as exc:
        return _refused(request, session, user, "rollcall", exc)
    return _back(request, session, user, "excused", _here(back))


@router.post("/duty/logs/{log_id}", include_in_schema=False)
def save_log(request: Request, session: DbSession, user: TeamLeaderUser, log_id: int,
             system_problems: Annotated[str, Form()] = "", difficult_issues: Annotated[str, Form()] = "",
             notes: Annotated[str, Form()] = "", inquiry_count: Annotated[str, Form()] = "",
             lookup_count: Annotated[str, Form()] = "", proactive_count: Annotated[str, Form()] = "",
             back: Annotated[str, Form()] = "") -> Response:
    # Kept whole: the service refuses a part past its limit, and a refused form shows what was typed.
    typed = {"system_problems": system_problems, "difficult_issues": difficult_issues, "notes": notes,
             "inquiry_count": inquiry_count[:20], "lookup_count": lookup_count[:20],
             "proactive_count": proactive_count[:20]}
    try:
        log = dutylog.get(session, log_id=log_id)
        changes: dict[str, Any] = {name: typed[name] for name in dutylog.TEXT_FIELDS}
        for name, value in (("inquiry_count", inquiry_count), ("lookup_count", lookup_count),
                            ("proactive_count", proactive_count)):
            value = value.strip()
            if not value.isdigit() or int(value) > COUNT_LIMIT:
                raise ValidationFailed("Counts are whole numbers of at least 0.", field=name)
            if int(value) != getattr(log, name):  # an unchanged prefilled figure keeps its source
                changes[name] = int(value)
        dutylog.update(session, log_id=log_id, by=user, changes=changes)
    except DomainError as exc:
        return _refused(request, session, user, "log", exc, log_form=typed)
    return _back(request, session, user, "log", _here(back))


@router.post("/duty/logs/{log_id}/handover", include_in_schema=False)
def write_handover(request: Request, session: DbSession, user: TeamLeaderUser, log_id: int,
                   form: PostedForm) -> Response:
    """Save the draft or send it: each part written, or "nothing to report" ticked (`nothing`)."""
    fields = {name: str(form.get(name, "")) for name in handover_service.FIELDS}  # the service refuses too long
    nothing = [str(n) for n in form.getlist("nothing")]
    try:
        handover = handover_service.write(session, duty_log_id=log_id, by=user, nothing_to_report=nothing, **fields)
        if form.get("action") == "submit":
            handover_service.submit(session, handover_id=handover.id, by=user)
    except DomainError as exc:
        return _refused(request, session, user, "handover", exc, handover_form=fields, handover_nothing=nothing)
    action, back = str(form.get("action", "save")), str(form.get("back", ""))
    return _back(request, session, user, "handover_submitted" if action == "submit" else "handover_saved",
                 _here(back))


@router.get("/duty/handovers/{handover_id}", include_in_schema=False)
def handover_page(request: Request, session: DbSession, user: TeamLeaderUser, handover_id: int) -> Response:
    return _handover_page(request, session, user, handover_id)


@router.post("/duty/handovers/{handover_id}/{action}", include_in_schema=False)
def answer_handover(request: Request, session: DbSession, user: TeamLeaderUser, handover_id: int, action: str,
                    text: Annotated[str, Form()] = "") -> Response:
    keys = {"accept": "handover_accepted", "return": "handover_returned", "append": "addition"}
    try:
        if action == "accept":
            handover_service.accept(session, handover_id=handover_id, by=user)
        elif action == "return":
            handover_service.return_with_questions(session, handover_id=handover_id, by=user, questions=text)
        elif action == "append":
            handover_service.append(session, handover_id=handover_id, by=user, text=text)
        else:
            raise ValidationFailed("Unknown action.", field="action")
    except DomainError as exc:
        return _refused(request, session, user, "answer", exc, handover_id=handover_id, typed_text=text)
    return _back(request, session, user, keys[action], f"/duty/handovers/{handover_id}", handover_id=handover_id)


@router.get("/duty/weekly", include_in_schema=False)
def weekly(request: Request, session: DbSession, user: TeamLeaderUser) -> Response:
    zone = common.zone_of(request)
    day = common.parse_day(request.query_params.get("week"), common.today(zone))
    week_start = day - timedelta(days=day.weekday())
    site_id, sites = _duty_site(request, session, user)
    if site_id is None:
        return _render(request, WEEKLY, "weekly_main", {"sites": sites, "choose": "/duty/weekly"})
    context = {"week": dutylog.weekly(session, site_id=site_id, week_start=week_start, by=user),
               "site_q": _site_query(user, site_id), "sites": sites, "site_id": site_id, "choose": None,
               "week_start": week_start, "prev_week": week_start - timedelta(days=7),
               "next_week": week_start + timedelta(days=7), "field_words": FIELD_WORDS,
               "shift_kinds": common.SHIFT_KINDS, "counts": dutylog.COUNT_FIELDS}
    return _render(request, WEEKLY, "weekly_main", context)


# Notices ------------------------------------------------------------------------------------

def _notices(request: Request, session: DbSession, user: User, *, status_code: int = 200,
             errors: dict[str, Any] | None = None, **extra: Any) -> Response:
    leader = access.at_least(user, Role.team_leader)
    # Leaders see withdrawn notices too (marked, with who withdrew them); agents only live ones.
    shown = notice_service.published_for(session, viewer=user) if leader else notice_service.notices_for(
        session, user=user)
    unread = {n.id for n in notice_service.unacknowledged(session, user=user)}
    receipts = {n.id: notice_service.read_receipts(session, notice_id=n.id, by=user) for n in shown} if leader else {}
    withdrawn = {n.id: notice_service.withdrawn_by(session, notice_id=n.id) for n in shown if n.withdrawn_at}
    context = {"notices": shown, "unread": unread, "receipts": receipts, "leader": leader, "withdrawn": withdrawn,
               "names": _names(session, user) if leader else {},
               "teams": list_teams(session, site_id=user.site_id) if leader and user.site_id else [],
               "now": clock.now(), "text_limit": TEXT_LIMIT}
    return _render(request, NOTICES, "notices_main", context, status_code=status_code, errors=errors, **extra)


# Notices are for everyone signed in (QA inspectors and administrators read them too); leaders publish.
@router.get("/notices", include_in_schema=False)
def notices(request: Request, session: DbSession, user: CurrentUser) -> Response:
    return _notices(request, session, user)


@router.post("/notices", include_in_schema=False)
def publish_notice(request: Request, session: DbSession, user: TeamLeaderUser, title: Annotated[str, Form()] = "",
                   body: Annotated[str, Form()] = "", team_id: Annotated[str, Form()] = "") -> Response:
    typed: dict[str, Any] = {"title": title[:200], "body": body,  # kept whole: the service refuses too long
                             "team_id": int(team_id) if team_id.isdigit() else None}
    try:
        notice_service.publish_notice(session, title=title, body=body, by=user,
                                      team_id=typed["team_id"])
    except DomainError as exc:
        session.rollback()
        return _notices(request, session, user, status_code=common.status_for(exc),
                        errors={"publish": common.refusal(request, exc)}, notice_form=typed)
    if is_htmx(request):
        return _notices(request, session, user, note_now=common.DONE["notice"])
    return common.done(request, "/notices", "notice")


@router.post("/notices/{notice_id}/withdraw", include_in_schema=False)
def withdraw_notice(request: Request, session: DbSession, user: TeamLeaderUser, notice_id: int,
                    reason: Annotated[str, Form()] = "") -> Response:
    try:
        notice_service.withdraw(session, notice_id=notice_id, by=user, reason=reason[:200])
    except DomainError as exc:
        session.rollback()
        return _notices(request, session, user, status_code=common.status_for(exc),
                        errors={"notices": common.refusal(request, exc)})
    if is_htmx(request):
        return _notices(request, session, user, note_now=common.DONE["notice_withdrawn"])
    return common.done(request, "/notices", "notice_withdrawn")


@router.post("/notices/{notice_id}/acknowledge", include_in_schema=False)
def acknowledge(request: Request, session: DbSession, user: CurrentUser, notice_id: int) -> Response:
    try:
        notice_service.acknowledge(session, notice_id=notice_id, by=user)
    except DomainError as exc:
        session.rollback()
        return _notices(request, session, user, status_code=common.status_for(exc),
                        errors={"notices": common.refusal(request, exc)})
    if is_htmx(request):
        return _notices(request, session, user, note_now=common.DONE["acknowledged"])
    return common.done(request, "/notices", "acknowledged")
