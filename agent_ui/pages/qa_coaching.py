"""Coaching pages: the weekly team summary and the training plan an inspector drafts, edits and
publishes; the team leader's coaching tasks (scores below the threshold) and the common problems
to raise at the next roll-call briefing. Plain forms with post-redirect-get, errors beside fields."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from agent_ui import error_pages, i18n
from agent_ui.form_errors import FormError, describe
from agent_ui.i18n import N_
from agent_ui.templating import render
from core import clock, directory, permissions
from core.auth import DbSession, QAUser, RequireRole
from core.errors import DomainError, NotFound, PermissionDenied
from core.models import Role, User
from core.organisation import Team, list_teams
from qa import coaching

router = APIRouter()

QAOrLeader = Annotated[User, Depends(RequireRole(*(permissions.QA | permissions.TEAM_LEADERS)))]
TASK_KINDS = {"evaluation": N_("Evaluation below the threshold"), "monthly_average": N_("Monthly average below the "
                                                                                          "threshold")}


async def _form(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(_form)]


def _refused(request: Request, exc: DomainError) -> Response:
    return error_pages.respond(request, 403 if isinstance(exc, PermissionDenied) else 404, exc)


def _teams(session: Session, user: User) -> list[Team]:
    """A team leader's own team; others the teams of their site (every team without a site)."""
    if user.role == Role.team_leader.value:
        team = directory.get_team(session, team_id=user.team_id) if user.team_id else None
        return [team] if team else []
    return list_teams(session, site_id=user.site_id) if user.site_id is not None else list_teams(session)


def _chosen(session: Session, user: User, team_id: str) -> tuple[list[Team], int | None]:
    teams = _teams(session, user)
    if team_id.isdigit():
        return teams, int(team_id)
    return teams, user.team_id or (teams[0].id if teams else None)


def _today(request: Request) -> date:
    return clock.now().astimezone(ZoneInfo(i18n.zone_for(getattr(request.state, "viewer", None)))).date()


def parse_week(text: str) -> date | None:
    """A week as its Monday: "2026-01-26" (any day; must be a Monday) or "2026-W05" (the input
    type=week value). None when it is neither."""
    text = text.strip()
    try:
        if "-W" in text:
            year, week = text.split("-W")
            return date.fromisocalendar(int(year), int(week), 1)
        return date.fromisoformat(text)
    except ValueError:
        return None


# The weekly summary and training plan ----------------------------------------------------------

def _training_page(request: Request, session: Session, user: User, *, team_id: str, week: str,
                   status_code: int = 200, errors: dict[str, FormError] | None = None,
                   typed: dict[str, str] | None = None) -> Response:
    teams, chosen = _chosen(session, user, team_id)
    today = _today(request)
    start = parse_week(week) if week else today - timedelta(days=today.weekday() + 7)
    context: dict[str, Any] = {"teams": teams, "team_id": chosen, "week": week or (start.isoformat() if start else ""),
                               "week_start": start, "summary": None, "plan": None, "errors": errors or {},
                               "typed": typed or {}, "saved": request.query_params.get("saved", "")[:20],
                               "may_edit": permissions.allowed(user.role, permissions.QA),
                               "people": {}, "plan_limit": coaching.MAX_PLAN_TEXT}
    if start is None or start.weekday() != 0:
        context["errors"] = {**context["errors"], "week": FormError("week", N_(
            "Choose a week, or type the date of its Monday (YYYY-MM-DD)."))}
        return render(request, "qa/training.html", context, status_code=422)
    if chosen is None:
        return render(request, "qa/training.html", context, status_code=status_code)
    try:
        context["summary"] = coaching.weekly_summary(session, team_id=chosen, week_start=start, user=user)
        context["plan"] = coaching.plan_for(session, team_id=chosen, week_start=start, user=user)
    except DomainError as exc:
        return _refused(request, exc)
    people = [i["agent_id"] for i in context["summary"]["individuals"]]
    if context["plan"] is not None:
        people += [i.get("agent_id") for i in context["plan"].individuals]
    context["people"] = {uid: s.display_name for uid, s in directory.staff_names(
        session, {p for p in people if p is not None}).items()}
    return render(request, "qa/training.html", context, status_code=status_code)


