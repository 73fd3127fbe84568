"""The monthly report (per agent average, trend, by question), its CSV and PDF exports (aggregates
only), and the team leader's analysis report due by the 22nd of the following month."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from core.errors import PermissionDenied, ValidationFailed
from qa import export, reports, scorecards
from qa.errors import WrongState
from tests.qa.conftest import evaluate, make_ticket

JAN = datetime(2026, 1, 12, 2, tzinfo=UTC)
DEC = datetime(2025, 12, 10, 2, tzinfo=UTC)


@pytest.fixture
def month(session, world):  # type: ignore[no-untyped-def]
    scorecards.seed_default(session)
    first, second, _third = world.agents
    evaluate(session, by=world.inspector, agent=first, started_at=DEC, courtesy=1)  # 81.25
    evaluate(session, by=world.inspector, agent=first, started_at=JAN)  # 100
    evaluate(session, by=world.inspector, agent=first, started_at=JAN + timedelta(days=3), tone_pace=3)  # 92.5
    evaluate(session, by=world.inspector, agent=second, started_at=JAN, no_rudeness=0)  # 0, auto-fail
    evaluate(session, by=world.inspector, agent=world.other_agent, started_at=JAN, summarise_need=3)  # 90
    return world


def test_team_monthly_report(session, month) -> None:  # type: ignore[no-untyped-def]
    world = month
    first, second, third = world.agents
    report = reports.monthly_report(session, month="2026-01", user=world.leader, team_id=world.team.id)
    rows = {a["agent_id"]: a for a in report["agents"]}
    assert set(rows) == {first.id, second.id, third.id}
    assert (rows[first.id]["evaluations"], rows[first.id]["average"], rows[first.id]["min"]) == (2, 96.25, 92.5)
    assert rows[second.id]["auto_fails"] == 1 and rows[second.id]["average"] == 0.0
    assert rows[third.id]["evaluations"] == 0 and rows[third.id]["average"] is None
    trend = {t["month"]: t["average"] for t in rows[first.id]["trend"]}
    assert len(trend) == 6 and trend["2025-12"] == 81.25 and trend["2026-01"] == 96.25 and trend["2025-08"] is None
    assert rows[first.id]["by_question"]["tone_pace"] == 75.0 and rows[first.id]["by_question"]["courtesy"] == 100.0
    assert report["evaluations"] == 3 and report["average"] == round((100 + 92.5 + 0) / 3, 2)
    assert report["below_threshold"] == [second.id]
    assert report["distribution"]["0-60"] == 1 and report["distribution"]["90-100"] == 1
    assert [t["average"] for t in report["trend"]][-2:] == [81.25, 64.17]
    assert report["quality_report"] == {"status": "missing", "due_on": "2026-02-22"}


def test_scopes_are_checked(session, month) -> None:  # type: ignore[no-untyped-def]
    world = month
    with pytest.raises(PermissionDenied):
        reports.monthly_report(session, month="2026-01", user=world.other_leader, team_id=world.team.id)
    with pytest.raises(PermissionDenied):
        reports.monthly_report(session, month="2026-01", user=world.leader)
    with pytest.raises(PermissionDenied):
        reports.monthly_report(session, month="2026-01", user=world.far_inspector, site_id=world.site.id)
    site = reports.monthly_report(session, month="2026-01", user=world.supervisor, site_id=world.site.id)
    assert site["evaluations"] == 4 and world.other_agent.id in {a["agent_id"] for a in site["agents"]}
    everyone = reports.monthly_report(session, month="2026-01", user=world.head)
    assert everyone["scope"] == "center" and everyone["evaluations"] == 4
    with pytest.raises(ValidationFailed):
        reports.monthly_report(session, month="January", user=world.head)


def test_csv_and_pdf_hold_aggregates_only(session, month) -> None:  # type: ignore[no-untyped-def]
    world = month
    ticket = make_ticket(session, site=world.site, category="complaint", subject="Mrs Wang's refund")
    evaluate(session, by=world.inspector, agent=world.agents[2], started_at=JAN)
    world.agents[2].display_name = "=HYPERLINK(\"x\")"
    session.commit()
    report = reports.monthly_report(session, month="2026-01", user=world.supervisor, team_id=world.team.id)
    text = export.monthly_csv(report)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 4 and rows[-1]["agent_name"] == "TOTAL"
    header = rows[0].keys()
    assert "question_courtesy" in header and "trend_2025-12" in header
    assert not any("ticket" in column or "recording" in column or "call" in column for column in header)
    assert ticket.number not in text and "Wang" not in text
    assert any(r["agent_name"].startswith("'=") for r in rows)  # a formula is neutralised
    pdf = export.monthly_pdf(report)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000


def test_the_team_leaders_analysis_report(session, month, clock) -> None:  # type: ignore[no-untyped-def]
    world = month
    with pytest.raises(PermissionDenied):
        reports.quality_report(session, team_id=world.team.id, month="2026-01", user=world.other_leader)
    with pytest.raises(PermissionDenied):
        reports.quality_report(session, team_id=world.team.id, month="2026-01", user=world.inspector)
    draft = reports.quality_report(session, team_id=world.team.id, month="2026-01", user=world.leader)
    assert draft.due_on == date(2026, 2, 22) and draft.status == "draft"
    with pytest.raises(ValidationFailed):
        reports.submit_quality_report(session, team_id=world.team.id, month="2026-01", user=world.leader)
    reports.save_quality_report(session, team_id=world.team.id, month="2026-01", user=world.leader,
                                analysis="Agent 2's failure: retraining booked.")
    clock.set(datetime(2026, 2, 20, 9, tzinfo=UTC))
    submitted = reports.submit_quality_report(session, team_id=world.team.id, month="2026-01", user=world.leader)
    assert reports.describe_quality_report(submitted)["late"] is False
    with pytest.raises(WrongState):
        reports.save_quality_report(session, team_id=world.team.id, month="2026-01", user=world.leader, analysis="x")
    report = reports.monthly_report(session, month="2026-01", user=world.leader, team_id=world.team.id)
    assert report["quality_report"]["status"] == "submitted"
    late = reports.quality_report(session, team_id=world.team.id, month="2025-12", user=world.leader)
    assert late.due_on == date(2026, 1, 22) and reports.describe_quality_report(late)["late"] is True


def test_an_overlong_analysis_is_refused(session, month) -> None:  # type: ignore[no-untyped-def]
    world = month
    with pytest.raises(ValidationFailed) as refused:
        reports.save_quality_report(session, team_id=world.team.id, month="2026-01", user=world.leader,
                                    analysis="x" * (reports.MAX_ANALYSIS + 1))
    assert refused.value.field == "analysis"


def test_a_site_report_counts_the_agents_of_its_teams(session, month) -> None:  # type: ignore[no-untyped-def]
    world = month
    report = reports.monthly_report(session, month="2026-01", user=world.supervisor, site_id=world.site.id)
    listed = {a["agent_id"] for a in report["agents"]}
    assert {a.id for a in world.agents} | {world.other_agent.id} == listed  # both teams; not the far site's
    with pytest.raises(PermissionDenied):  # an unknown site reads as one you may not read
        reports.monthly_report(session, month="2026-01", user=world.supervisor, site_id=999_999)
