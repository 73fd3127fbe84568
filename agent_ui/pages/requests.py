"""Shifts and leave (`/shifts`): my coming shifts, leave requests and shift swaps, with their
approvals; a refusal lists every broken rule in the reader's language. Forms post and redirect
without JavaScript; with htmx the same endpoints answer with the page's main block."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from agent_ui.pages import reminders
from agent_ui.pages import scheduling as common
from agent_ui.templating import is_htmx, render
from core import clock
from core.auth import AgentUser, DbSession
from core.directory import list_users
from core.errors import DomainError, ValidationFailed
from core.models import Role, User
from scheduling import access
from scheduling import days_off as days_off_service
from scheduling import leave as leave_service
from scheduling import shifts as shift_service
from scheduling import swaps as swap_service

router = APIRouter()

PAGE = "scheduling/shifts.html"
HOME = "/shifts"


def _why(session: DbSession, leaves: list[Any], locale: str, zone: str) -> dict[int, dict[str, Any]]:
    """What the requester reads beside a decided request, in their language: why it was refused
    (the reason, the approver's note and the step) and why its time counts as absence."""
    refusals = leave_service.refusals_of(session, [r.id for r in leaves if r.status == "refused"])
    found: dict[int, dict[str, Any]] = {}
    for r in leaves:
        refusal = refusals.get(r.id)
        due = r.certificate_due_on.isoformat() if r.certificate_due_on else ""
        found[r.id] = {
            "refused": common.rule_text({"rule": refusal.reason or "leave.refused.other"}, locale, zone)
            if refusal else None,
            "note": refusal.note if refusal else "", "step": refusal.step if refusal else None,
            "absence": common.rule_text({"rule": r.absence_rule, "params": {"day": due}}, locale, zone)
            if r.counts_as_absence and r.absence_rule else None,
        }
    return found


def _context(session: DbSession, user: User, zone: str, locale: str = "en") -> dict[str, Any]:
    now = clock.now()
    people = {u.id: u for u in list_users(session, site_id=user.site_id)} if user.site_id else {user.id: user}
    people.setdefault(user.id, user)
    leaves = leave_service.list_requests(session, viewer=user, limit=100)
    mine = [r for r in leaves if user.id in (r.user_id, r.requested_by_id)]
    to_decide = leave_service.waiting_for(session, viewer=user)
    swaps = swap_service.list_swaps(session, viewer=user, limit=100)
    shifts = {}
    for swap in swaps:
        try:
            shifts[swap.shift_id] = shift_service.get(session, shift_id=swap.shift_id)
        except DomainError:
            continue
    return {
        "my_shifts": shift_service.shifts_of(session, user_id=user.id, start=now - timedelta(days=1),
                                             end=now + timedelta(days=42)),
        "my_leave": mine, "why": _why(session, mine, locale, zone), "to_decide": to_decide,
        "refusal_reasons": common.REFUSAL_REASONS, "swaps": swaps, "swap_shifts": shifts, "people": people,
        "approvable": swap_service.approvable(session, swaps=swaps, by=user),
        "partners": [u for u in people.values() if u.role == Role.agent.value and u.id != user.id],
        "reportable": [u for u in people.values() if u.role == Role.agent.value]
        if access.at_least(user, Role.team_leader) else [],
        "paybacks": [s for s in swaps if s.partner_id == user.id and s.status == "registered"
                     and s.pays_back_id is None and s.paid_back_at is None],
        "certificates": _certificates(session, user, common.today(zone)),
        "days_off": _days_off(session, user, common.today(zone)),
        "leader": access.at_least(user, Role.team_leader), "status_words": common.STATUS,
        "leave_kinds": common.LEAVE_KINDS, "step_words": common.STEPS, "shift_kinds": common.SHIFT_KINDS,
        "now": now, "today": common.today(zone), "timedelta_day": timedelta(days=1),
        # A shift reads by its template's name (Early, Late), since one kind has several.
        "template_names": {t.id: t.name for t in shift_service.list_templates(
            session, site_id=user.site_id, include_inactive=True)} if user.site_id else {},
    }


def _certificates(session: DbSession, user: User, today: date) -> list[tuple[Any, bool]]:
    """Medical certificates still to hand in, each with whether it is overdue (leaders only)."""
    if not access.at_least(user, Role.team_leader):
        return []
    return [(r, leave_service.certificate_overdue(r, today=today))
            for r in leave_service.certificates_due(session, viewer=user)]


def _days_off(session: DbSession, user: User, today: date) -> list[Any]:
    return days_off_service.days_off_of(session, user_id=user.id, first=today,
                                        last=today + timedelta(days=days_off_service.MAX_DAYS_AHEAD))


def _page(request: Request, session: DbSession, user: User, *, status_code: int = 200,
          errors: dict[str, Any] | None = None, **extra: Any) -> Response:
    context = _context(session, user, common.zone_of(request), common.locale_of(request))
    context["reminders"] = reminders.for_viewer(session, user, locale=common.locale_of(request))
    context.update(errors=errors or {}, note=common.take_flash(request), **extra)
    response = render(request, PAGE, context, status_code=status_code,
                      block="shifts_main" if is_htmx(request) else None)
    return common.finish(request, response)


def _done(request: Request, session: DbSession, user: User, key: str) -> Response:
    if is_htmx(request):
        return _page(request, session, user, note_now=common.DONE[key])
    return common.done(request, HOME, key)


def _refused(request: Request, session: DbSession, user: User, where: str, exc: DomainError,
             **typed: Any) -> Response:
    session.rollback()
    return _page(request, session, user, status_code=common.status_for(exc),
                 errors={where: common.refusal(request, exc)}, **typed)


@router.get("/shifts", include_in_schema=False)
def shifts_page(request: Request, session: DbSession, user: AgentUser) -> Response:
    return _page(request, session, user)


@router.post("/shifts/leave", include_in_schema=False)
def request_leave(request: Request, session: DbSession, user: AgentUser, kind: Annotated[str, Form()] = "",
                  start: Annotated[str, Form()] = "", end: Annotated[str, Form()] = "",
                  user_id: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
                  holiday_special_case: Annotated[str, Form()] = "") -> Response:
    zone = common.zone_of(request)
    typed: dict[str, Any] = {"kind": kind, "start": start, "end": end, "reason": reason[:500], "holiday_special_case":
             bool(holiday_special_case), "user_id": int(user_id) if user_id.isdigit() else None}
    try:
        start_at, end_at = common.local_moment(start, zone), common.local_moment(end, zone)
        if start_at is None:
            raise ValidationFailed("Give the start.", field="start")
        if end_at is None:
            raise ValidationFailed("Give the end.", field="end")
        leave_service.request(session, user_id=typed["user_id"] or user.id, kind=kind, start=start_at, end=end_at,
                              by=user, reason=reason[:500], holiday_special_case=bool(holiday_special_case))
    except DomainError as exc:
        return _refused(request, session, user, "leave", exc, leave_form=typed)
    return _done(request, session, user, "leave")


@router.post("/shifts/leave/{leave_id}/{action}", include_in_schema=False)
def decide_leave(request: Request, session: DbSession, user: AgentUser, leave_id: int, action: str,
                 note: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
    try:
        if action == "approve":
            leave_service.approve(session, leave_id=leave_id, by=user, note=note[:500])
        elif action == "refuse":
            leave_service.refuse(session, leave_id=leave_id, by=user, reason=reason, note=note[:500])
        elif action == "cancel":
            leave_service.cancel(session, leave_id=leave_id, by=user)
        elif action == "certificate":
            leave_service.record_certificate(session, leave_id=leave_id, by=user)
        else:
            raise ValidationFailed("Unknown action.", field="action")
    except DomainError as exc:
        return _refused(request, session, user, "certificates" if action == "certificate" else "decide", exc)
    keys = {"cancel": "leave_cancelled", "certificate": "certificate"}
    return _done(request, session, user, keys.get(action, "leave_decided"))


@router.post("/shifts/days-off", include_in_schema=False)
def request_day_off(request: Request, session: DbSession, user: AgentUser, day: Annotated[str, Form()] = "",
                    reason: Annotated[str, Form()] = "") -> Response:
    """A day the solver should keep free for me (a wish, not leave)."""
    typed = {"day": day, "reason": reason[:200]}
    try:
        try:
            on = date.fromisoformat(day.strip())
        except ValueError:
            raise ValidationFailed("Give the day.", field="day") from None
        days_off_service.request(session, user_id=user.id, day=on, by=user, reason=reason[:200])
    except DomainError as exc:
        return _refused(request, session, user, "days_off", exc, day_off_form=typed)
    return _done(request, session, user, "day_off")


@router.post("/shifts/days-off/{day_off_id}/withdraw", include_in_schema=False)
def withdraw_day_off(request: Request, session: DbSession, user: AgentUser, day_off_id: int) -> Response:
    try:
        days_off_service.withdraw(session, day_off_id=day_off_id, by=user)
    except DomainError as exc:
        return _refused(request, session, user, "days_off", exc)
    return _done(request, session, user, "day_off_withdrawn")


@router.post("/shifts/swaps", include_in_schema=False)
def request_swap(request: Request, session: DbSession, user: AgentUser, shift_id: Annotated[str, Form()] = "",
                 partner_id: Annotated[str, Form()] = "", pays_back_id: Annotated[str, Form()] = "",
                 note: Annotated[str, Form()] = "") -> Response:
    typed: dict[str, Any] = {"shift_id": int(shift_id) if shift_id.isdigit() else None,
             "partner_id": int(partner_id) if partner_id.isdigit() else None,
             "pays_back_id": int(pays_back_id) if pays_back_id.isdigit() else None, "note": note[:500]}
    try:
        if typed["shift_id"] is None:
            raise ValidationFailed("Choose your shift.", field="shift_id")
        if typed["partner_id"] is None:
            raise ValidationFailed("Choose a colleague.", field="partner_id")
        swap_service.request(session, shift_id=typed["shift_id"], partner_id=typed["partner_id"], by=user,
                             pays_back_id=typed["pays_back_id"], note=note[:500])
    except DomainError as exc:
        return _refused(request, session, user, "swap", exc, swap_form=typed)
    return _done(request, session, user, "swap")


@router.post("/shifts/swaps/{swap_id}/{action}", include_in_schema=False)
def decide_swap(request: Request, session: DbSession, user: AgentUser, swap_id: int, action: str,
                note: Annotated[str, Form()] = "") -> Response:
    try:
        if action == "confirm":
            swap_service.confirm(session, swap_id=swap_id, by=user)
        elif action == "approve":
            if not access.at_least(user, Role.team_leader):
                from core.errors import PermissionDenied

                raise PermissionDenied("Only team leaders approve swaps.")
            swap_service.approve(session, swap_id=swap_id, by=user)
        elif action == "refuse":
            swap_service.refuse(session, swap_id=swap_id, by=user, note=note[:500])
        else:
            raise ValidationFailed("Unknown action.", field="action")
    except DomainError as exc:
        return _refused(request, session, user, "swaps", exc)
    return _done(request, session, user, "swap_changed")
