"""The tickets JSON API, endpoint by endpoint: 401, 403/404, 409, 422 with field locations, and
the happy path, over API tokens and (once) a browser session."""

from __future__ import annotations

from typing import Any

import pytest

from core.models import Role
from tests.factories import make_api_token, make_user, signed_in_client
from tests.tickets.factories_tickets import World, make_ticket, world  # noqa: F401

API = "/api/v1/tickets"


@pytest.fixture
def as_user(client, session):  # type: ignore[no-untyped-def]
    """Headers for a user's API token."""
    def headers(user: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_api_token(session, user)}"}
    return headers


def test_list_needs_authentication(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(API)
    assert response.status_code == 401 and response.json()["code"]


def test_create_ticket(client, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    response = client.post(API, headers=as_user(world.agent), json={
        "category": "complaint", "subject": "Broken kettle", "description": "Bought on Monday",
        "caller_phone": "138 0013 8000", "tags": ["product"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"] == "HL-2026-000001" and body["version"] == 1
    assert (body["status"], body["priority"], body["source"], body["assignee_id"]) == (
        "new", "high", "api", world.agent.id)
    assert body["tags"] == ["product"] and body["reply_due_at"] is not None and body["sla_state"] == "ok"
    assert "caller_phone" not in body and "caller_index" not in body


def test_create_unknown_category_and_priority_is_422_with_locations(client, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    response = client.post(API, headers=as_user(world.agent), json={"category": "praise", "priority": "asap"})
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("body", "category"), ("body", "priority")}


def test_create_with_unknown_field_or_bad_phone_is_422(client, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    headers = as_user(world.agent)
    response = client.post(API, headers=headers, json={"category": "inquiry", "status": "closed"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "status"]
    response = client.post(API, headers=headers, json={"category": "inquiry", "caller_phone": "abc"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "caller_phone"]


def test_qa_inspector_cannot_create(client, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    response = client.post(API, headers=as_user(world.qa), json={"category": "inquiry"})
    assert response.status_code == 403


def test_get_ticket_and_by_number(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent)
    headers = as_user(world.teammate)
    assert client.get(f"{API}/{ticket.id}", headers=headers).json()["number"] == ticket.number
    assert client.get(f"{API}/by-number/{ticket.number}", headers=headers).json()["id"] == ticket.id


def test_get_ticket_of_another_team_is_404(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent)
    response = client.get(f"{API}/{ticket.id}", headers=as_user(world.other_agent))
    assert response.status_code == 404
    assert client.get(f"{API}/999999", headers=as_user(world.head)).status_code == 404


def test_list_with_filters(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    make_ticket(session, by=world.agent, category="complaint")
    make_ticket(session, by=world.agent)
    make_ticket(session, by=world.other_agent)
    headers = as_user(world.agent)
    body = client.get(API, headers=headers, params={"category": "complaint"}).json()
    assert body["count"] == 1 and [t["category"] for t in body["data"]] == ["complaint"]
    body = client.get(API, headers=headers, params={"status": ["new", "open"], "limit": 1}).json()
    assert body["count"] == 2 and len(body["data"]) == 1 and body["next_cursor"]
    rest = client.get(API, headers=headers, params={"status": ["new", "open"], "cursor": body["next_cursor"]}).json()
    assert len(rest["data"]) == 1 and rest["data"][0]["id"] != body["data"][0]["id"]
    response = client.get(API, headers=headers, params={"status": "archived", "sla_state": "late"})
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("query", "status", 0), ("query", "sla_state")}


def test_patch_with_version_and_stale_version_is_409(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent)
    headers = as_user(world.agent)
    response = client.patch(f"{API}/{ticket.id}", headers=headers, json={"version": 1, "priority": "urgent"})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2 and response.json()["priority"] == "urgent"
    stale = client.patch(f"{API}/{ticket.id}", headers=as_user(world.teammate), json={"version": 1, "priority": "low"})
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    missing = client.patch(f"{API}/{ticket.id}", headers=headers, json={"priority": "low"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["loc"] == ["body", "version"]
    bad = client.patch(f"{API}/{ticket.id}", headers=headers, json={"version": 2, "priority": "whenever"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "priority"]


def test_transition_endpoint(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent)
    headers = as_user(world.agent)
    opened = client.post(f"{API}/{ticket.id}/transition", headers=headers, json={"to": "open", "version": 1})
    assert opened.status_code == 200 and opened.json()["status"] == "open"
    refused = client.post(f"{API}/{ticket.id}/transition", headers=headers, json={"to": "closed"})
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    assert refused.json()["params"]["current"] == "open" and "resolved" in refused.json()["params"]["allowed"]
    unresolved = client.post(f"{API}/{ticket.id}/transition", headers=headers, json={"to": "resolved"})
    assert unresolved.status_code == 422 and unresolved.json()["errors"][0]["loc"] == ["resolution"]
    done = client.post(f"{API}/{ticket.id}/transition", headers=headers, json={"to": "resolved", "resolution": "Fixed"})
    assert done.status_code == 200 and done.json()["resolution"] == "Fixed"


def test_notes_endpoints(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent)
    created = client.post(f"{API}/{ticket.id}/notes", headers=as_user(world.agent), json={"body": "Called back"})
    assert created.status_code == 201 and created.json()["body"] == "Called back"
    assert [n["body"] for n in client.get(f"{API}/{ticket.id}/notes", headers=as_user(world.leader)).json()] == [
        "Called back"]
    assert client.post(f"{API}/{ticket.id}/notes", headers=as_user(world.agent), json={"body": ""}).status_code == 422
    other = client.post(f"{API}/{ticket.id}/notes", headers=as_user(world.other_agent), json={"body": "x"})
    assert other.status_code == 404


def test_escalate_endpoint(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent)
    headers = as_user(world.agent)
    skipped = client.post(f"{API}/{ticket.id}/escalate", headers=headers,
                          json={"reason": "Angry", "to_level": "supervisor"})
    assert skipped.status_code == 422 and skipped.json()["errors"][0]["loc"] == ["to_level"]
    urgent = client.post(f"{API}/{ticket.id}/escalate", headers=headers,
                         json={"reason": "Threat", "to_level": "supervisor", "urgent": True})
    assert urgent.status_code == 200 and urgent.json()["escalation_level"] == 2
    leader_notes = client.get("/api/v1/notifications", headers=as_user(world.leader)).json()
    assert [n["kind"] for n in leader_notes["data"]] == ["escalation_skipped"]
    read = client.post(f"/api/v1/notifications/{leader_notes['data'][0]['id']}/read", headers=as_user(world.leader))
    assert read.status_code == 200 and read.json()["read_at"]


def test_hand_to_team_leader_endpoint(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent)
    response = client.post(f"{API}/{ticket.id}/hand-to-team-leader", headers=as_user(world.agent),
                           json={"reason": "Insults"})
    assert response.status_code == 200 and response.json()["tags"] == ["abusive_caller"]


def test_timeline_endpoint(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent, description="secret details")
    headers = as_user(world.agent)
    client.patch(f"{API}/{ticket.id}", headers=headers, json={"version": 1, "description": "new secret"})
    body = client.get(f"{API}/{ticket.id}/timeline", headers=headers).json()
    assert [e["kind"] for e in body["data"]] == ["opened", "field_changed"] and body["count"] == 2
    assert "secret" not in str(body)
    assert client.get(f"{API}/{ticket.id}/timeline", headers=as_user(world.far_agent)).status_code == 404


def test_complaint_reply_and_analysis(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(session, by=world.agent, category="complaint")
    reply = client.post(f"{API}/{ticket.id}/complaint-reply", headers=as_user(world.agent), json={"channel": "phone"})
    assert reply.status_code == 200 and reply.json()["replied_at"]
    assert client.get("/api/v1/complaints/analysis", headers=as_user(world.agent),
                      params={"month": "2026-01"}).status_code == 403
    report = client.get("/api/v1/complaints/analysis", headers=as_user(world.leader),
                        params={"month": "2026-01", "site_id": world.site.id})
    assert report.status_code == 200 and report.json()["complaints"] == 1
    assert client.get("/api/v1/complaints/analysis", headers=as_user(world.leader),
                      params={"month": "Jan"}).status_code == 422


def test_session_cookie_works_with_csrf(client, session, world: World) -> None:  # type: ignore[no-untyped-def]
    signed_in_client(client, world.agent)
    response = client.post(API, json={"category": "suggestion", "subject": "Longer hours"})
    assert response.status_code == 201, response.text
    assert client.get(API).json()["count"] == 1
    del client.headers["X-CSRF-Token"]
    assert client.post(API, json={"category": "inquiry"}).status_code == 403


def test_supervisor_of_another_site_sees_nothing(client, session, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    make_ticket(session, by=world.agent)
    far_supervisor = make_user(session, role=Role.supervisor, site=world.far_site)
    assert client.get(API, headers=as_user(far_supervisor)).json() == {
        "data": [], "count": 0, "count_capped": False, "next_cursor": None}


def test_tags_in_any_script_through_the_api(client, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    """Chinese tags were refused; now kept as typed, one tag whatever its case, and found by the tag filter."""
    headers = as_user(world.agent)
    created = client.post(API, headers=headers, json={
        "category": "inquiry", "subject": "Line down", "tags": [" 周一起  断线 ", "Line Down", "line down"]})
    assert created.status_code == 201, created.text
    assert sorted(created.json()["tags"]) == sorted(["周一起 断线", "Line Down"])
    found = client.get(API, headers=headers, params={"tag": "LINE DOWN"}).json()
    assert [t["id"] for t in found["data"]] == [created.json()["id"]]
    assert client.get(API, headers=headers, params={"tag": "周一起 断线"}).json()["count"] == 1
    bad = client.post(API, headers=headers, json={"category": "inquiry", "subject": "x", "tags": ["断\nline"]})
    assert bad.status_code == 422 and "control character" in bad.text, bad.text
