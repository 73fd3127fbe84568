"""The customer lifecycle's pages: the administrator's settings (assessment period, points rule,
quiet days), tier thresholds, the preview of who would move, and holiday greetings; the points
and follow-up forms where agents work. English and Simplified Chinese; refusals beside fields."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import clock
from core.models import Role, User
from tests.factories import cheap_password_hashing, fresh, make_site, make_user, signed_in_client
from tests.tickets.factories_customers import make_customer
from tickets import care, sla, tiers

__all__ = ["cheap_password_hashing"]


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role=Role.admin, display_name="Ada Admin")


def post(client: TestClient, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(path, data=data, follow_redirects=False)


def test_settings_and_thresholds_are_saved(client: TestClient, session: Session, admin: User) -> None:
    browser = signed_in_client(client, admin)
    page = browser.get("/admin/lifecycle")
    assert page.status_code == 200 and "Customers and tiers" in page.text and "Nobody would change tier." in page.text
    saved = post(browser, "/admin/lifecycle/settings", {"tier_assessment_months": "12", "points_per_yuan": "2",
                                                        "quiet_customer_days": "60"})
    assert saved.status_code == 303
    fresh(session)
    assert [sla.get_setting(session, k) for k in ("tier_assessment_months", "points_per_yuan",
                                                  "quiet_customer_days")] == [12, 2, 60]
    form = {f"{t.tier}-{part}": "1" for t in tiers.thresholds(session) for part in ("spend", "frequency", "points")}
    form["silver-spend"] = "800"
    assert post(browser, "/admin/lifecycle/thresholds", form).status_code == 303
    silver = next(t for t in tiers.thresholds(fresh(session)) if t.tier == "silver")
    assert (silver.min_spend_cents, silver.min_frequency, silver.min_points) == (80_000, 1, 1)
    assert "The tier thresholds were saved" in browser.get("/admin/lifecycle").text


def test_bad_settings_are_refused_beside_the_field(client: TestClient, session: Session, admin: User) -> None:
    browser = signed_in_client(client, admin)
    page = post(browser, "/admin/lifecycle/settings", {"tier_assessment_months": "6", "points_per_yuan": "x",
                                                       "quiet_customer_days": "0"})
    assert page.status_code == 422
    assert 'id="tier_assessment_months-error"' in page.text and 'id="points_per_yuan-error"' in page.text
    assert 'id="quiet_customer_days-error"' in page.text and "Choose quarterly or yearly." in page.text
    assert sla.get_setting(fresh(session), "tier_assessment_months") == 3


def test_the_preview_shows_who_would_move(client: TestClient, session: Session, admin: User) -> None:
    site = make_site(session)
    make_customer(session, site=site, tier="gold")
    clock.get_clock().advance(timedelta(days=200))  # the gold tier has held a whole period since
    browser = signed_in_client(client, admin)
    page = browser.get("/admin/lifecycle").text
    assert 'id="tier-preview"' in page and "Gold" in page and "Nobody would change tier." not in page


def test_greeting_days_in_chinese(client: TestClient, session: Session) -> None:
    admin = make_user(session, role=Role.admin, locale="zh_Hans")
    browser = signed_in_client(client, admin)
    day = (clock.now().date() + timedelta(days=30)).isoformat()
    assert post(browser, "/admin/lifecycle/greetings", {"on_date": day, "name": "春节",
                                                        "body": "新春快乐！"}).status_code == 303
    page = browser.get("/admin/lifecycle").text
    assert "春节" in page and "节日问候" in page
    refused = post(browser, "/admin/lifecycle/greetings", {"on_date": day, "name": "again", "body": "x"})
    assert refused.status_code == 409 and 'id="on_date-error"' in refused.text
    bad = post(browser, "/admin/lifecycle/greetings", {"on_date": "soon", "name": "", "body": ""})
    assert bad.status_code == 422 and 'id="on_date-error"' in bad.text
    [greeting] = care.list_greeting_days(fresh(session))
    assert post(browser, "/admin/lifecycle/greetings/remove", {"greeting_day_id": str(greeting.id)}).status_code == 303
    assert care.list_greeting_days(fresh(session)) == []


def test_only_admins(client: TestClient, session: Session) -> None:
    browser = signed_in_client(client, make_user(session, role=Role.supervisor))
    assert browser.get("/admin/lifecycle").status_code == 403


# Where agents work -------------------------------------------------------------------------------

def _agent_and_complaint(session: Session, *, tier: str = "gold"):  # type: ignore[no-untyped-def]
    from tickets import service as ticket_service

    site = make_site(session)
    agent = make_user(session, role=Role.agent, site=site, locale="en")
    customer = make_customer(session, site=site, owner=agent, tier=tier, points=500)
    ticket = ticket_service.open_ticket(session, category="complaint", by=agent, customer_id=customer.id)
    session.commit()
    return agent, customer, ticket


def test_phone_followup_and_satisfaction_from_the_ticket(client: TestClient, session: Session) -> None:
    from tickets import service as ticket_service

    agent, customer, ticket = _agent_and_complaint(session)
    browser = signed_in_client(client, agent)
    page = browser.get(f"/tickets/{ticket.id}").text
    assert 'id="phone-followup-form"' in page
    assert post(browser, f"/tickets/{ticket.id}/phone-followup", {"version": str(ticket.version)}).status_code == 303
    page = browser.get(f"/tickets/{ticket.id}").text
    assert 'id="phone-followup-form"' not in page and "made" in page
    ticket = fresh(session).get(type(ticket), ticket.id)
    ticket_service.transition(session, ticket_id=ticket.id, by=agent, to="resolved", resolution="refunded")
    session.commit()
    page = browser.get(f"/tickets/{ticket.id}").text
    assert 'id="satisfaction-form"' in page
    refused = post(browser, f"/tickets/{ticket.id}/satisfaction", {"outcome": "reached", "satisfaction": ""})
    assert refused.status_code == 422 and 'id="satisfaction-score-error"' in refused.text
    assert post(browser, f"/tickets/{ticket.id}/satisfaction", {"outcome": "reached", "satisfaction": "2",
                                                                "note": "still upset"}).status_code == 303
    page = browser.get(f"/tickets/{ticket.id}").text
    assert 'id="satisfaction-result"' in page and "satisfaction 2 of 5" in page
    followup = care.followup_of_ticket(fresh(session), ticket_id=ticket.id)
    assert (followup.status, followup.satisfaction, followup.outcome) == ("done", 2, "reached")


def test_points_redeemed_on_the_card(client: TestClient, session: Session) -> None:
    agent, customer, _ = _agent_and_complaint(session)
    browser = signed_in_client(client, agent)
    assert 'id="points-form"' in browser.get(f"/customers/{customer.id}").text
    too_many = post(browser, f"/customers/{customer.id}/points/redeem", {"points": "900", "reason": "gift"})
    assert too_many.status_code == 422 and "does not have that many points" in too_many.text
    no_reason = post(browser, f"/customers/{customer.id}/points/redeem", {"points": "10", "reason": ""})
    assert no_reason.status_code == 422 and 'id="redeem-reason-error"' in no_reason.text
    assert post(browser, f"/customers/{customer.id}/points/redeem", {"points": "200",
                                                                      "reason": "voucher"}).status_code == 303
    assert fresh(session).get(type(customer), customer.id).points == 300
    stranger = make_user(session, role=Role.agent, site=make_site(session))
    other = signed_in_client(client, stranger)
    assert post(other, f"/customers/{customer.id}/points/redeem", {"points": "1", "reason": "x"}).status_code == 403


def test_customer_report_page_and_csv(client: TestClient, session: Session) -> None:
    site = make_site(session)
    leader = make_user(session, role=Role.team_leader, site=site)
    make_customer(session, site=site, tier="gold")
    browser = signed_in_client(client, leader)
    month = clock.now().strftime("%Y-%m")
    page = browser.get(f"/reports/customers?month={month}")
    assert page.status_code == 200 and 'id="figure-customers">1<' in page.text and "<svg" in page.text
    assert 'href="/reports/customers"' in browser.get("/reports").text
    csv_text = browser.get(f"/reports/customers.csv?month={month}")
    assert csv_text.status_code == 200 and "members,customers,1" in csv_text.text
    bad = browser.get("/reports/customers?month=soon")
    assert bad.status_code == 422 and 'id="month-error"' in bad.text
    agent = signed_in_client(client, make_user(session, role=Role.agent, site=site))
    assert agent.get("/reports/customers").status_code == 403


def test_customer_report_in_chinese(client: TestClient, session: Session) -> None:
    site = make_site(session)
    browser = signed_in_client(client, make_user(session, role=Role.supervisor, site=site, locale="zh_Hans"))
    page = browser.get("/reports/customers").text
    assert "客户流失率" in page and "首次联系解决率" in page


# A purchase file's import (in the background, with its progress): tests/agent_ui/test_long_work_pages.py
