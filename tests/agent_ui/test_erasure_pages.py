"""The administrator's erasure on the customer card: unused points refuse an immediate erasure
until the override is ticked (the refusal beside the field, in Chinese too), and giving notice
records a request the card then shows."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.models import Role
from tests.agent_ui.desk import Desk, desk
from tests.factories import cheap_password_hashing, fresh, make_user, signed_in_client
from tickets.models.customers import Customer, CustomerErasure

__all__ = ["cheap_password_hashing", "desk"]


def _admin(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.admin, username="root"))


def test_unused_points_need_the_override(client: TestClient, session: Session, desk: Desk) -> None:
    session.get(Customer, desk.customer.id).points = 300
    session.commit()
    _admin(client, session)
    url = f"/customers/{desk.customer.id}/erase"
    card = client.get(f"/customers/{desk.customer.id}").text
    assert 'id="erase-override-points"' in card and 'id="erase-override-complaint"' not in card
    refused = client.post(url, data={"reason": "legal request", "confirm": "yes", "when": "now"})
    assert refused.status_code == 409 and 'id="erase-overrides-error"' in refused.text
    assert "tick the override" in refused.text
    zh = client.post(url, data={"reason": "legal request", "confirm": "yes"}, headers={"Accept-Language": "zh-CN"})
    assert "请勾选覆盖选项" in zh.text
    done = client.post(url, follow_redirects=False, data={"reason": "legal request", "confirm": "yes", "when": "now",
                                                          "overrides": "unused_points"})
    assert done.status_code == 303
    assert fresh(session).get(Customer, desk.customer.id).is_erased


def test_giving_notice_records_a_request(client: TestClient, session: Session, desk: Desk) -> None:
    _admin(client, session)
    done = client.post(f"/customers/{desk.customer.id}/erase", follow_redirects=False,
                       data={"reason": "member left", "confirm": "yes", "when": "notice"})
    assert done.status_code == 303
    request = fresh(session).query(CustomerErasure).one()
    assert request.status == "pending" and not session.get(Customer, desk.customer.id).is_erased
    card = client.get(f"/customers/{desk.customer.id}").text
    assert 'id="erasure-pending"' in card and "Erasure requested" in card
