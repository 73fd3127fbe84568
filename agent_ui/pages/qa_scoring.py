"""Scoring pages: the inspector's queue, the player (the recording, notes pinned to moments, the
call's and ticket's facts, the scorecard saved as a draft as the inspector answers, then
submitted), the agent's evaluations with acknowledge and dispute, and arbitration. Forms post and
redirect; htmx gets the changed block."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from agent_ui import error_pages, i18n
from agent_ui.form_errors import FormError, describe, describe_all
from agent_ui.i18n import N_
from agent_ui.navigation import role_label
from agent_ui.templating import is_htmx, render
from core import clock, directory, permissions
from core.auth import CurrentUser, DbSession, QAUser, SupervisorUser
from core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from core.models import User
from qa import assignments, calibration, disputes, evaluations, scorecards
from qa.scoring import Answer, is_full_marks

router = APIRouter()

QUEUE_PAGE = "qa/queue.html"
PLAYER_PAGE = "qa/player.html"
MINE_PAGE = "qa/mine.html"
DISPUTES_PAGE = "qa/disputes.html"
REASONS = {"random": N_("Random"), "complaint": N_("Complaint"), "escalation": N_("Escalation"),
           "low_satisfaction": N_("Low satisfaction"), "short_call": N_("Short call"), "long_call": N_("Long call"),
           "repeat_caller": N_("Repeat caller"), "new_agent": N_("New agent")}
STATUSES = {"draft": N_("Draft"), "submitted": N_("Submitted"), "acknowledged": N_("Acknowledged"),
            "disputed": N_("Disputed"), "resolved": N_("Resolved")}
EVENTS = {"created": N_("Draft started"), "submitted": N_("Submitted"), "acknowledged": N_("Acknowledged"),
          "disputed": N_("Disputed"), "upheld": N_("Upheld on arbitration"), "revised": N_("Revised on arbitration")}

async def _form(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(_form)]


def refusal(request: Request, exc: DomainError) -> Response:
    """A refused page in the reader's language: 403 for what the role or scope does not allow
    (and a calibration peeked at before submitting), 404 for what is not there to see."""
    return error_pages.respond(request, 403 if isinstance(exc, PermissionDenied) else 404, exc)


def names(session: DbSession, ids: Any) -> dict[int, str]:
    """Colleagues' display names by user id (staff names, not customer data)."""
    return {uid: staff.display_name for uid, staff in directory.staff_names(
        session, {uid for uid in ids if uid is not None}).items()}


def day(request: Request, value: Any) -> str:
    from datetime import date

    from babel.dates import format_date

    return format_date(date.fromisoformat(value) if isinstance(value, str) else value, "medium",
                       locale=i18n.babel_locale(i18n.locale_for(request)))


# The queue ------------------------------------------------------------------------------------

@router.get("/qa", include_in_schema=False)
def queue(request: Request, session: DbSession, user: QAUser, error: FormError | None = None,
          status_code: int = 200) -> Response:
    rows = assignments.queue(session, user=user)
    people = names(session, [r["agent_id"] for r in rows] + [r["scored_by"] for r in rows if r["scored_by"]])
    context = {"rows": rows, "people": people, "reasons": REASONS, "error": error, "day": lambda d: day(request, d),
               "open_disputes": len(disputes.open_disputes(session, user=user)),
               "calibrations": calibration.sessions_for(session, user=user)}
    return render(request, QUEUE_PAGE, context, status_code=status_code)


@router.post("/qa/evaluations", include_in_schema=False)
def start(request: Request, session: DbSession, user: QAUser, recording_id: Annotated[str, Form()] = "",
          assignment_id: Annotated[str, Form()] = "") -> Response:
    """Open (or continue) the draft for an assignment's recording, or any recording one may hear."""
    try:
        if not recording_id.strip().isdigit():
            raise ValidationFailed("Type a recording number.", field="recording_id")
        draft = evaluations.create_draft(session, recording_id=int(recording_id), by=user,
                                         assignment_id=int(assignment_id) if assignment_id.isdigit() else None)
    except DomainError as exc:
        session.rollback()
        return queue(request, session, user, describe(exc, fallback_field="recording_id"),
                     422 if exc.code == "invalid" else 409)
    return RedirectResponse(f"/qa/evaluations/{draft.id}", status_code=303)


