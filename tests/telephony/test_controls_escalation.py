"""Escalating a live call follows the ladder of DOMAIN.md (agent, team leader, supervisor, center
head; one level at a time unless urgent, the skipped levels told) and writes it on the ticket;
asked to, it warm-transfers the call to someone available at the new level."""

from __future__ import annotations

from core.models import Role
from tests.factories import fresh, make_user
from tests.telephony.controls_helpers import audit_actions, bearer, connected_call, events, presence_state
from tests.telephony.hub import Hub, available
from tickets import escalation, timeline
from tickets.models.tickets import Ticket


def test_escalation_to_the_team_leader_is_on_the_ticket_and_hands_the_call_over(client, sim, hub: Hub,
                                                                               session) -> None:
    leader = make_user(session, role=Role.team_leader, site=hub.site)
    call, sid = connected_call(session, sim, hub.agent)
    available(session, leader)
    response = client.post(f"/api/v1/calls/{call.id}/escalate",
                           json={"reason": "asks for a manager", "transfer": True}, headers=bearer(session, hub.agent))
    assert response.status_code == 200, response.text
    assert response.json()["escalation"]["outcome"] == "transferring to the new level"
    fresh(session)
    ticket = session.get(Ticket, call.ticket_id)
    [escalated] = [e for e in timeline.events(session, ticket_id=ticket.id) if e.kind == "escalated"]
    assert (escalated.from_value, escalated.to_value, escalated.reason) == ("agent", "team_leader",
                                                                          "asks for a manager")
    assert [n.kind for n in escalation.notifications_for(session, leader.id)] == ["escalated"]
    sim.pump()
    sim.phone(f"agent_{leader.id}").answer()
    sim.pump()
    fresh(session)
    assert session.get(Ticket, call.ticket_id).assignee_id == leader.id
    assert presence_state(session, leader) == "on_call" and presence_state(session, hub.agent) == "wrap_up"
    assert audit_actions(session, "call.") == ["call.escalated", "call.transfer_started", "call.transferred"]


def test_an_urgent_escalation_may_skip_levels_and_tells_the_skipped_ones(client, sim, hub: Hub, session) -> None:
    leader = make_user(session, role=Role.team_leader, site=hub.site)
    head = make_user(session, role=Role.center_head, site=None)
    call, _ = connected_call(session, sim, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/escalate",
                           json={"reason": "threatens legal action", "to_level": "center_head", "urgent": True},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 200, response.text
    assert response.json()["escalation"]["target"] == "center_head" and response.json()["transfer"] is None
    fresh(session)
    ticket = session.get(Ticket, call.ticket_id)
    assert ticket.escalation_level == 3
    kinds = {e.kind: e for e in timeline.events(session, ticket_id=ticket.id)}
    assert kinds["skipped_levels_notified"].to_value == "team_leader,supervisor"
    assert [n.kind for n in escalation.notifications_for(session, leader.id)] == ["escalation_skipped"]
    assert [n.kind for n in escalation.notifications_for(session, hub.supervisor.id)] == ["escalation_skipped"]
    assert [n.kind for n in escalation.notifications_for(session, head.id)] == ["escalated"]


def test_escalating_with_nobody_available_at_the_level_keeps_the_call(client, sim, hub: Hub, session) -> None:
    make_user(session, role=Role.team_leader, site=hub.site)  # offline
    call, _ = connected_call(session, sim, hub.agent)
    response = client.post(f"/api/v1/calls/{call.id}/escalate", json={"reason": "manager please", "transfer": True},
                           headers=bearer(session, hub.agent))
    assert response.status_code == 200, response.text
    assert response.json()["transfer"] is None
    assert response.json()["escalation"]["outcome"] == "nobody at that level is available to take the call"
    assert events(session, call.id, "transfer") == []
    fresh(session)
    assert session.get(Ticket, call.ticket_id).escalation_level == 1
    assert presence_state(session, hub.agent) == "on_call"


def test_escalating_someone_elses_call_or_without_a_reason_is_refused(client, sim, hub: Hub, session) -> None:
    call, _ = connected_call(session, sim, hub.agent)
    other = client.post(f"/api/v1/calls/{call.id}/escalate", json={"reason": "x"},
                        headers=bearer(session, hub.other_agent))
    assert other.status_code == 403
    blank = client.post(f"/api/v1/calls/{call.id}/escalate", json={"reason": ""}, headers=bearer(session, hub.agent))
    assert blank.status_code == 422
    fresh(session)
    assert session.get(Ticket, call.ticket_id).escalation_level == 0
    assert events(session, call.id) == []
