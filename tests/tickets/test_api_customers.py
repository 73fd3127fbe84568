"""The customers and grants API through the real app: 401 without a token, roles in the
signature (403), object rules from the services (masked cards), 404, 409 and 422 with field
locations, and the happy paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import audit
from core.clock import FrozenClock
from core.config import Settings
from core.models import User
from tests.factories import make_api_token
from tests.tickets.factories_customers import Staff, make_customer, next_phone, staff  # noqa: F401


Call = Callable[..., Any]


@pytest.fixture
def as_user(client: TestClient, session: Session) -> Iterator[Call]:
    """`as_user(user, "GET", url, ...)`: a request with the user's personal API token."""
    tokens: dict[int, str] = {}

    def call(user: User, method: str, url: str, **kwargs: Any) -> Any:
        if user.id not in tokens:
            tokens[user.id] = make_api_token(session, user)
        headers = {"Authorization": f"Bearer {tokens[user.id]}", **kwargs.pop("headers", {})}
        return client.request(method, url, headers=headers, **kwargs)

    yield call


def _new_customer(**extra: Any) -> dict[str, Any]:
    return {"name": "Wang Li", "phones": [{"number": next_phone()}], "consent_method": "phone", **extra}


# GET /api/v1/customers ----------------------------------------------------------------------


def test_list_customers_needs_sign_in(client: TestClient, staff: Staff) -> None:
    assert client.get("/api/v1/customers").status_code == 401


def test_list_customers_gives_an_agent_only_their_own(as_user: Call, session: Session, staff: Staff) -> None:
    """The finding: agents listed every site's customers (masked) through the API, while the
    customers page shows them only their own. The API now follows the page, and gives no figures."""
    make_customer(session, site=staff.site, owner=staff.agent, name="Wang Li", phones=["138 0013 7000"])
    make_customer(session, site=staff.site, owner=staff.teammate)
    make_customer(session, site=staff.other_site, tier="gold")
    response = as_user(staff.agent, "GET", "/api/v1/customers")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and "aggregates" not in body
    assert [card["display_name"] for card in body["data"]] == ["W. L."] and body["data"][0]["masked"]
    assert body["data"][0]["phones"][0]["number"] == "+86 138****7000"
    assert as_user(staff.agent, "GET", f"/api/v1/customers?site_id={staff.other_site.id}").status_code == 403


def test_list_customers_gives_managers_their_site_and_the_center_head_every_site(
        as_user: Call, session: Session, staff: Staff) -> None:
    make_customer(session, site=staff.site, owner=staff.agent)
    make_customer(session, site=staff.other_site, tier="gold")
    for manager in (staff.team_leader, staff.supervisor, staff.manager):
        body = as_user(manager, "GET", "/api/v1/customers").json()
        assert body["count"] == 1 and all(card["masked"] for card in body["data"])
        assert as_user(manager, "GET", f"/api/v1/customers?site_id={staff.other_site.id}").status_code == 403
    assert as_user(staff.center_head, "GET", "/api/v1/customers").json()["count"] == 2
    filtered = as_user(staff.center_head, "GET", f"/api/v1/customers?site_id={staff.site.id}&tier=normal").json()
    assert filtered["count"] == 1


def test_customer_aggregates_are_for_managers_and_qa(as_user: Call, session: Session, staff: Staff) -> None:
    make_customer(session, site=staff.site, owner=staff.agent)
    make_customer(session, site=staff.other_site, tier="gold")
    assert as_user(staff.agent, "GET", "/api/v1/customers/aggregates").status_code == 403
    head = as_user(staff.center_head, "GET", "/api/v1/customers/aggregates").json()
    assert head["total"] == 2 and head["by_tier"]["gold"] == 1
    for person in (staff.team_leader, staff.qa):
        mine = as_user(person, "GET", "/api/v1/customers/aggregates").json()
        assert mine == {"total": 1, "by_tier": {**dict.fromkeys(head["by_tier"], 0), "normal": 1},
                        "by_site": {str(staff.site.id): 1}}
        other = as_user(person, "GET", f"/api/v1/customers/aggregates?site_id={staff.other_site.id}")
        assert other.status_code == 403


def test_list_customers_by_qa_is_forbidden(as_user: Call, staff: Staff) -> None:
    assert as_user(staff.qa, "GET", "/api/v1/customers").status_code == 403