# The player -----------------------------------------------------------------------------------

def _dispute_view(session: DbSession, user: User, data: dict[str, Any], card: Any) -> dict[str, Any]:
    ev = data["evaluation"]
    rules = scorecards.rules_of(card)
    answers = {a["question_id"]: Answer(a["value"], a["not_applicable"]) for a in ev["answers"]}
    disputable = [qid for qid, a in answers.items() if qid in rules and not a.not_applicable
                  and not is_full_marks(rules[qid], a)]
    open_ = [d for d in disputes.open_disputes(session, user=user) if d.evaluation_id == ev["id"]] \
        if ev["status"] == "disputed" else []
    until = ev["dispute_until"]
    return {"is_agent": ev["agent_id"] == user.id, "disputable": disputable,
            "window_open": ev["status"] == "submitted" and until is not None and clock.now().isoformat() < until,
            "arbitration": open_[0] if open_ else None}


def _player(request: Request, session: DbSession, user: User, evaluation_id: int, *, status_code: int = 200,
            errors: dict[str, FormError] | None = None, typed: dict[str, Any] | None = None, saved: str = "",
            block: str | None = None, headers: dict[str, str] | None = None) -> Response:
    try:
        data = evaluations.player(session, evaluation_id=evaluation_id, user=user)
        events = evaluations.timeline(session, evaluation_id=evaluation_id, user=user)
    except DomainError as exc:
        return refusal(request, exc)
    ev = data["evaluation"]
    card = scorecards.get(session, scorecard_id=ev["scorecard_id"])
    answers = {a["question_id"]: a for a in ev["answers"]}
    disputed = next((e for e in reversed(events) if e.kind == "disputed"), None)
    record = evaluations.get(session, evaluation_id=evaluation_id, user=user)
    context = {
        **data, "ev": ev, "answers": answers, "events": events, "event_words": EVENTS, "statuses": STATUSES,
        "people": names(session, [ev["agent_id"], ev["inspector_id"], *(e.actor_id for e in events)]),
        "errors": errors or {}, "typed": typed or {}, "saved": saved, "disputed": disputed,
        "dispute_until": record.dispute_until, "submitted_at": record.submitted_at,
        "call_started_at": record.call_started_at, "saved_at": clock.now(),
        "questions": {q["id"]: q for s in data["scorecard"]["sections"] for q in s["questions"]},
        **_dispute_view(session, user, data, card),
    }
    if is_htmx(request) and block is None:
        block = "player_main"
    return render(request, PLAYER_PAGE, context, status_code=status_code, block=block, headers=headers)


@router.get("/qa/evaluations/{evaluation_id}", include_in_schema=False)
def player(request: Request, session: DbSession, user: CurrentUser, evaluation_id: int) -> Response:
    return _player(request, session, user, evaluation_id, saved=request.query_params.get("saved", "")[:20])


