"""The floor of team leaders and supervisors: roles, the whole page and its htmx partial, the
wallboard, escalations and backlog, today's figures as JSON, and callback authorisations
granted, extended and revoked through forms (errors beside the field, in Chinese too)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.agent_ui.desk import Desk, desk, grant_for, ring_agent, set_presence
from tests.factories import cheap_password_hashing, fresh, signed_in_client
from tests.telephony.hub import eager_tasks, sim
from tickets import grants
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing", "desk", "eager_tasks", "sim"]

HX = {"HX-Request": "true"}


def _ticket(session: Session, desk: Desk, category: str = "callback_request") -> int:
    ticket = ticket_service.open_ticket(session, by=desk.agent, customer_id=desk.customer.id, category=category)  # type: ignore[arg-type]
    session.commit()
    return ticket.id


def test_floor_needs_a_leader(client: TestClient, desk: Desk) -> None:
    assert client.get("/floor", follow_redirects=False).headers["location"] == "/signin?next=/floor"
    assert client.get("/floor/figures.json", headers={"Accept": "application/json"}).status_code == 401
    signed_in_client(client, desk.agent)
    assert client.get("/floor").status_code == 403
    assert client.get("/floor/figures.json").status_code == 403
    assert 'href="/floor"' not in client.get("/").text and 'href="/desktop"' in client.get("/").text


def test_floor_page_and_its_htmx_partial(client: TestClient, desk: Desk) -> None:
    set_presence(desk.agent, "available")
    set_presence(desk.other_agent, "available")
    signed_in_client(client, desk.supervisor)
    page = client.get("/floor")
    assert page.status_code == 200 and 'ws-connect="/ws?page=floor&amp;since=' in page.text
    for panel in ("wallboard", "escalations-panel", "backlog-panel", "grants-panel", "figures-panel"):
        assert f'id="{panel}"' in page.text
    # The wallboard shows the supervisor's own site: its agent, not the other site's.
    assert "An Agent" in page.text and "Far Agent" not in page.text
    assert '<span class="stat-value" id="stat-available">1</span>' in page.text
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", page.text) == []
    assert not re.search(r"\son[a-z]+=|style=", page.text)
    partial = client.get("/floor", headers=HX)
    assert "<html" not in partial.text and 'id="floor-main"' in partial.text


def test_the_wallboard_counts_waiting_calls_and_expiring_offers(client: TestClient, desk: Desk, sim,
                                                                clock) -> None:  # type: ignore[no-untyped-def]
    set_presence(desk.agent, "available")
    ring_agent(sim, desk.agent)
    clock.advance(seconds=11)  # 4 s left of the 15 s offer: about to time out
    signed_in_client(client, desk.team_leader)
    page = client.get("/floor").text
    assert '<span class="stat-value" id="stat-waiting">1</span>' in page
    assert "Offers timing out" in page and re.search(r"An Agent · <time class=\"countdown\"", page)


def test_escalations_backlog_and_complaints_due(client: TestClient, session: Session, desk: Desk) -> None:
    escalated = _ticket(session, desk, category="inquiry")
    ticket_service.escalate(session, ticket_id=escalated, by=desk.agent, reason="Customer insists")
    _ticket(session, desk, category="complaint")
    session.commit()
    signed_in_client(client, desk.team_leader)
    page = client.get("/floor").text
    escalations = page[page.index('id="escalations-panel"'):page.index('id="backlog-panel"')]
    assert re.search(r"HL-2026-0+1</a></td><td>Inquiry</td><td>Team leader", escalations)  # the number is a link
    backlog = page[page.index('id="backlog-panel"'):page.index('id="grants-panel"')]
    assert "Complaints due a reply" in backlog and "HL-2026-000002" in backlog


def test_figures_json_after_a_call(client: TestClient, desk: Desk, sim, clock) -> None:  # type: ignore[no-untyped-def]
    set_presence(desk.agent, "available")
    sid = ring_agent(sim, desk.agent)
    clock.advance(seconds=5)
    sim.phone(f"agent_{desk.agent.id}").answer()
    sim.pump()
    sim.advance(60)
    sim.hangup(sid)
    sim.pump()
    signed_in_client(client, desk.supervisor)
    data = client.get("/floor/figures.json").json()
    assert data["zone"] == "Asia/Shanghai" and data["hours"][-1] == "17:00"
    assert data["totals"]["offered"] == 1 and data["totals"]["answered"] == 1
    assert data["totals"]["service_level"] == 100.0 and sum(data["answered"]) == 1
    assert data["handle_seconds"][-1] is not None


def test_grant_extend_and_revoke_through_the_forms(client: TestClient, session: Session, desk: Desk) -> None:
    number = ticket_service.get(session, ticket_id=_ticket(session, desk), user=None).number
    signed_in_client(client, desk.supervisor)
    granted = client.post("/floor/grants", headers=HX, data={
        "ticket_number": number, "agent_id": str(desk.agent.id), "duration_minutes": "60", "reason": "Promised"})
    assert granted.status_code == 200 and "Authorisation saved." in granted.text
    live, _count = grants.list_grants(fresh(session), viewer=desk.supervisor, live_only=True)
    assert [(g.agent_id, g.customer_id) for g in live] == [(desk.agent.id, desk.customer.id)]
    assert "+8613800138000" not in granted.text and "Wang Fang" not in granted.text
    grant_id = live[0].id

    extended = client.post(f"/floor/grants/{grant_id}/extend", data={"duration_minutes": "240"},
                           follow_redirects=False)
    assert extended.status_code == 303 and extended.headers["location"] == "/floor"
    assert grants.get_grant(fresh(session), grant_id=grant_id).expires_at.hour == 13
    overlap = client.post("/floor/grants", headers=HX, data={
        "ticket_number": number, "agent_id": str(desk.agent.id), "duration_minutes": "60", "reason": "Again"})
    assert overlap.status_code == 409 and 'id="grant-agent-error"' in overlap.text and "extend it instead" in overlap.text
    revoked = client.post(f"/floor/grants/{grant_id}/revoke", headers=HX)
    assert revoked.status_code == 200 and "Revoked" in revoked.text
    assert grants.get_grant(fresh(session), grant_id=grant_id).revoked_at is not None


def test_grant_errors_are_shown_beside_their_fields(client: TestClient, session: Session, desk: Desk) -> None:
    number = ticket_service.get(session, ticket_id=_ticket(session, desk), user=None).number
    signed_in_client(client, desk.supervisor)
    no_reason = client.post("/floor/grants", headers=HX, data={
        "ticket_number": number, "agent_id": str(desk.agent.id), "duration_minutes": "60", "reason": " "})
    assert no_reason.status_code == 422 and 'id="grant-reason-error"' in no_reason.text
    assert f'value="{number}"' in no_reason.text  # what was typed stays
    unknown = client.post("/floor/grants", data={
        "ticket_number": "HL-2026-999999", "agent_id": str(desk.agent.id), "reason": "x"})
    assert unknown.status_code == 404 or unknown.status_code == 409
    assert 'id="grant-ticket-error"' in unknown.text and "<html" in unknown.text
    # The person authorised works at the customer's site.
    far = client.post("/floor/grants", headers=HX, data={
        "ticket_number": number, "agent_id": str(desk.other_agent.id), "reason": "x"})
    assert far.status_code == 409 and "works at the customer&#39;s site" in far.text
    assert client.post("/floor/grants", data={"ticket_number": number, "agent_id": str(desk.agent.id),
                                              "reason": "x", "csrf_token": "forged"},
                       headers={"X-CSRF-Token": ""}).status_code == 403


def test_floor_in_simplified_chinese(client: TestClient, session: Session, desk: Desk) -> None:
    desk.supervisor.locale = "zh_Hans"
    session.commit()
    grant_for(session, desk)
    signed_in_client(client, desk.supervisor)
    page = client.get("/floor").text
    for text in ("实时监控大屏", "排队来电", "升级", "回访授权", "今日数据", "已授权"):
        assert text in page, text
    refused = client.post("/floor/grants", headers=HX, data={"ticket_number": "", "agent_id": "", "reason": ""})
    assert refused.status_code == 422 and 'id="grant-ticket-error"' in refused.text


def test_a_large_floor_lists_the_longest_in_each_state_and_counts_the_rest(
        client: TestClient, session: Session, desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    from agent_ui.floor_view import BOARD_NAMES
    from tests.factories import make_user

    many = BOARD_NAMES + 5
    agents = [make_user(session, team=desk.team, display_name=f"Idle {n:02d}") for n in range(many)]
    for agent in agents:  # Idle 00 has waited longest
        set_presence(agent, "available")
        clock.advance(seconds=10)
    signed_in_client(client, desk.team_leader)
    page = client.get("/floor").text
    board = page[page.index('id="wallboard-state-available"'):page.index('id="wallboard-state-offered"')]
    names = re.findall(r'<span class="agent-name">([^<]+)</span>', board)
    assert names == [f"Idle {n:02d}" for n in range(BOARD_NAMES)]  # the longest idle, in order
    assert f'<span class="count">{many}</span>' in board and "and 5 more" in board
    assert f'<span class="stat-value" id="stat-available">{many}</span>' in page

    desk.team_leader.locale = "zh_Hans"
    session.merge(desk.team_leader)
    session.commit()
    assert "另有 5 人" in client.get("/floor").text
