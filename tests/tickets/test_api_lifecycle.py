"""The lifecycle API through the real app: purchases from the till (idempotent by the source's
id, and in bulk from a CSV with a report per row), points redeemed with a reason, the tier
preview, and satisfaction follow-ups recorded with an outcome and a score."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.models import User
from tests.factories import fresh, make_api_token
from tests.tickets.factories_customers import Staff, make_customer, staff  # noqa: F401
from tickets import care
from tickets import service as ticket_service
from tickets.models.customers import Customer

Call = Callable[..., Any]


@pytest.fixture
def as_user(client: TestClient, session: Session) -> Iterator[Call]:
    tokens: dict[int, str] = {}

    def call(user: User, method: str, url: str, **kwargs: Any) -> Any:
        if user.id not in tokens:
            tokens[user.id] = make_api_token(session, user)
        headers = {"Authorization": f"Bearer {tokens[user.id]}", **kwargs.pop("headers", {})}
        return client.request(method, url, headers=headers, **kwargs)

    yield call


def test_add_purchase_needs_an_admin_token(client: TestClient, as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    url = f"/api/v1/customers/{customer.id}/purchases"
    assert client.post(url, json={"source_id": "t-1", "amount_cents": 100}).status_code == 401
    assert as_user(staff.supervisor, "POST", url, json={"source_id": "t-1", "amount_cents": 100}).status_code == 403


def test_add_purchase_is_idempotent_by_source_id_and_earns_points(as_user: Call, session: Session,
                                                                  staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    url = f"/api/v1/customers/{customer.id}/purchases"
    first = as_user(staff.admin, "POST", url, json={"source_id": "till-7-1", "amount_cents": 125_50})
    assert first.status_code == 201, first.text
    assert first.json() == {"customer_id": customer.id, "source_id": "till-7-1", "created": True, "points": 125,
                            "tier": "normal", "spend_cents": 12550}
    again = as_user(staff.admin, "POST", url, json={"source_id": "till-7-1", "amount_cents": 125_50})
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["points"] == 125


def test_add_purchase_bad_input(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    other = make_customer(session, site=staff.site)
    url = f"/api/v1/customers/{customer.id}/purchases"
    bad = as_user(staff.admin, "POST", url, json={"source_id": "x", "amount_cents": -1})
    assert bad.status_code == 422
    naive = as_user(staff.admin, "POST", url, json={"source_id": "x", "amount_cents": 1, "at": "2026-01-05T10:00:00"})
    assert naive.status_code == 422 and "offset" in naive.text
    missing = as_user(staff.admin, "POST", "/api/v1/customers/999999/purchases", json={"source_id": "x",
                                                                                       "amount_cents": 1})
    assert missing.status_code == 422
    assert as_user(staff.admin, "POST", url, json={"source_id": "dup", "amount_cents": 1}).status_code == 201
    elsewhere = as_user(staff.admin, "POST", f"/api/v1/customers/{other.id}/purchases",
                        json={"source_id": "dup", "amount_cents": 1})
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "purchase_elsewhere"


def test_import_purchases_reports_each_bad_row_and_repeats_add_nothing(as_user: Call, session: Session,
                                                                       staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    body = ("customer_id,source_id,amount_cents,at\n"
            f"{customer.id},b-1,10000,2026-01-05T10:00:00+08:00\n"
            f"{customer.id},b-2,ten,\n"
            f"abc,b-3,100,\n"
            f"{customer.id},b-4,5000,\n")
    response = as_user(staff.admin, "POST", "/api/v1/customers/purchases/import", content=body.encode(),
                       headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["added"], report["repeated"]) == (2, 0)
    assert [(r["line"], r["field"]) for r in report["rejected"]] == [(3, "amount_cents"), (4, "customer_id")]
    again = as_user(staff.admin, "POST", "/api/v1/customers/purchases/import", content=body.encode(),
                    headers={"Content-Type": "text/csv"}).json()
    assert (again["added"], again["repeated"]) == (0, 2)
    fresh(session)
    assert session.get(Customer, customer.id).spend_cents == 15_000
    no_header = as_user(staff.admin, "POST", "/api/v1/customers/purchases/import", content=b"a,b\n1,2\n",
                        headers={"Content-Type": "text/csv"})
    assert no_header.status_code == 422 and "customer_id" in no_header.text


def test_redeem_points_by_whoever_serves_the_customer(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, points=300)
    url = f"/api/v1/customers/{customer.id}/points/redeem"
    assert as_user(staff.teammate, "POST", url, json={"points": 10, "reason": "gift"}).status_code == 403
    assert as_user(staff.agent, "POST", url, json={"points": 10, "reason": ""}).status_code == 422
    too_many = as_user(staff.agent, "POST", url, json={"points": 1000, "reason": "gift"})
    assert too_many.status_code == 422 and "300" in too_many.text
    done = as_user(staff.agent, "POST", url, json={"points": 100, "reason": "voucher"})
    assert done.status_code == 200 and done.json() == {"customer_id": customer.id, "points": 200}


def test_tier_preview_for_admins(as_user: Call, session: Session, staff: Staff) -> None:
    make_customer(session, site=staff.site, tier="gold")
    assert as_user(staff.supervisor, "GET", "/api/v1/tiers/preview").status_code == 403
    response = as_user(staff.admin, "GET", "/api/v1/tiers/preview")
    assert response.status_code == 200
    # Set during the running period: nobody would move at its end.
    assert response.json() == {"data": [], "count": 0}


def test_followup_outcome_and_score_through_the_api(as_user: Call, session: Session, staff: Staff, clock) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent)
    ticket = ticket_service.open_ticket(session, category="complaint", by=staff.agent, customer_id=customer.id)
    followup = care.schedule_satisfaction_followup(session, ticket_id=ticket.id, customer_id=customer.id,
                                                   due_at=clock.now())
    session.commit()
    listed = as_user(staff.agent, "GET", "/api/v1/followups").json()
    assert [f["id"] for f in listed["data"]] == [followup.id]
    url = f"/api/v1/followups/{followup.id}/complete"
    assert as_user(staff.outsider, "POST", url, json={"satisfaction": 4}).status_code == 404
    assert as_user(staff.agent, "POST", url, json={"outcome": "reached"}).status_code == 422
    assert as_user(staff.agent, "POST", url, json={"satisfaction": 6}).status_code == 422
    done = as_user(staff.agent, "POST", url, json={"outcome": "reached", "satisfaction": 4, "note": "ok now"})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["satisfaction"], done.json()["outcome"]) == ("done", 4, "reached")
    assert as_user(staff.agent, "GET", "/api/v1/followups").json()["count"] == 0
    assert as_user(staff.agent, "GET", "/api/v1/followups?status=done").json()["count"] == 1
