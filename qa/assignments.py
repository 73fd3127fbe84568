"""What sampling produced, for people: the inspector's queue with due dates, a plan's picks for
audit (random or targeted, and why), and the supervisor's coverage (evaluated / planned per agent,
with the agents still below the team's minimum flagged late in the month)."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import clock, directory
from core.errors import ValidationFailed
from core.models import Role, User
from qa import access
from qa.models import Assignment, Evaluation, SamplingPlan
from qa.sampling import month_bounds, parse_month
from qa.settings import policy, team_minimum

__all__ = ["assignments", "coverage", "describe_assignment", "queue"]


def coverage(session: Session, *, team_id: int, month: str | date, user: User) -> dict[str, Any]:
    """Per agent of the team: planned picks (random and targeted) against counted evaluations
    submitted for calls of the month."""
    team = access.require_team(session, user=user, team_id=team_id, action="see this team's coverage")
    year, number = parse_month(month)
    key = f"{year:04d}-{number:02d}"
    start, end = month_bounds(key, team.site.timezone)
    plan = session.scalar(select(SamplingPlan).where(SamplingPlan.team_id == team.id, SamplingPlan.month == key))
    planned: dict[int, dict[str, int]] = {}
    if plan is not None:
        for agent_id, kind, status, n in session.execute(
                select(Assignment.agent_id, Assignment.kind, Assignment.status, func.count())
                .where(Assignment.plan_id == plan.id).group_by(Assignment.agent_id, Assignment.kind,
                                                               Assignment.status)):
            row = planned.setdefault(agent_id, {"random": 0, "targeted": 0, "done": 0})
            row[kind] += n
            row["done"] += n if status == "done" else 0
    evaluated = dict(session.execute(
        select(Evaluation.agent_id, func.count()).where(Evaluation.team_id == team.id,
                                                        Evaluation.calibration_id.is_(None),
                                                        Evaluation.status != "draft",
                                                        Evaluation.call_started_at >= start,
                                                        Evaluation.call_started_at < end)
        .group_by(Evaluation.agent_id)).all())
    agents = directory.list_users(session, team_id=team.id, role=Role.agent, active_only=False)
    minimum = plan.per_agent if plan else team_minimum(session, team_id=team.id)
    flagging = _flagging(session, year, number, team.site.timezone)
    rows: list[dict[str, Any]] = []
    for agent in agents:
        p = planned.get(agent.id, {"random": 0, "targeted": 0, "done": 0})
        total = p["random"] + p["targeted"]
        done = evaluated.get(agent.id, 0)
        rows.append({"agent_id": agent.id, "agent_name": agent.display_name, "planned": total,
                     "random": p["random"], "targeted": p["targeted"], "assignments_done": p["done"],
                     "evaluated": done, "coverage": round(done / total, 4) if total else None,
                     "below_minimum": flagging and agent.is_active and done < minimum})
    planned_total = sum(r["planned"] for r in rows)
    evaluated_total = sum(r["evaluated"] for r in rows)
    return {"team_id": team.id, "month": key, "plan_id": plan.id if plan else None, "seed": plan.seed if plan else None,
            "target_per_agent": minimum, "minimum": minimum, "flagging": flagging,
            "flag_from_day": policy(session).flag_below_minimum_from_day,
            "agents": rows, "planned": planned_total, "evaluated": evaluated_total,
            "below_minimum": sum(1 for r in rows if r["below_minimum"]),
            "coverage": round(evaluated_total / planned_total, 4) if planned_total else None}


def _flagging(session: Session, year: int, number: int, zone: str) -> bool:
    """Agents below the minimum are flagged late in the month (from `flag_below_minimum_from_day`,
    the site's calendar) and for every month gone by."""
    today = clock.now().astimezone(ZoneInfo(zone)).date()
    if (today.year, today.month) != (year, number):
        return (today.year, today.month) > (year, number)
    return today.day >= policy(session).flag_below_minimum_from_day


def queue(session: Session, *, user: User, include_unassigned: bool = True, limit: int = 200) -> list[dict[str, Any]]:
    """The inspector's open assignments by due date, then unassigned ones of their site or team."""
    today = clock.now().date()
    query = select(Assignment).where(Assignment.status == "open")
    mine = Assignment.inspector_id == user.id
    if include_unassigned:
        places = directory.team_places().subquery()
        teams = select(places.c.team_id).where(or_(places.c.site_id == user.site_id,
                                                   places.c.team_id == user.team_id))
        query = query.where(mine | (Assignment.inspector_id.is_(None) & Assignment.team_id.in_(teams)))
    else:
        query = query.where(mine)
    found = list(session.scalars(query.order_by(Assignment.due_on, Assignment.id).limit(max(1, min(limit, 1000)))))
    # A supervisor may score a recording the plan gave an inspector: the row says who is scoring
    # it, and only its author is offered to continue a draft (drafts are their author's).
    scored_by = dict(session.execute(select(Evaluation.id, Evaluation.inspector_id).where(
        Evaluation.id.in_([a.evaluation_id for a in found if a.evaluation_id is not None]))).all())
    return [{**describe_assignment(a, today=today),
             "scored_by": scored_by.get(a.evaluation_id) if a.evaluation_id is not None else None} for a in found]


def describe_assignment(assignment: Assignment, *, today: date | None = None) -> dict[str, Any]:
    today = today or clock.now().date()
    return {"id": assignment.id, "plan_id": assignment.plan_id, "team_id": assignment.team_id,
            "agent_id": assignment.agent_id, "recording_id": assignment.recording_id, "call_id": assignment.call_id,
            "inspector_id": assignment.inspector_id, "week": assignment.week + 1, "kind": assignment.kind,
            "reason": assignment.reason, "rank": assignment.rank, "due_on": assignment.due_on.isoformat(),
            "overdue": assignment.status == "open" and assignment.due_on < today, "status": assignment.status,
            "evaluation_id": assignment.evaluation_id}


def assignments(session: Session, *, plan_id: int, user: User) -> list[Assignment]:
    """A plan's picks, for audit: each marked random or targeted with its reason."""
    plan = session.get(SamplingPlan, plan_id)
    if plan is None:
        raise ValidationFailed("No such sampling plan.", field="plan_id")
    access.require_team(session, user=user, team_id=plan.team_id, action="see this team's sampling")
    return list(session.scalars(select(Assignment).where(Assignment.plan_id == plan_id)
                                .order_by(Assignment.agent_id, Assignment.kind, Assignment.rank)))
