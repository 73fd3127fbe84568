"""Asking for a callback authorisation through the API: an agent asks with a reason, the people who
may grant it are told and one grants (with a window) or declines (with a reason), the agent reads
the outcome; the refusals (self-grant, another site's customer or grantor, a lapsed request, a
request already waiting) are clear and audited."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import audit
from core.clock import FrozenClock
from core.models import User
from tests.factories import make_api_token
from tests.tickets.factories_customers import Staff, make_customer, make_ticket_id, staff  # noqa: F401
from tickets import escalation, grant_requests

Call = Callable[..., Any]


@pytest.fixture
def as_user(client: TestClient, session: Session) -> Iterator[Call]:
    tokens: dict[int, str] = {}

    def call(user: User, method: str, url: str, **kwargs: Any) -> Any:
        if user.id not in tokens:
            tokens[user.id] = make_api_token(session, user)
        return client.request(method, url, headers={"Authorization": f"Bearer {tokens[user.id]}"}, **kwargs)

    yield call


def _ask(as_user: Call, who: User, customer_id: int, **extra: Any) -> Any:
    return as_user(who, "POST", "/api/v1/grant-requests",
                   json={"customer_id": customer_id, "reason": "promised to call about the refund", **extra})


def _refusals(session: Session) -> list[tuple[str, str]]:
    return [(e.details_dict["attempted"], e.details_dict["refused"])
            for e in reversed(audit.entries_for(session, action_prefix="grant_request.refused"))]


def test_ask_then_grant_with_a_window_and_the_agent_sees_the_outcome(as_user: Call, session: Session, staff: Staff,
                                                                     clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    ticket_id = make_ticket_id(session, staff=staff, customer=customer)
    asked = _ask(as_user, staff.agent, customer.id, ticket_id=ticket_id)
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["status"] == "pending" and request["ticket_id"] == ticket_id
    # Those who may grant it are told: the site's named manager and supervisor and the center head.
    told = {n.user_id for n in session.query(escalation.Notification).filter_by(kind=grant_requests.KIND_ASKED)}
    assert told == {staff.manager.id, staff.supervisor.id, staff.center_head.id}
    waiting = as_user(staff.supervisor, "GET", "/api/v1/grant-requests").json()["waiting_for_me"]
    assert [r["id"] for r in waiting] == [request["id"]]
    assert as_user(staff.remote_supervisor, "GET", "/api/v1/grant-requests").json()["waiting_for_me"] == []

    granted = as_user(staff.supervisor, "POST", f"/api/v1/grant-requests/{request['id']}/grant",
                      json={"duration_minutes": 60})
    assert granted.status_code == 200, granted.text
    assert granted.json()["status"] == "granted" and granted.json()["grant_id"]
    grant = as_user(staff.agent, "GET", "/api/v1/grants").json()["data"][0]
    assert grant["id"] == granted.json()["grant_id"] and grant["status"] == "live"
    assert datetime.fromisoformat(grant["expires_at"]) == clock.now() + timedelta(minutes=60)
    mine = as_user(staff.agent, "GET", "/api/v1/grant-requests").json()["mine"]
    assert mine[0]["status"] == "granted" and mine[0]["decided_by_name"] == staff.supervisor.username
    assert as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()["access"] == "grant"
    # The grantors' reminders are settled; the agent has one about the outcome.
    unread = escalation.notifications_for(session, staff.center_head.id, unread_only=True)
    assert [n for n in unread if n.kind == grant_requests.KIND_ASKED] == []
    assert [n.kind for n in escalation.notifications_for(session, staff.agent.id, unread_only=True)] == [
        grant_requests.KIND_GRANTED]
    actions = [e.action for e in reversed(audit.entries_for(session, object_type="callback_grant_request",
                                                            object_id=request["id"]))]
    assert actions == ["grant_request.created", "grant_request.granted"]
    # A second answer is refused.
    again = as_user(staff.center_head, "POST", f"/api/v1/grant-requests/{request['id']}/decline",
                    json={"reason": "no"})
    assert again.status_code == 409 and again.json()["code"] == "grant_request_closed"


def test_decline_needs_a_reason_and_the_agent_reads_it(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    request = _ask(as_user, staff.agent, customer.id).json()
    blank = as_user(staff.supervisor, "POST", f"/api/v1/grant-requests/{request['id']}/decline",
                    json={"reason": " "})
    assert blank.status_code == 422
    declined = as_user(staff.supervisor, "POST", f"/api/v1/grant-requests/{request['id']}/decline",
                       json={"reason": "The customer asked not to be called this week."})
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    mine = as_user(staff.agent, "GET", "/api/v1/grant-requests").json()["mine"][0]
    assert mine["decline_reason"] == "The customer asked not to be called this week."
    assert as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()["masked"] is True
    assert audit.entries_for(session, action_prefix="grant_request.declined")[0].actor_id == staff.supervisor.id


def test_nobody_grants_their_own_request(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    request = _ask(as_user, staff.supervisor, customer.id).json()
    own = as_user(staff.supervisor, "POST", f"/api/v1/grant-requests/{request['id']}/grant", json={})
    assert own.status_code == 403 and own.json()["code"] == "grant_self"
    assert as_user(staff.supervisor, "GET", "/api/v1/grant-requests").json()["waiting_for_me"] == []
    assert _refusals(session) == [("grant", "self")]
    # The center head may grant it.
    assert as_user(staff.center_head, "POST", f"/api/v1/grant-requests/{request['id']}/grant",
                   json={}).json()["status"] == "granted"


def test_another_sites_customer_or_grantor_is_refused(as_user: Call, session: Session, staff: Staff) -> None:
    here, there = make_customer(session, site=staff.site), make_customer(session, site=staff.other_site)
    wrong = _ask(as_user, staff.agent, there.id)
    assert wrong.status_code == 403 and wrong.json()["code"] == "grant_other_site"
    request = _ask(as_user, staff.agent, here.id).json()
    remote = as_user(staff.remote_supervisor, "POST", f"/api/v1/grant-requests/{request['id']}/grant", json={})
    assert remote.status_code == 403 and remote.json()["code"] == "grant_not_grantor"
    colleague = as_user(staff.team_leader, "POST", f"/api/v1/grant-requests/{request['id']}/decline",
                        json={"reason": "no"})
    assert colleague.status_code == 403
    assert _refusals(session) == [("ask", "grantee_other_site"), ("grant", "not_grantor"),
                                  ("decline", "not_grantor")]
    # A named site manager of the customer's site may answer, whatever their role.
    assert as_user(staff.manager, "POST", f"/api/v1/grant-requests/{request['id']}/grant",
                   json={"duration_minutes": 30}).json()["status"] == "granted"


def test_a_lapsed_request_cannot_be_granted_and_may_be_asked_again(as_user: Call, session: Session, staff: Staff,
                                                                   clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    request = _ask(as_user, staff.agent, customer.id).json()
    clock.advance(hours=grant_requests.REQUEST_HOURS)
    assert as_user(staff.agent, "GET", "/api/v1/grant-requests").json()["mine"][0]["status"] == "expired"
    late = as_user(staff.supervisor, "POST", f"/api/v1/grant-requests/{request['id']}/grant", json={})
    assert late.status_code == 409 and late.json()["code"] == "grant_request_expired"
    assert _refusals(session) == [("grant", "expired")]
    assert as_user(staff.supervisor, "GET", "/api/v1/grant-requests").json()["waiting_for_me"] == []
    assert _ask(as_user, staff.agent, customer.id).status_code == 201


def test_a_request_already_waiting_or_a_live_grant_refuses_another(as_user: Call, session: Session,
                                                                   staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    request = _ask(as_user, staff.agent, customer.id).json()
    twice = _ask(as_user, staff.agent, customer.id)
    assert twice.status_code == 409 and twice.json()["code"] == "grant_request_duplicate"
    as_user(staff.supervisor, "POST", f"/api/v1/grant-requests/{request['id']}/grant", json={})
    needless = _ask(as_user, staff.agent, customer.id)
    assert needless.status_code == 409 and needless.json()["code"] == "grant_request_needless"
    assert _refusals(session) == [("ask", "duplicate"), ("ask", "already_granted")]


def test_bad_input_and_people_who_make_no_callbacks(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    assert _ask(as_user, staff.agent, customer.id, reason="").status_code == 422
    assert _ask(as_user, staff.agent, 999_999).status_code == 422
    assert _ask(as_user, staff.qa, customer.id).status_code == 403
    assert as_user(staff.supervisor, "POST", "/api/v1/grant-requests/999999/grant", json={}).status_code == 404
    request = _ask(as_user, staff.agent, customer.id).json()
    too_long = as_user(staff.supervisor, "POST", f"/api/v1/grant-requests/{request['id']}/grant",
                       json={"duration_minutes": 25 * 60})
    assert too_long.status_code == 422
    assert as_user(staff.teammate, "POST", f"/api/v1/grant-requests/{request['id']}/withdraw").status_code == 404
    withdrawn = as_user(staff.agent, "POST", f"/api/v1/grant-requests/{request['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