def _answers_from(form: FormData, question_ids: list[int]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Each question's radio (`answer-<id>`): a value, "na", or nothing (cleared)."""
    parsed, typed = [], {}
    for qid in question_ids:
        raw = str(form.get(f"answer-{qid}", "")).strip()
        typed[str(qid)] = raw
        if raw == "na":
            parsed.append({"question_id": qid, "value": None, "not_applicable": True})
        elif raw.lstrip("-").isdigit():
            parsed.append({"question_id": qid, "value": int(raw), "not_applicable": False})
        elif raw == "":
            parsed.append({"question_id": qid, "value": None, "not_applicable": False})
        else:
            parsed.append({"question_id": qid, "value": 10_000, "not_applicable": False})  # refused as out of scale
    return parsed, typed


def answer_errors(exc: DomainError, card: Any) -> dict[str, FormError]:
    """The service's per-answer refusals, each beside its question (`q<id>`); any other goes
    above the form."""
    questions = {question_id: f"q{question_id}" for question_id in scorecards.rules_of(card)}
    return describe_all(exc, fields={str(k): v for k, v in questions.items()})


def _card_of(session: DbSession, user: User, evaluation_id: int) -> Any:
    evaluation = evaluations.get(session, evaluation_id=evaluation_id, user=user)
    return scorecards.get(session, scorecard_id=evaluation.scorecard_id)


def _save_draft(request: Request, session: DbSession, user: QAUser, evaluation_id: int, form: PostedForm, *,
                htmx: bool = True) -> tuple[Any, dict[str, Any], Response | None]:
    """Save the form's answers as the draft: (scorecard, answers as typed, None), or the page
    that refuses them (errors beside their questions; by htmx, the form alone when `htmx`)."""
    try:
        card = _card_of(session, user, evaluation_id)
    except DomainError as exc:
        return None, {}, refusal(request, exc)
    parsed, typed = _answers_from(form, [q.id for q in card.questions])
    try:
        evaluations.save(session, evaluation_id=evaluation_id, by=user, answers=parsed)
    except DomainError as exc:
        session.rollback()
        errors = answer_errors(exc, card) if exc.code == "invalid" else {"": describe(exc)}
        partial = htmx and is_htmx(request)
        retarget = {"HX-Retarget": "#scorecard-form", "HX-Reswap": "outerHTML"} if partial else None
        return card, typed, _player(request, session, user, evaluation_id,
                                    status_code=422 if exc.code == "invalid" else 409, errors=errors, typed=typed,
                                    block="scorecard_form" if partial else None, headers=retarget)
    return card, typed, None


@router.post("/qa/evaluations/{evaluation_id}/answers", include_in_schema=False)
def save(request: Request, session: DbSession, user: QAUser, evaluation_id: int, form: PostedForm) -> Response:
    """The draft, saved as the inspector answers (htmx, on every change) or with the button."""
    card, typed, refused = _save_draft(request, session, user, evaluation_id, form)
    if refused is not None:
        return refused
    if is_htmx(request):
        return _player(request, session, user, evaluation_id, saved="draft", block="score_panel")
    return RedirectResponse(f"/qa/evaluations/{evaluation_id}?saved=draft", status_code=303)


@router.post("/qa/evaluations/{evaluation_id}/submit", include_in_schema=False)
def submit(request: Request, session: DbSession, user: QAUser, evaluation_id: int, form: PostedForm) -> Response:
    """Save what the form holds, then submit; what is missing is shown beside its question (the
    answers given are kept in the draft)."""
    card, typed, refused = _save_draft(request, session, user, evaluation_id, form, htmx=False)
    if refused is not None:
        return refused
    try:
        evaluations.submit(session, evaluation_id=evaluation_id, by=user)
    except DomainError as exc:  # nothing changed by the refusal: the saved answers stay
        return _player(request, session, user, evaluation_id, status_code=422, errors=answer_errors(exc, card),
                       typed=typed)
    return RedirectResponse(f"/qa/evaluations/{evaluation_id}?saved=submitted", status_code=303)


def seconds_from(text: str) -> int | None:
    """"75", "1:15" or "0:01:15" as seconds from the start of the recording."""
    parts = text.strip().split(":")
    if not parts or not all(p.isdigit() for p in parts) or len(parts) > 3:
        return None
    total = 0
    for part in parts:
        total = total * 60 + int(part)
    return total


@router.post("/qa/evaluations/{evaluation_id}/notes", include_in_schema=False)
def add_note(request: Request, session: DbSession, user: QAUser, evaluation_id: int,
             at: Annotated[str, Form()] = "", body: Annotated[str, Form()] = "",
             question_id: Annotated[str, Form()] = "") -> Response:
    typed = {"at": at[:12], "body": body[:5000], "question_id": question_id}
    seconds = seconds_from(at)
    try:
        if seconds is None:
            raise ValidationFailed("Type the moment as minutes:seconds, for example 1:15.", field="at")
        evaluations.add_note(session, evaluation_id=evaluation_id, by=user, at_seconds=seconds, body=body[:5000],
                             question_id=int(question_id) if question_id.isdigit() else None)
    except DomainError as exc:
        session.rollback()
        error = describe(exc, fields={"at": "at", "body": "body"})
        return _player(request, session, user, evaluation_id, status_code=422 if exc.code == "invalid" else 409,
                       errors={"note": error}, typed={"note": typed},
                       block="notes_panel" if is_htmx(request) else None)
    if is_htmx(request):
        return _player(request, session, user, evaluation_id, block="notes_panel")
    return RedirectResponse(f"/qa/evaluations/{evaluation_id}#notes", status_code=303)


# The agent's side -----------------------------------------------------------------------------

@router.get("/qa/mine", include_in_schema=False)
def mine(request: Request, session: DbSession, user: CurrentUser) -> Response:
    found = evaluations.list_for_agent(session, agent_id=user.id, user=user)
    return render(request, MINE_PAGE, {"found": found, "statuses": STATUSES, "now": clock.now(),
                                       "people": names(session, [e.inspector_id for e in found])})


@router.post("/qa/evaluations/{evaluation_id}/acknowledge", include_in_schema=False)
def acknowledge(request: Request, session: DbSession, user: CurrentUser, evaluation_id: int) -> Response:
    try:
        disputes.acknowledge(session, evaluation_id=evaluation_id, by=user)
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            return refusal(request, exc)
        return _player(request, session, user, evaluation_id, status_code=409, errors={"dispute": FormError(
            "", N_("This evaluation is no longer waiting for you: it was acknowledged or disputed already."))})
    return RedirectResponse(f"/qa/evaluations/{evaluation_id}?saved=acknowledged", status_code=303)


@router.post("/qa/evaluations/{evaluation_id}/dispute", include_in_schema=False)
def dispute(request: Request, session: DbSession, user: CurrentUser, evaluation_id: int,
            question_ids: Annotated[list[str], Form()] = [], reason: Annotated[str, Form()] = "") -> Response:  # noqa: B006
    typed = {"question_ids": [q for q in question_ids if q.isdigit()], "reason": reason[:2000]}
    try:
        disputes.dispute(session, evaluation_id=evaluation_id, by=user,
                         question_ids=[int(q) for q in typed["question_ids"]], reason=reason[:2000])
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            return refusal(request, exc)
        return _player(request, session, user, evaluation_id, status_code=422,
                       errors={"dispute": _dispute_error(request, session, user, exc, evaluation_id)},
                       typed={"dispute": typed})
    return RedirectResponse(f"/qa/evaluations/{evaluation_id}?saved=disputed", status_code=303)


def _dispute_error(request: Request, session: DbSession, user: User, exc: DomainError,
                   evaluation_id: int) -> FormError:
    if exc.field == "evaluation_id":
        record = evaluations.get(session, evaluation_id=evaluation_id, user=user)
        viewer = getattr(request.state, "viewer", None)
        until = i18n.format_moment(record.dispute_until, i18n.locale_for(request),
                                   i18n.zone_for(viewer), "short")
        return FormError("", N_("The dispute window closed on %(date)s; talk to your team leader instead."),
                         {"date": until})
    locs = [str((e.get("loc") or [""])[0]) for e in getattr(exc, "errors", [])]
    if "reason" in locs:
        return FormError("reason", N_("Say why you disagree."))
    if "question_ids" in locs:
        return FormError("question_ids", N_("Choose the answers you dispute (only those short of full marks)."))
    return FormError("", N_("This evaluation can no longer be disputed."))


# Arbitration ----------------------------------------------------------------------------------

def _disputes_page(request: Request, session: DbSession, user: User, *, status_code: int = 200,
                   errors: dict[int, FormError] | None = None, typed: dict[int, str] | None = None,
                   saved: str = "", page_error: FormError | None = None) -> Response:
    """The disputes `user` may decide; a supervisor also names each one's arbitrator."""
    found = disputes.open_disputes(session, user=user)
    names_arbitrators = permissions.allowed(user.role, permissions.SUPERVISORS)
    candidates = {d.id: disputes.arbitrator_candidates(session, dispute_id=d.id, by=user)
                  for d in found} if names_arbitrators else {}
    people = names(session, [*(d.agent_id for d in found), *(d.arbitrator_id for d in found)])
    return render(request, DISPUTES_PAGE, {"found": found, "people": people, "candidates": candidates,
                                           "names_arbitrators": names_arbitrators, "errors": errors or {},
                                           "typed": typed or {}, "saved": saved, "role_word": role_label,
                                           "page_error": page_error},
                  status_code=status_code)


@router.get("/qa/disputes", include_in_schema=False)
def open_disputes(request: Request, session: DbSession, user: QAUser) -> Response:
    return _disputes_page(request, session, user, saved=request.query_params.get("saved", "")[:20])


@router.post("/qa/disputes/{dispute_id}/arbitrator", include_in_schema=False)
def assign_arbitrator(request: Request, session: DbSession, user: SupervisorUser, dispute_id: int,
                      arbitrator_id: Annotated[str, Form()] = "") -> Response:
    """A supervisor names the dispute's arbitrator: another inspector or a supervisor."""
    try:
        if not arbitrator_id.strip().isdigit():
            raise ValidationFailed("Choose the arbitrator.", field="arbitrator_id")
        disputes.assign_arbitrator(session, dispute_id=dispute_id, arbitrator_id=int(arbitrator_id), by=user)
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, (NotFound, PermissionDenied)):
            return refusal(request, exc)
        if exc.code != "invalid":  # decided meanwhile: it is no longer listed
            return _disputes_page(request, session, user, status_code=409,
                                  page_error=FormError("", N_("This dispute is already decided.")))
        error = FormError("arbitrator_id", N_("Choose another QA inspector or a supervisor from the list: not the "
                                              "evaluation's author."))
        return _disputes_page(request, session, user, status_code=422, errors={dispute_id: error},
                              typed={dispute_id: arbitrator_id[:12]})
    return RedirectResponse("/qa/disputes?saved=assigned", status_code=303)


