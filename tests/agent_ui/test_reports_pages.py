"""The reports hub (`/reports`): the reports each role may read, the call figures of a period
(tables, the charts' JSON and the CSV download, audited) from calls made through the carrier
simulator, refusals beside their fields, and the monthly complaint analysis. Aggregates only."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.audit import entries_for
from core.models import Role
from tests.agent_ui.desk import CALLER, Desk, desk
from tests.agent_ui.test_calls_pages import STRANGER, Made, made
from tests.factories import cheap_password_hashing, fresh, make_user, signed_in_client
from tests.telephony.hub import eager_tasks, sim
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing", "desk", "eager_tasks", "made", "sim"]

HX = {"HX-Request": "true"}
JANUARY = {"from": "2026-01-01", "to": "2026-01-05"}


def _no_customer(text: str) -> None:
    for number in (CALLER, STRANGER):
        assert number not in text and number.lstrip("+")[2:] not in text
    assert "Wang Fang" not in text


def test_reports_are_for_qa_and_team_leaders_up(client: TestClient, desk: Desk) -> None:
    assert client.get("/reports", follow_redirects=False).headers["location"] == "/signin?next=/reports"
    signed_in_client(client, desk.agent)
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/calls.json").status_code == 403
    assert client.get("/reports/calls.csv").status_code == 403
    assert client.get("/reports/complaints").status_code == 403
    assert 'href="/reports"' not in client.get("/").text


def test_each_role_sees_the_reports_it_may_read(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.qa)
    page = client.get("/reports")
    assert page.status_code == 200 and 'href="/reports"' in page.text
    links = set(re.findall(r'id="report-link-([a-z_]+)"', page.text))
    assert {"qa_monthly", "qa_coverage"} <= links and not links & {"complaints", "duty_weekly", "calls"}
    assert client.get("/reports/complaints").status_code == 403  # the analysis is for team leaders and up
    signed_in_client(client, desk.team_leader)
    links = set(re.findall(r'id="report-link-([a-z_]+)"', client.get("/reports").text))
    assert {"complaints", "qa_monthly", "qa_coverage", "duty_weekly", "calls"} <= links


def test_the_figures_of_the_site(client: TestClient, desk: Desk, made: Made) -> None:
    signed_in_client(client, desk.supervisor)
    page = client.get("/reports", params=JANUARY)
    assert page.status_code == 200
    totals = page.text[page.text.index('id="report-totals"'):]
    # Four calls today: three answered (one after 40 s of waiting), one abandoned.
    assert '<dd id="total-calls">4</dd>' in totals and '<dd id="total-answered">3</dd>' in totals
    assert '<dd id="total-abandoned">1</dd>' in totals and '<dd id="total-service-level">50%</dd>' in totals
    assert '<dd id="total-abandonment">25%</dd>' in totals
    teams = page.text[page.text.index('id="report-teams"'):]
    assert "Hotline A" in teams
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", page.text) == []
    assert not re.search(r"\son[a-z]+=|style=", page.text)
    assert 'src="/static/js/reports-charts.js"' in page.text
    _no_customer(page.text)

    chart = re.search(r'data-reports-charts="([^"]+)"', page.text)
    assert chart
    data = client.get(chart.group(1).replace("&amp;", "&")).json()
    assert data["labels"][-1] == "2026-01-05" and len(data["labels"]) == 5
    assert data["answered"][-1] == 3 and data["abandoned"][-1] == 1 and data["service_level"][-1] == 50.0
    assert data["teams"][0] == "Hotline A" and data["team_answered"][0] == 2
    _no_customer(str(data))

    weekly = client.get("/reports/calls.json", params={**JANUARY, "by": "week"}).json()
    assert weekly["labels"] == ["2025-12-29", "2026-01-05"] and weekly["answered"] == [0, 3]


def test_the_csv_of_the_figures(client: TestClient, session: Session, desk: Desk, made: Made) -> None:
    signed_in_client(client, desk.supervisor)
    page = client.get("/reports", params=JANUARY)
    link = re.search(r'id="download-csv" href="([^"]+)"', page.text)
    assert link
    download = client.get(link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text.lstrip("\ufeff"))))
    by_kind = {(r["row"], r["period_start"], r["team"]): r for r in rows}
    total = by_kind[("total", "2026-01-01", "")]
    assert (total["calls"], total["answered"], total["abandoned"], total["service_level"]) == ("4", "3", "1", "50.0")
    assert by_kind[("day", "2026-01-05", "")]["answered"] == "3"
    assert by_kind[("team", "2026-01-01", "Hotline A")]["answered"] == "2"
    _no_customer(download.text)
    exported = entries_for(fresh(session), action_prefix="report.calls.exported")
    assert len(exported) == 1 and exported[0].actor_id == desk.supervisor.id


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-02-30"}, "from"),
    ({"to": "someday"}, "to"),
    ({"from": "2026-01-05", "to": "2026-01-01"}, "to"),
    ({"from": "2020-01-01", "to": "2026-01-05"}, "to"),
    ({"by": "month"}, "by"),
    ({"site": "999"}, "site"),
    ({"site": "x"}, "site"),
])
def test_bad_periods_are_explained_beside_their_field(client: TestClient, desk: Desk, params: dict[str, str],
                                                      field: str) -> None:
    signed_in_client(client, desk.supervisor)
    page = client.get("/reports", params=params)
    assert page.status_code == 422 and f'id="period-{field}-error"' in page.text
    assert client.get("/reports/calls.json", params=params).status_code == 422
    refused = client.get("/reports/calls.csv", params=params)
    assert refused.status_code == 422 and "text/html" in refused.headers["content-type"]
    partial = client.get("/reports", params=params, headers=HX)
    assert partial.status_code == 422 and "<html" not in partial.text and f'id="period-{field}-error"' in partial.text


def test_a_supervisor_reads_only_their_site_the_center_head_any(client: TestClient, session: Session,
                                                                 desk: Desk, made: Made) -> None:
    signed_in_client(client, desk.supervisor)
    other = client.get("/reports", params={**JANUARY, "site": desk.other_site.id})
    assert other.status_code == 422 and 'id="period-site-error"' in other.text
    assert 'id="period-site"' not in client.get("/reports").text  # no site to choose
    head = make_user(session, role=Role.center_head, username="head")
    signed_in_client(client, head)
    center = client.get("/reports", params=JANUARY)
    assert 'id="period-site"' in center.text and '<dd id="total-calls">4</dd>' in center.text
    far = client.get("/reports", params={**JANUARY, "site": desk.other_site.id})
    assert far.status_code == 200 and '<dd id="total-calls">0</dd>' in far.text


def test_the_monthly_complaint_analysis(client: TestClient, session: Session, desk: Desk) -> None:
    for category in ("complaint", "complaint", "inquiry"):
        ticket_service.open_ticket(session, category=category, by=desk.agent, customer_id=desk.customer.id)  # type: ignore[arg-type]
    session.commit()
    signed_in_client(client, desk.team_leader)
    page = client.get("/reports/complaints", params={"month": "2026-01"})
    assert page.status_code == 200 and '<dd id="complaint-count">2</dd>' in page.text
    assert "Xuhui Store" in page.text and "Tickets by category" in page.text
    _no_customer(page.text)
    assert 'id="complaints-site"' not in page.text
    bad = client.get("/reports/complaints", params={"month": "January"})
    assert bad.status_code == 422 and 'id="month-error"' in bad.text
    far = client.get("/reports/complaints", params={"month": "2026-01", "site": desk.other_site.id})
    assert far.status_code == 422 and 'id="site-error"' in far.text
    empty = client.get("/reports/complaints", params={"month": "2025-12"})
    assert empty.status_code == 200 and '<dd id="complaint-count">0</dd>' in empty.text


def test_reports_in_simplified_chinese(client: TestClient, session: Session, desk: Desk, made: Made) -> None:
    desk.supervisor.locale = "zh_Hans"
    session.commit()
    signed_in_client(client, desk.supervisor)
    page = client.get("/reports", params=JANUARY)
    for text in ("报表", "话务数据", "服务水平", "放弃率", "平均处理时长", "下载数据（CSV）", "月度投诉分析"):
        assert text in page.text, text
    refused = client.get("/reports", params={"by": "month"})
    assert refused.status_code == 422 and "请选择按日或按周" in refused.text
    analysis = client.get("/reports/complaints")
    assert "按类别统计的工单" in analysis.text
