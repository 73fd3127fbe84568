"""Coaching: coaching tasks for the team leader when a score falls below the threshold, the weekly
team summary and the training plan the inspector edits and publishes, and the common problems
read out at the next roll-call briefing (`briefing_items`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock, directory, permissions
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from core.organisation import Team, list_teams
from qa import access, stats
from qa.errors import WrongState
from qa.models import CoachingTask, Evaluation, TrainingPlan
from qa.settings import policy

__all__ = ["briefing_items", "complete_task", "draft_training_plan", "get_plan", "monthly_coaching", "monthly_due",
           "on_scored", "plan_for", "publish_training_plan", "tasks_for", "update_training_plan", "weekly_summary"]


def _task(session: Session, *, key: str, **values: Any) -> CoachingTask | None:
    """Create the task once: the key is unique, so a repeat (or a racing sweep) finds it."""
    existing = session.scalar(select(CoachingTask).where(CoachingTask.key == key))
    if existing is not None:
        return None
    task = CoachingTask(key=key, **values)
    try:
        with session.begin_nested():
            session.add(task)
    except IntegrityError:
        return None
    publish(session, "qa.coaching.created", {"task_id": task.id, "agent_id": task.agent_id, "kind": task.kind},
            team_id=task.team_id)
    return task


def on_scored(session: Session, *, evaluation: Evaluation) -> CoachingTask | None:
    """A counted evaluation below the threshold, or auto-failed, asks the team leader to coach."""
    threshold = policy(session).coaching_threshold
    if evaluation.score is None or (evaluation.score >= threshold and not evaluation.auto_failed):
        return None
    return _task(session, key=f"evaluation:{evaluation.id}", kind="evaluation", agent_id=evaluation.agent_id,
                 team_id=evaluation.team_id, evaluation_id=evaluation.id, score=evaluation.score,
                 threshold=threshold, auto_failed=evaluation.auto_failed)


def monthly_coaching(session: Session, *, month: str, start: datetime, end: datetime,
                     team_id: int | None = None) -> int:
    """A task for each agent whose monthly average is below the threshold (idempotent)."""
    threshold = policy(session).coaching_threshold
    created = 0
    averages = stats.agent_averages(session, start, end, team_id=team_id)
    teams = {agent_id: place.team_id for agent_id, place in directory.places_of(session, list(averages)).items()}
    for agent_id, figures in averages.items():
        if figures["average"] is not None and figures["average"] < threshold:
            created += _task(session, key=f"monthly:{month}:{agent_id}", kind="monthly_average", agent_id=agent_id,
                             team_id=teams.get(agent_id), month=month, score=figures["average"],
                             threshold=threshold) is not None
    return created


MAX_PLAN_TEXT, MAX_NOTE = 10_000, 500


def tasks_for(session: Session, *, user: User, status: str | None = "open") -> list[CoachingTask]:
    """Team leaders see their team's tasks, supervisors their site's, the center head all."""
    query = select(CoachingTask).order_by(CoachingTask.created_at, CoachingTask.id)
    if status:
        query = query.where(CoachingTask.status == status)
    if user.role == Role.team_leader.value:
        query = query.where(CoachingTask.team_id == user.team_id)
    elif user.role in (Role.supervisor.value, Role.qa_inspector.value):
        if user.site_id is not None:
            places = directory.team_places().subquery()
            query = query.where(CoachingTask.team_id.in_(select(places.c.team_id)
                                                         .where(places.c.site_id == user.site_id)))
    elif not permissions.allowed(user.role, permissions.CENTER_HEADS):
        raise PermissionDenied("Coaching tasks are for team leaders and their managers.")
    return list(session.scalars(query))


def complete_task(session: Session, *, task_id: int, by: User, note: str = "") -> CoachingTask:
    task = session.get(CoachingTask, task_id)
    if task is None or task not in tasks_for(session, user=by, status=None):
        raise NotFound("No such coaching task of your team.")
    if task.status == "done":
        raise WrongState("This coaching task is already done.")
    if len(note) > 2000:
        raise ValidationFailed("Keep the note under 2000 characters.", field="note")
    task.status, task.done_at, task.done_by_id, task.note = "done", clock.now(), by.id, note.strip() or None
    session.flush()
    return task


# Weekly summary and training plan ------------------------------------------------------------

def _week(team: Team, week_start: date) -> tuple[datetime, datetime]:
    if week_start.weekday() != 0:
        raise ValidationFailed("A week starts on a Monday.", field="week_start")
    zone = ZoneInfo(team.site.timezone)
    start = datetime.combine(week_start, time(0), zone)
    return start, datetime.combine(week_start + timedelta(days=7), time(0), zone)


def weekly_summary(session: Session, *, team_id: int, week_start: date, user: User | None = None) -> dict[str, Any]:
    """The team's week: figures, each question's average, the common problems (questions a large
    share of evaluations fell short on) and the individuals below the threshold."""
    team = access.require_team(session, user=user, team_id=team_id) if user else access.team_of(session, team_id)
    start, end = _week(team, week_start)
    rules = policy(session)
    agents = stats.agent_averages(session, start, end, team_id=team.id)
    questions = stats.question_averages(session, start, end, team_id=team.id)
    by_agent = stats.agent_question_averages(session, start, end, team_id=team.id)
    names = {agent_id: staff.display_name for agent_id, staff in directory.staff_names(session, list(agents)).items()}
    problems = [{"question_code": q["code"], "text_en": q["text_en"], "text_zh": q["text_zh"],
                 "average": q["average"], "below_full_share": q["below_full_share"],
                 "agents_below_full": q["agents_below_full"], "note": ""}
                for q in questions if q["below_full_share"] * 100 >= rules.common_problem_percent]
    individuals = []
    for agent_id, figures in sorted(agents.items(), key=lambda item: item[1]["average"] or 0):
        if figures["average"] is not None and figures["average"] < rules.coaching_threshold:
            weakest = sorted((v, k) for k, v in by_agent.get(agent_id, {}).items() if v is not None)[:2]
            individuals.append({"agent_id": agent_id, "agent_name": names.get(agent_id), "average": figures["average"],
                                "evaluations": figures["evaluations"], "focus": [k for _v, k in weakest]})
    counts = [f["evaluations"] for f in agents.values()]
    total = sum(counts)
    average = round(sum(f["average"] * f["evaluations"] for f in agents.values()) / total, 2) if total else None
    return {"team_id": team.id, "week_start": week_start.isoformat(), "evaluations": total,
            "agents_evaluated": len(agents), "average": average,
            "auto_fails": sum(f["auto_fails"] for f in agents.values()), "threshold": rules.coaching_threshold,
            "questions": questions, "common_problems": problems, "individuals": individuals}


def _editable_plan(session: Session, plan_id: int, by: User) -> TrainingPlan:
    plan = session.get(TrainingPlan, plan_id)
    if plan is None:
        raise NotFound("No such training plan.")
    access.require_team(session, user=by, team_id=plan.team_id, action="edit this team's training plan")
    if by.role not in (Role.qa_inspector.value,) and not permissions.allowed(by.role, permissions.SUPERVISORS):
        raise PermissionDenied("QA inspectors write training plans.")
    return plan


def draft_training_plan(session: Session, *, team_id: int, week_start: date, by: User) -> TrainingPlan:
    """The week's plan, drafted from the summary; a draft is refreshed (the text kept), a
    published plan is returned as it is."""
    summary = weekly_summary(session, team_id=team_id, week_start=week_start, user=by)
    if by.role != Role.qa_inspector.value and not permissions.allowed(by.role, permissions.SUPERVISORS):
        raise PermissionDenied("QA inspectors write training plans.")
    plan = session.scalar(select(TrainingPlan).where(TrainingPlan.team_id == team_id,
                                                     TrainingPlan.week_start == week_start))
    if plan is None:
        plan = TrainingPlan(team_id=team_id, week_start=week_start, author_id=by.id, body="", status="draft")
        session.add(plan)
    if plan.status == "draft":
        plan.summary = {k: v for k, v in summary.items() if k not in ("common_problems", "individuals")}
        plan.common_problems, plan.individuals = summary["common_problems"], summary["individuals"]
    session.flush()
    return plan


def plan_for(session: Session, *, team_id: int, week_start: date, user: User) -> TrainingPlan | None:
    """The team's plan for the week if one was drafted (nothing is created), for reading."""
    team = access.require_team(session, user=user, team_id=team_id, action="read this team's training plan")
    _week(team, week_start)
    return session.scalar(select(TrainingPlan).where(TrainingPlan.team_id == team_id,
                                                     TrainingPlan.week_start == week_start))


