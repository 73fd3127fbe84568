"""Weekly summaries and training plans, the briefing items, the monthly report (JSON, CSV, PDF),
the all-staff meeting's results (JSON, CSV), the team leader's analysis report, and coaching tasks."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from core.audit import record as audit
from core.auth import CurrentUser, DbSession, QAUser, TeamLeaderUser
from qa import coaching, export, meeting, reports
from qa.schemas import CoachingDoneIn, QualityReportIn, TrainingPlanEdit, TrainingPlanIn

router = APIRouter()


@router.get("/reports/weekly")
def weekly(team_id: int, week_start: date, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    return coaching.weekly_summary(session, team_id=team_id, week_start=week_start, user=user)


@router.post("/training-plans")
def draft_training_plan(body: TrainingPlanIn, session: DbSession, user: QAUser) -> dict[str, Any]:
    plan = coaching.draft_training_plan(session, team_id=body.team_id, week_start=body.week_start, by=user)
    return coaching.describe_plan(plan)


@router.put("/training-plans/{plan_id}")
def edit_training_plan(plan_id: int, body: TrainingPlanEdit, session: DbSession, user: QAUser) -> dict[str, Any]:
    plan = coaching.update_training_plan(session, plan_id=plan_id, by=user, body=body.body,
                                         common_problems=body.common_problems, individuals=body.individuals)
    return coaching.describe_plan(plan)


@router.post("/training-plans/{plan_id}/publish")
def publish_training_plan(plan_id: int, session: DbSession, user: QAUser) -> dict[str, Any]:
    return coaching.describe_plan(coaching.publish_training_plan(session, plan_id=plan_id, by=user))


@router.get("/briefing")
def briefing(team_id: int, on_date: date, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    found = coaching.briefing_items(session, team_id=team_id, on_date=on_date, user=user)
    return {"data": found, "count": len(found)}


def _monthly(session: Any, user: Any, month: str, team_id: int | None, site_id: int | None) -> dict[str, Any]:
    return reports.monthly_report(session, month=month, user=user, team_id=team_id, site_id=site_id)


@router.get("/reports/monthly")
def monthly(month: str, session: DbSession, user: CurrentUser, team_id: int | None = None,
            site_id: int | None = None) -> dict[str, Any]:
    return _monthly(session, user, month, team_id, site_id)


def _exported(session: Any, user: Any, report: dict[str, Any], kind: str) -> None:
    audit(session, action="qa.report.exported", actor_id=user.id, actor_name=user.username, object_type="qa_report",
          object_id=report["scope"], details={"month": report["month"], "format": kind})


@router.get("/reports/monthly.csv")
def monthly_csv(month: str, session: DbSession, user: CurrentUser, team_id: int | None = None,
                site_id: int | None = None) -> Response:
    report = _monthly(session, user, month, team_id, site_id)
    _exported(session, user, report, "csv")
    name = f"qa-{report['scope'].replace(':', '-')}-{report['month']}.csv"
    return Response(export.monthly_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/reports/monthly.pdf")
def monthly_pdf(month: str, session: DbSession, user: CurrentUser, team_id: int | None = None,
                site_id: int | None = None) -> Response:
    report = _monthly(session, user, month, team_id, site_id)
    _exported(session, user, report, "pdf")
    name = f"qa-{report['scope'].replace(':', '-')}-{report['month']}.pdf"
    return Response(export.monthly_pdf(report), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/reports/meeting")
def meeting_results(month: str, session: DbSession, user: CurrentUser, site_id: int | None = None) -> dict[str, Any]:
    """The month's QA results per agent for the all-staff meeting (supervisors and above)."""
    return meeting.results(session, month=month, user=user, site_id=site_id)


@router.get("/reports/meeting.csv")
def meeting_csv(month: str, session: DbSession, user: CurrentUser, site_id: int | None = None) -> Response:
    results = meeting.results(session, month=month, user=user, site_id=site_id)
    _exported(session, user, results, "meeting_csv")
    name = f"qa-meeting-{results['scope'].replace(':', '-')}-{results['month']}.csv"
    return Response(export.meeting_csv(results), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.put("/reports/quality")
def save_quality_report(body: QualityReportIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    report = reports.save_quality_report(session, team_id=body.team_id, month=body.month, analysis=body.analysis,
                                         user=user)
    return reports.describe_quality_report(report)


@router.post("/reports/quality/submit")
def submit_quality_report(body: QualityReportIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    if body.analysis:
        reports.save_quality_report(session, team_id=body.team_id, month=body.month, analysis=body.analysis, user=user)
    return reports.describe_quality_report(reports.submit_quality_report(session, team_id=body.team_id,
                                                                         month=body.month, user=user))


@router.get("/coaching")
def coaching_tasks(session: DbSession, user: TeamLeaderUser, status: str | None = "open") -> dict[str, Any]:
    found = coaching.tasks_for(session, user=user, status=status)
    return {"data": [coaching.describe_task(t) for t in found], "count": len(found)}


@router.post("/coaching/{task_id}/done")
def coaching_done(task_id: int, body: CoachingDoneIn, session: DbSession, user: TeamLeaderUser) -> dict[str, Any]:
    return coaching.describe_task(coaching.complete_task(session, task_id=task_id, by=user, note=body.note))