# GET /api/v1/customers/{id} -----------------------------------------------------------------


def test_get_customer_own_is_full_and_audited(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, email="w@example.com")
    body = as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()
    assert body["masked"] is False and body["access"] == "ownership" and body["email"] == "w@example.com"
    entry = audit.entries_for(session, object_type="customer", object_id=customer.id,
                              action_prefix="customer.viewed")[0]
    assert entry.actor_id == staff.agent.id and entry.source_ip == "testclient"


def test_get_customer_someone_elses_is_masked_and_not_audited(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.teammate, email="w@example.com")
    body = as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()
    assert body["masked"] is True and body["email"] is None and "****" in body["phones"][0]["number"]
    assert audit.entries_for(session, object_type="customer", object_id=customer.id,
                             action_prefix="customer.viewed") == []


def test_get_customer_only_from_a_registered_workstation_behind_the_proxy(
        as_user: Call, session: Session, staff: Staff, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "trusted_proxies", ["testclient"])
    monkeypatch.setattr(settings, "workstation_networks", ["10.20.0.0/16"])
    customer = make_customer(session, site=staff.site, owner=staff.agent, email="w@example.com")
    url = f"/api/v1/customers/{customer.id}"
    inside = as_user(staff.agent, "GET", url, headers={"X-Forwarded-For": "10.20.4.4"}).json()
    assert inside["masked"] is False and inside["email"] == "w@example.com"
    # A client cannot claim a workstation's address: only the proxy's last untrusted hop counts.
    outside = as_user(staff.agent, "GET", url, headers={"X-Forwarded-For": "10.20.4.4, 203.0.113.8"}).json()
    assert outside["masked"] is True and outside["email"] is None
    refused = audit.entries_for(session, object_type="customer", object_id=customer.id,
                                action_prefix="customer.view_refused")
    assert [e.source_ip for e in refused] == ["203.0.113.8"]
    changed = as_user(staff.agent, "PATCH", url, json={"email": "x@example.com", "requested_by_customer": True},
                      headers={"X-Forwarded-For": "203.0.113.8"})
    assert changed.status_code == 403 and "registered workstation" in changed.text


def test_get_customer_not_found(as_user: Call, staff: Staff) -> None:
    assert as_user(staff.agent, "GET", "/api/v1/customers/999999").status_code == 404


# POST /api/v1/customers/lookup --------------------------------------------------------------


def test_lookup_customer_by_phone(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, phones=["138 0013 7100"])
    body = as_user(staff.agent, "POST", "/api/v1/customers/lookup", json={"phone": "+86 138 0013 7100"}).json()
    assert body["id"] == customer.id and body["phones"][0]["number"] == "+8613800137100"
    masked = as_user(staff.team_leader, "POST", "/api/v1/customers/lookup", json={"phone": "13800137100"}).json()
    assert masked["masked"] is True and masked["phones"][0]["number"] == "+86 138****7100"


def test_lookup_finds_only_customers_the_caller_may_see(as_user: Call, session: Session, staff: Staff) -> None:
    """The finding: an agent found any site's customer by number. Someone else's customer now
    reads the same as an unknown number, unless the agent may see them (a call, a grant)."""
    make_customer(session, site=staff.other_site, phones=["138 0013 7110"])
    theirs = make_customer(session, site=staff.site, owner=staff.teammate, phones=["138 0013 7111"])
    for number in ("13800137110", "13800137111"):
        response = as_user(staff.agent, "POST", "/api/v1/customers/lookup", json={"phone": number})
        assert response.status_code == 404 and "7110" not in response.text and "7111" not in response.text
    assert as_user(staff.remote_leader, "POST", "/api/v1/customers/lookup",
                   json={"phone": "13800137111"}).status_code == 404
    assert as_user(staff.center_head, "POST", "/api/v1/customers/lookup",
                   json={"phone": "13800137111"}).json()["masked"] is True
    granted = as_user(staff.supervisor, "POST", "/api/v1/grants", json={
        "customer_id": theirs.id, "agent_id": staff.agent.id, "reason": "complaint callback"})
    assert granted.status_code == 201
    found = as_user(staff.agent, "POST", "/api/v1/customers/lookup", json={"phone": "13800137111"}).json()
    assert found["id"] == theirs.id and found["access"] == "grant"