@router.get("/qa/training", include_in_schema=False)
def training(request: Request, session: DbSession, user: QAOrLeader, team_id: str = "", week: str = "") -> Response:
    """The team's week: its summary, and its training plan (editable by inspectors until published)."""
    return _training_page(request, session, user, team_id=team_id, week=week)


@router.post("/qa/training", include_in_schema=False)
def draft_plan(request: Request, session: DbSession, user: QAUser, team_id: Annotated[str, Form()] = "",
               week: Annotated[str, Form()] = "") -> Response:
    """Draft the plan from the week's summary (again: its figures and problems are refreshed)."""
    start = parse_week(week)
    try:
        if not team_id.isdigit() or start is None:
            raise NotFound("No such team or week.")
        plan = coaching.draft_training_plan(session, team_id=int(team_id), week_start=start, by=user)
    except DomainError as exc:
        session.rollback()
        if exc.field == "week_start" or start is None:
            return _training_page(request, session, user, team_id=team_id, week=week, status_code=422)
        return _refused(request, exc)
    return RedirectResponse(f"/qa/training?team_id={plan.team_id}&week={plan.week_start.isoformat()}&saved=drafted"
                            "#plan", status_code=303)


def _plan_edits(form: FormData, plan: Any) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]],
                                                   dict[str, str]]:
    """The common problems kept (with their notes) plus a new one, each with its form key; the
    individuals with their notes; and what was typed, to show again on a refusal."""
    problems, keys, typed = [], [], {}
    for i, problem in enumerate(plan.common_problems):
        note = str(form.get(f"problem-{i}-note", ""))
        typed[f"problem-{i}-note"] = note[:1000]
        typed[f"problem-{i}-keep"] = "1" if form.get(f"problem-{i}-keep") else ""
        if form.get(f"problem-{i}-keep"):
            problems.append({**problem, "note": note.strip()})
            keys.append(f"problem-{i}")
    added = str(form.get("new_problem", "")).strip()
    typed["new_problem"] = added[:1000]
    if added:
        problems.append({"question_code": None, "text_en": added, "text_zh": added, "note": ""})
        keys.append("new_problem")
    individuals = []
    for i, person in enumerate(plan.individuals):
        note = str(form.get(f"individual-{i}-note", ""))
        typed[f"individual-{i}-note"] = note[:1000]
        individuals.append({**person, "note": note.strip()})
    return problems, keys, individuals, typed


PLAN_MESSAGES = {
    "body": N_("Keep the plan under 10,000 characters."),
    "problem": N_("Keep each problem and its note under 500 characters."),
    "individual": N_("Keep each note under 500 characters."),
}


@router.post("/qa/training/{plan_id}", include_in_schema=False)
def edit_plan(request: Request, session: DbSession, user: QAUser, plan_id: int, form: PostedForm) -> Response:
    """Save the plan's text, the common problems kept (with notes) and the notes on individuals;
    `action=publish` publishes it as saved (the briefing then lists its problems)."""
    try:
        plan = coaching.get_plan(session, plan_id=plan_id, user=user)
    except DomainError as exc:
        return _refused(request, exc)
    team_id, week = str(plan.team_id), plan.week_start.isoformat()
    body = str(form.get("body", ""))
    problems, keys, individuals, typed = _plan_edits(form, plan)
    typed["body"] = body[:12_000]
    try:
        coaching.update_training_plan(session, plan_id=plan_id, by=user, body=body, common_problems=problems,
                                      individuals=individuals)
        if form.get("action") == "publish":
            coaching.publish_training_plan(session, plan_id=plan_id, by=user)
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, PermissionDenied):
            return _refused(request, exc)
        errors: dict[str, FormError] = {}
        for error in getattr(exc, "errors", None) or []:
            loc = list(error.get("loc") or [])
            if loc and loc[0] == "body":
                errors["body"] = FormError("body", PLAN_MESSAGES["body"])
            elif len(loc) > 1 and loc[0] == "common_problems" and loc[1] < len(keys):
                errors[keys[loc[1]]] = FormError(keys[loc[1]], PLAN_MESSAGES["problem"])
            elif len(loc) > 1 and loc[0] == "individuals":
                errors[f"individual-{loc[1]}"] = FormError(f"individual-{loc[1]}", PLAN_MESSAGES["individual"])
        if exc.code != "invalid" or not errors:
            errors = {"": FormError("", N_("This training plan is published; it can no longer be edited."))
                      if exc.code == "conflict" else describe(exc)}
        return _training_page(request, session, user, team_id=team_id, week=week,
                              status_code=422 if exc.code == "invalid" else 409, errors=errors, typed=typed)
    saved = "published" if form.get("action") == "publish" else "saved"
    return RedirectResponse(f"/qa/training?team_id={team_id}&week={week}&saved={saved}#plan", status_code=303)


