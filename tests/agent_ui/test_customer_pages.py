"""The customer card page: masked unless the rules allow the details (each full view audited),
aggregate figures for managers, no print or export, and Chinese."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import users
from core.audit import AuditEntry
from tests.agent_ui.desk import Desk, desk, grant_for
from tests.factories import cheap_password_hashing, fresh, signed_in_client

__all__ = ["cheap_password_hashing", "desk"]


def _views(session: Session, customer_id: int) -> int:
    return len(list(fresh(session).scalars(select(AuditEntry).where(
        AuditEntry.action == "customer.viewed", AuditEntry.object_id == str(customer_id)))))


def test_customer_card_needs_sign_in(client: TestClient, desk: Desk) -> None:
    page = client.get(f"/customers/{desk.customer.id}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == f"/signin?next=/customers/{desk.customer.id}"


def test_customer_card_is_refused_to_a_qa_inspector(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.qa)
    assert client.get(f"/customers/{desk.customer.id}").status_code == 403


def test_agent_sees_a_masked_card_without_authorisation(client: TestClient, session: Session, desk: Desk) -> None:
    signed_in_client(client, desk.agent)
    page = client.get(f"/customers/{desk.customer.id}")
    assert page.status_code == 200 and "Details are hidden" in page.text
    assert "Wang Fang" not in page.text and "+8613800138000" not in page.text and "138****8000" in page.text
    assert 'id="customer-figures"' not in page.text
    assert _views(session, desk.customer.id) == 0
    assert client.get("/customers/999999").status_code == 404


def test_agent_with_a_live_grant_sees_the_details_with_a_countdown(client: TestClient, session: Session,
                                                                   desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    grant_for(session, desk, minutes=60)
    signed_in_client(client, desk.agent)
    page = client.get(f"/customers/{desk.customer.id}")
    assert "Wang Fang" in page.text and "+8613800138000" in page.text
    assert 'id="customer-grant-countdown"' in page.text and "a callback authorisation" in page.text
    assert _views(session, desk.customer.id) == 1
    lower = page.text.lower()
    assert "print" not in lower and "export" not in lower and "download" not in lower
    clock.advance(minutes=61)
    after = client.get(f"/customers/{desk.customer.id}")
    assert "Wang Fang" not in after.text and "Details are hidden" in after.text


def test_manager_gets_aggregate_figures(client: TestClient, session: Session, desk: Desk) -> None:
    signed_in_client(client, desk.other_supervisor)  # another site: figures, never details
    page = client.get(f"/customers/{desk.customer.id}")
    assert page.status_code == 200 and 'id="customer-figures"' in page.text and "Wang Fang" not in page.text
    signed_in_client(client, desk.supervisor)  # own site: details too
    own = client.get(f"/customers/{desk.customer.id}")
    assert "Wang Fang" in own.text and "your site" in own.text and 'id="customer-figures"' in own.text


def test_customer_card_in_chinese(client: TestClient, session: Session, desk: Desk) -> None:
    users.set_locale(session, user_id=desk.agent.id, locale="zh_Hans")
    session.commit()
    signed_in_client(client, desk.agent)
    page = client.get(f"/customers/{desk.customer.id}")
    assert '<html lang="zh-Hans">' in page.text and "金卡" in page.text and "Details are hidden" not in page.text