def test_lookup_with_the_number_in_the_address_is_refused(as_user: Call, session: Session, staff: Staff) -> None:
    make_customer(session, site=staff.site, owner=staff.agent, phones=["138 0013 7120"])
    response = as_user(staff.agent, "GET", "/api/v1/customers/lookup", params={"phone": "+8613800137120"})
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert "JSON body" in response.json()["detail"] and "7120" not in response.text


def test_lookup_customer_malformed_phone(as_user: Call, staff: Staff) -> None:
    response = as_user(staff.agent, "POST", "/api/v1/customers/lookup", json={"phone": "12x"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["phone"]
    empty = as_user(staff.agent, "POST", "/api/v1/customers/lookup", json={})
    assert empty.status_code == 422 and empty.json()["errors"][0]["loc"] == ["body", "phone"]


def test_lookup_customer_unknown_phone_not_found(as_user: Call, staff: Staff) -> None:
    response = as_user(staff.agent, "POST", "/api/v1/customers/lookup", json={"phone": "138 0013 7199"})
    assert response.status_code == 404


# POST / PATCH ------------------------------------------------------------------------------


def test_create_customer(as_user: Call, staff: Staff) -> None:
    response = as_user(staff.agent, "POST", "/api/v1/customers", json=_new_customer(birthday="1990-01-02"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["masked"] is False and body["owning_agent_id"] == staff.agent.id and body["birthday"] == "1990-01-02"


def test_create_customer_invalid_fields_have_locations(as_user: Call, staff: Staff) -> None:
    response = as_user(staff.agent, "POST", "/api/v1/customers",
                       json=_new_customer(phones=[{"number": "123"}], email="x"))
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("phones", 0, "number"), ("email",)}
    schema = as_user(staff.agent, "POST", "/api/v1/customers", json={"name": "Li", "tier": "diamond"})
    assert schema.status_code == 422
    assert {tuple(e["loc"]) for e in schema.json()["errors"]} >= {("body", "phones"), ("body", "tier")}


def test_create_customer_taken_phone_conflicts(as_user: Call, session: Session, staff: Staff) -> None:
    make_customer(session, site=staff.site, phones=["138 0013 7200"])
    response = as_user(staff.agent, "POST", "/api/v1/customers", json=_new_customer(phones=[{"number": "13800137200"}]))
    assert response.status_code == 409 and "7200" not in response.text


def test_update_customer_keeps_history(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent)
    response = as_user(staff.agent, "PATCH", f"/api/v1/customers/{customer.id}",
                       json={"address": "2 New Road", "requested_by_customer": True})
    assert response.status_code == 200 and response.json()["address"] == "2 New Road"
    refused = as_user(staff.teammate, "PATCH", f"/api/v1/customers/{customer.id}",
                      json={"address": "x", "reason": "test"})
    assert refused.status_code == 403
    no_reason = as_user(staff.agent, "PATCH", f"/api/v1/customers/{customer.id}", json={"address": "3 Road"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["loc"] == ["reason"]



def test_customer_history_lists_changes_without_values_for_those_who_see_details(
        as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, address="1 Old Road")
    as_user(staff.agent, "PATCH", f"/api/v1/customers/{customer.id}",
            json={"address": "2 New Road", "requested_by_customer": True})
    as_user(staff.agent, "PATCH", f"/api/v1/customers/{customer.id}",
            json={"email": "w@example.com", "reason": "Customer wrote in"})
    body = as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}/history").json()
    assert body["count"] == 2 and [c["fields"] for c in body["data"]] == [["address"], ["email"]]
    assert body["data"][0]["requested_by_customer"] is True and body["data"][1]["reason"] == "Customer wrote in"
    assert "Old Road" not in str(body) and body["data"][0]["changed_by_name"] == staff.agent.username
    assert audit.entries_for(session, object_type="customer", object_id=customer.id,
                             action_prefix="customer.history_viewed")[0].actor_id == staff.agent.id
    refused = as_user(staff.teammate, "GET", f"/api/v1/customers/{customer.id}/history")
    assert refused.status_code == 403
    assert as_user(staff.agent, "GET", "/api/v1/customers/999999/history").status_code == 404


# POST /api/v1/customers/{id}/erase --------------------------------------------------------------


def test_erase_customer_is_for_admins_and_the_phone_is_forgotten(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, phones=["138 0013 7300"])
    url = f"/api/v1/customers/{customer.id}/erase"
    assert as_user(staff.supervisor, "POST", url, json={"reason": "left"}).status_code == 403
    response = as_user(staff.admin, "POST", url, json={"reason": "member left"})
    assert response.status_code == 200 and response.json()["erased"] is True
    lookup = as_user(staff.agent, "POST", "/api/v1/customers/lookup", json={"phone": "13800137300"})
    assert lookup.status_code == 404
    assert as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()["masked"] is True


def test_erase_is_refused_for_unused_points_until_overridden(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, points=500)
    url = f"/api/v1/customers/{customer.id}/erase"
    refused = as_user(staff.admin, "POST", url, json={"reason": "legal request"})
    assert refused.status_code == 409 and refused.json()["code"] == "erasure_refused"
    bad = as_user(staff.admin, "POST", url, json={"reason": "legal request", "overrides": ["all"]})
    assert bad.status_code == 422
    done = as_user(staff.admin, "POST", url, json={"reason": "legal request", "overrides": ["unused_points"]})
    assert done.status_code == 200 and done.json()["erased"] is True


# POST /api/v1/customers/{id}/erasure-request ------------------------------------------------------


def test_erasure_request_gives_notice_and_is_for_admins(as_user: Call, session: Session, staff: Staff,
                                                         clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site, consent=("service", "care_sms"))
    url = f"/api/v1/customers/{customer.id}/erasure-request"
    assert as_user(staff.supervisor, "POST", url, json={"reason": "member left"}).status_code == 403
    assert as_user(staff.admin, "POST", url, json={"reason": ""}).status_code == 422
    created = as_user(staff.admin, "POST", url, json={"reason": "member left"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "pending" and body["notice_sent"] is True
    assert body["due_at"].startswith((clock.now() + timedelta(days=30)).date().isoformat())
    assert as_user(staff.admin, "POST", "/api/v1/customers/999999/erasure-request",
                   json={"reason": "member left"}).status_code == 404


def test_quiet_customers_for_team_leaders(as_user: Call, session: Session, staff: Staff, clock: FrozenClock) -> None:
    make_customer(session, site=staff.site)
    clock.advance(days=91)
    assert as_user(staff.agent, "GET", "/api/v1/customers/quiet").status_code == 403
    body = as_user(staff.team_leader, "GET", "/api/v1/customers/quiet?days=90").json()
    assert body["count"] == 1 and body["data"][0]["card"]["masked"] is True
    other = as_user(staff.team_leader, "GET", f"/api/v1/customers/quiet?days=90&site_id={staff.other_site.id}")
    assert other.status_code == 403


# Grants ------------------------------------------------------------------------------------------


def _grant_body(staff: Staff, customer_id: int, **extra: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "agent_id": staff.agent.id, "reason": "complaint callback", **extra}


def test_create_grant_then_agent_sees_details_until_expiry(as_user: Call, session: Session, staff: Staff,
                                                          clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    response = as_user(staff.supervisor, "POST", "/api/v1/grants", json=_grant_body(staff, customer.id))
    assert response.status_code == 201 and response.json()["status"] == "live"
    assert as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()["access"] == "grant"
    clock.advance(hours=2)
    assert as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()["masked"] is True
    mine = as_user(staff.agent, "GET", "/api/v1/grants").json()
    assert mine["count"] == 1 and mine["data"][0]["status"] == "expired"


def test_create_grant_by_an_agent_is_forbidden(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    response = as_user(staff.agent, "POST", "/api/v1/grants", json=_grant_body(staff, customer.id))
    assert response.status_code == 403


def test_managers_cannot_grant_themselves(as_user: Call, session: Session, staff: Staff) -> None:
    """The finding: a team leader granted himself a customer of the other site and read the full
    card; a supervisor did the same for another site's customer, and a center head with no site."""
    here, there = make_customer(session, site=staff.site), make_customer(session, site=staff.other_site)
    for person, customer in ((staff.team_leader, there), (staff.supervisor, there), (staff.center_head, here)):
        response = as_user(person, "POST", "/api/v1/grants", json=_grant_body(staff, customer.id, agent_id=person.id))
        assert response.status_code == 403 and response.json()["code"] == "grant_self"
        card = as_user(person, "GET", f"/api/v1/customers/{customer.id}").json()
        assert card["masked"] is True and card["address"] is None and card["email"] is None
    refusals = audit.entries_for(session, action_prefix="grant.refused")
    assert [(e.actor_id, e.details_dict["refused"]) for e in reversed(refusals)] == [
        (staff.team_leader.id, "self"), (staff.supervisor.id, "self"), (staff.center_head.id, "self")]


def test_a_supervisor_cannot_grant_a_customer_of_another_site(as_user: Call, session: Session, staff: Staff) -> None:
    """The finding: a supervisor granted an agent of site 1 access to a customer of site 2."""
    there = make_customer(session, site=staff.other_site)
    response = as_user(staff.supervisor, "POST", "/api/v1/grants", json=_grant_body(staff, there.id))
    assert response.status_code == 403 and response.json()["code"] == "grant_other_site"
    assert as_user(staff.agent, "GET", f"/api/v1/customers/{there.id}").json()["masked"] is True
    remote = as_user(staff.supervisor, "POST", "/api/v1/grants",
                     json=_grant_body(staff, there.id, agent_id=staff.remote_agent.id))
    assert remote.status_code == 403 and remote.json()["code"] == "grant_not_grantor"
    assert [e.details_dict["refused"] for e in audit.entries_for(session, action_prefix="grant.refused")] == [
        "not_grantor", "grantee_other_site"]


def test_a_grant_extended_again_and_again_ends_within_the_maximum(as_user: Call, session: Session, staff: Staff,
                                                                  clock: FrozenClock) -> None:
    """The finding: one grant extended three times lived 93 h."""
    customer = make_customer(session, site=staff.site)
    grant = as_user(staff.supervisor, "POST", "/api/v1/grants",
                    json=_grant_body(staff, customer.id, duration_minutes=24 * 60)).json()
    statuses = []
    for _ in range(3):
        clock.advance(hours=23)
        response = as_user(staff.supervisor, "POST", f"/api/v1/grants/{grant['id']}/extend",
                           json={"duration_minutes": 24 * 60})
        statuses.append(response.status_code)
        if response.status_code == 422:
            assert response.json()["errors"][0]["loc"] == ["duration_minutes"]
            clock.advance(minutes=59)
            assert as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()["access"] == "grant"
            clock.advance(minutes=1)
            assert as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()["masked"] is True
            clock.advance(hours=-1)
    assert statuses == [422, 409, 409]  # too long; then the grant has ended
    assert as_user(staff.agent, "GET", f"/api/v1/customers/{customer.id}").json()["masked"] is True
    assert [e.details_dict["refused"] for e in audit.entries_for(session, action_prefix="grant.refused")] == [
        "too_long"]


def test_create_grant_too_long_and_overlapping(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    too_long = as_user(staff.supervisor, "POST", "/api/v1/grants",
                       json=_grant_body(staff, customer.id, duration_minutes=25 * 60))
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["loc"] == ["duration_minutes"]
    assert as_user(staff.supervisor, "POST", "/api/v1/grants", json=_grant_body(staff, customer.id)).status_code == 201
    overlap = as_user(staff.supervisor, "POST", "/api/v1/grants", json=_grant_body(staff, customer.id))
    assert overlap.status_code == 409 and overlap.json()["code"] == "grant_overlap"


def test_extend_and_revoke_grant(as_user: Call, session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    grant = as_user(staff.supervisor, "POST", "/api/v1/grants", json=_grant_body(staff, customer.id)).json()
    extended = as_user(staff.manager, "POST", f"/api/v1/grants/{grant['id']}/extend",
                       json={"duration_minutes": 240})
    assert extended.status_code == 200 and extended.json()["expires_at"] > grant["expires_at"]
    assert as_user(staff.agent, "POST", f"/api/v1/grants/{grant['id']}/revoke").status_code == 403
    revoked = as_user(staff.supervisor, "POST", f"/api/v1/grants/{grant['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert as_user(staff.supervisor, "POST", "/api/v1/grants/999999/revoke").status_code == 404