def get_plan(session: Session, *, plan_id: int, user: User) -> TrainingPlan:
    plan = session.get(TrainingPlan, plan_id)
    if plan is None:
        raise NotFound("No such training plan.")
    access.require_team(session, user=user, team_id=plan.team_id, action="read this team's training plan")
    return plan


def update_training_plan(session: Session, *, plan_id: int, by: User, body: str | None = None,
                         common_problems: list[dict[str, Any]] | None = None,
                         individuals: list[dict[str, Any]] | None = None) -> TrainingPlan:
    plan = _editable_plan(session, plan_id, by)
    if plan.status != "draft":
        raise WrongState("This training plan is published; it can no longer be edited.")
    errors: list[dict[str, object]] = []
    if body is not None and len(body) > MAX_PLAN_TEXT:
        errors.append({"loc": ["body"], "msg": "Keep the plan under %(limit)s characters.",
                       "params": {"limit": MAX_PLAN_TEXT}})
    for i, problem in enumerate(common_problems or []):
        if not str(problem.get("text_en") or problem.get("text_zh") or problem.get("note") or "").strip():
            errors.append({"loc": ["common_problems", i], "msg": "Each common problem needs a text or a note."})
        elif any(len(str(problem.get(k) or "")) > MAX_NOTE for k in ("text_en", "text_zh", "note")):
            errors.append({"loc": ["common_problems", i], "msg": "Keep each problem under %(limit)s characters.",
                           "params": {"limit": MAX_NOTE}})
    for i, person in enumerate(individuals or []):
        if len(str(person.get("note") or "")) > MAX_NOTE:
            errors.append({"loc": ["individuals", i], "msg": "Keep each note under %(limit)s characters.",
                           "params": {"limit": MAX_NOTE}})
    if errors:
        raise ValidationFailed(errors)
    if body is not None:
        plan.body = body
    if common_problems is not None:
        plan.common_problems = [dict(p) for p in common_problems]
    if individuals is not None:
        plan.individuals = [dict(i) for i in individuals]
    plan.author_id = by.id
    session.flush()
    return plan


