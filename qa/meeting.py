"""The monthly QA results per agent prepared for the all-staff meeting (held before the 25th, where
scores feed rewards and penalties): each agent's evaluations against their team's minimum, the
average, lowest and auto-fails, the change since the month before, disputes still open (the month
is not final until they are decided), and a standing in the scope. Aggregates only, for
supervisors and above."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import directory, permissions
from core.errors import PermissionDenied
from core.models import Role, User
from qa import reports
from qa.models import Dispute, Evaluation
from qa.sampling import month_bounds, parse_month
from qa.settings import policy, team_minimums

__all__ = ["results"]


def _open_disputes(session: Session, start: Any, end: Any) -> dict[int, int]:
    """Per agent: disputes not yet decided on evaluations of calls in [start, end)."""
    rows = session.execute(select(Evaluation.agent_id, func.count())
                           .join(Dispute, Dispute.evaluation_id == Evaluation.id)
                           .where(Dispute.status == "open", Evaluation.calibration_id.is_(None),
                                  Evaluation.call_started_at >= start, Evaluation.call_started_at < end)
                           .group_by(Evaluation.agent_id))
    return dict(rows.all())


def _standings(rows: list[dict[str, Any]]) -> None:
    """1 for the best average, ties sharing a place (1, 1, 3); agents without an evaluation have none."""
    ranked = sorted((r for r in rows if r["average"] is not None), key=lambda r: -r["average"])
    for index, row in enumerate(ranked):
        same = index and ranked[index - 1]["average"] == row["average"]
        row["standing"] = ranked[index - 1]["standing"] if same else index + 1


def results(session: Session, *, month: str | date, user: User, site_id: int | None = None) -> dict[str, Any]:
    """The month's results for the meeting: a supervisor's site (the whole center for the center
    head and admins unless a site is named), best standing first, the unranked last."""
    if not permissions.allowed(user.role, permissions.SUPERVISORS):
        raise PermissionDenied("The all-staff meeting's results are for supervisors and the center head.")
    if site_id is None and user.role == Role.supervisor.value:
        site_id = user.site_id
    report = reports.monthly_report(session, month=month, user=user, site_id=site_id)
    year, number = parse_month(month)
    start, end = month_bounds(report["month"], report["time_zone"])
    rules = policy(session)
    team_ids = sorted({a["team_id"] for a in report["agents"] if a["team_id"] is not None})
    minimums = team_minimums(session, team_ids=team_ids)
    teams = {team_id: directory.get_team(session, team_id=team_id) for team_id in team_ids}
    disputed = _open_disputes(session, start, end)
    rows = []
    for agent in report["agents"]:
        previous = agent["trend"][-2]["average"] if len(agent["trend"]) > 1 else None
        minimum = minimums.get(agent["team_id"], rules.evaluations_per_agent)
        team = teams.get(agent["team_id"])
        rows.append({
            "agent_id": agent["agent_id"], "agent_name": agent["agent_name"], "team_id": agent["team_id"],
            "team_name": team.name if team else None, "evaluations": agent["evaluations"], "minimum": minimum,
            "met_minimum": agent["evaluations"] >= minimum, "average": agent["average"], "lowest": agent["min"],
            "auto_fails": agent["auto_fails"], "previous": previous,
            "change": round(agent["average"] - previous, 2) if agent["average"] is not None and previous is not None
            else None,
            "below_threshold": agent["average"] is not None and agent["average"] < rules.coaching_threshold,
            "open_disputes": disputed.get(agent["agent_id"], 0), "standing": None})
    _standings(rows)
    rows.sort(key=lambda r: (r["standing"] is None, r["standing"] or 0, r["agent_name"] or "", r["agent_id"]))
    following = (year + 1, 1) if number == 12 else (year, number + 1)
    return {"month": report["month"], "scope": report["scope"], "time_zone": report["time_zone"],
            "meeting_before": date(*following, rules.meeting_day).isoformat(), "threshold": rules.coaching_threshold,
            "average": report["average"], "evaluations": report["evaluations"], "agents": rows,
            "met_minimum": sum(1 for r in rows if r["met_minimum"]),
            "open_disputes": sum(r["open_disputes"] for r in rows),
            "final": not any(r["open_disputes"] for r in rows)}