@router.post("/qa/disputes/{dispute_id}/arbitrate", include_in_schema=False)
def arbitrate(request: Request, session: DbSession, user: QAUser, dispute_id: int, form: PostedForm) -> Response:
    try:
        item = disputes.get(session, dispute_id=dispute_id, user=user)
    except DomainError as exc:
        return refusal(request, exc)
    decision, reason = str(form.get("decision", "")), str(form.get("reason", ""))[:2000]
    answers, typed = _answers_from(form, list(item.question_ids))
    try:
        disputes.arbitrate(session, dispute_id=dispute_id, by=user, decision=decision, reason=reason,
                           answers=[a for a in answers if a["value"] is not None or a["not_applicable"]]
                           if decision == "revise" else ())
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, PermissionDenied):
            return refusal(request, exc)
        field = exc.field if exc.field in ("reason", "decision") else ""
        message = {"reason": N_("Give the reason for the decision."),
                   "decision": N_("Choose to uphold or to revise.")}.get(field, N_(
                       "A revision gives a new answer to each disputed question, within its scale."))
        return _player(request, session, user, item.evaluation_id, status_code=422,
                       errors={"arbitrate": FormError(field, message)},
                       typed={"arbitrate": {"decision": decision, "reason": reason, **typed}})
    return RedirectResponse(f"/qa/evaluations/{item.evaluation_id}?saved=arbitrated", status_code=303)