def publish_training_plan(session: Session, *, plan_id: int, by: User) -> TrainingPlan:
    plan = _editable_plan(session, plan_id, by)
    if plan.status == "published":
        return plan
    plan.status, plan.published_at = "published", clock.now()
    session.flush()
    publish(session, "qa.training_plan.published", {"plan_id": plan.id, "week_start": plan.week_start.isoformat()},
            team_id=plan.team_id)
    return plan


def briefing_items(session: Session, *, team_id: int, on_date: date, user: User | None = None) -> list[dict[str, Any]]:
    """The common problems to raise at the team's roll-call briefing on `on_date`: those of the
    latest published training plan of the two weeks before (for scheduling and the pages). Given
    a `user`, only for their own team or one whose QA they may read."""
    if user is not None and user.team_id != team_id:
        access.require_team(session, user=user, team_id=team_id, action="read this team's briefing")
    plan = session.scalar(select(TrainingPlan).where(TrainingPlan.team_id == team_id,
                                                     TrainingPlan.status == "published",
                                                     TrainingPlan.week_start <= on_date,
                                                     TrainingPlan.week_start > on_date - timedelta(days=14))
                          .order_by(TrainingPlan.week_start.desc()).limit(1))
    if plan is None:
        return []
    return [{"plan_id": plan.id, "week_start": plan.week_start.isoformat(),
             "question_code": p.get("question_code"), "text_en": p.get("text_en") or "",
             "text_zh": p.get("text_zh") or "", "note": p.get("note") or ""} for p in plan.common_problems]


def describe_plan(plan: TrainingPlan) -> dict[str, Any]:
    return {"id": plan.id, "team_id": plan.team_id, "week_start": plan.week_start.isoformat(), "status": plan.status,
            "summary": plan.summary, "common_problems": plan.common_problems, "individuals": plan.individuals,
            "body": plan.body, "author_id": plan.author_id,
            "published_at": plan.published_at.isoformat() if plan.published_at else None}


def describe_task(task: CoachingTask) -> dict[str, Any]:
    return {"id": task.id, "kind": task.kind, "agent_id": task.agent_id, "team_id": task.team_id,
            "evaluation_id": task.evaluation_id, "month": task.month, "score": task.score,
            "threshold": task.threshold, "auto_failed": task.auto_failed, "status": task.status, "note": task.note,
            "created_at": task.created_at.isoformat(), "done_at": task.done_at.isoformat() if task.done_at else None}


def monthly_due(session: Session) -> int:
    """The sweep's work: coaching tasks for last month's averages below the threshold, per team
    in its site's time zone (idempotent)."""
    from qa.sampling import month_bounds

    created = 0
    now = clock.now()
    for team in list_teams(session):
        first = now.astimezone(ZoneInfo(team.site.timezone)).date().replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        key = f"{previous.year:04d}-{previous.month:02d}"
        start, end = month_bounds(key, team.site.timezone)
        created += monthly_coaching(session, month=key, start=start, end=end, team_id=team.id)
    return created