# Coaching tasks and the briefing ---------------------------------------------------------------

def _coaching_page(request: Request, session: Session, user: User, *, team_id: str, status_code: int = 200,
                   errors: dict[int, FormError] | None = None, typed: dict[int, str] | None = None,
                   page_error: FormError | None = None) -> Response:
    teams, chosen = _chosen(session, user, team_id)
    today = _today(request)
    context: dict[str, Any] = {"teams": teams, "team_id": chosen, "today": today, "briefing": [], "open_tasks": [],
                               "done_tasks": [], "kinds": TASK_KINDS, "errors": errors or {}, "typed": typed or {},
                               "saved": request.query_params.get("saved", "")[:20], "people": {},
                               "page_error": page_error}
    if chosen is None:
        return render(request, "qa/coaching.html", context, status_code=status_code)
    try:
        context["briefing"] = coaching.briefing_items(session, team_id=chosen, on_date=today, user=user)
        tasks = [t for t in coaching.tasks_for(session, user=user, status=None) if t.team_id == chosen]
    except DomainError as exc:
        return _refused(request, exc)
    context["open_tasks"] = [t for t in tasks if t.status == "open"]
    context["done_tasks"] = sorted((t for t in tasks if t.status == "done"), key=lambda t: t.done_at or t.created_at,
                                   reverse=True)[:20]
    context["people"] = {uid: s.display_name for uid, s in directory.staff_names(
        session, {t.agent_id for t in tasks} | {t.done_by_id for t in tasks if t.done_by_id}).items()}
    return render(request, "qa/coaching.html", context, status_code=status_code)


@router.get("/qa/coaching", include_in_schema=False)
def coaching_page(request: Request, session: DbSession, user: QAOrLeader, team_id: str = "") -> Response:
    """The team leader's coaching tasks and the common problems for the next roll-call briefing."""
    return _coaching_page(request, session, user, team_id=team_id)


@router.post("/qa/coaching/{task_id}/done", include_in_schema=False)
def coaching_done(request: Request, session: DbSession, user: QAOrLeader, task_id: int,
                  note: Annotated[str, Form()] = "", team_id: Annotated[str, Form()] = "") -> Response:
    try:
        coaching.complete_task(session, task_id=task_id, by=user, note=note)
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, (NotFound, PermissionDenied)):
            return _refused(request, exc)
        if exc.field == "note":
            return _coaching_page(request, session, user, team_id=team_id, status_code=422,
                                  typed={task_id: note[:2100]},
                                  errors={task_id: FormError("note", N_("Keep the note under 2,000 characters."))})
        return _coaching_page(request, session, user, team_id=team_id, status_code=409,
                              page_error=FormError("", N_("This coaching task is already done.")))
    suffix = f"team_id={team_id}&" if team_id.isdigit() else ""
    return RedirectResponse(f"/qa/coaching?{suffix}saved=done", status_code=303)
