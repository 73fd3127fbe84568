"""The escalation ladder: one level at a time, urgent skips with the skipped levels notified, the
timeline and the `ticket.escalated` event, troublesome callers, and notifications."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import events
from core.errors import NotFound, ValidationFailed
from core.events import Event, InProcessBus
from tests.tickets.factories_tickets import World, make_ticket, reload, world  # noqa: F401
from tickets import escalation, service
from tickets.escalation import EscalationRefused
from tickets.workflow import InvalidTransition


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Event]]:
    """Events published after commit, delivered in-process whatever the broker."""
    bus = InProcessBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    monkeypatch.setattr(events, "_bus", bus)
    yield seen
    bus.close()


def _kinds(session, user_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(n.kind for n in escalation.notifications_for(session, user_id))


def test_escalate_goes_one_level_up_and_is_published(session, world: World, published: list[Event]) -> None:
    ticket = make_ticket(session, by=world.agent)
    published.clear()
    ticket = escalation.escalate(session, ticket_id=ticket.id, by=world.agent, reason="Asks for a manager",
                                 version=ticket.version)
    assert published == []  # nothing before commit
    session.commit()
    assert (ticket.status, ticket.escalation_level, ticket.version) == ("escalated", 1, 2)
    assert _kinds(session, world.leader.id) == ["escalated"]
    assert _kinds(session, world.other_leader.id) == []  # the ticket's team's leader, not every leader
    escalated = [e for e in published if e.topic == "ticket.escalated"]
    assert len(escalated) == 1
    assert escalated[0].payload["from_level"] == "agent" and escalated[0].payload["to_level"] == "team_leader"
    assert escalated[0].site_id == world.site.id and "Asks" not in str(escalated[0].payload)
    timeline = service.timeline_for(session, ticket_id=ticket.id, user=world.agent)
    step = next(e for e in timeline if e.kind == "escalated")
    assert (step.actor_id, step.from_value, step.to_value, step.reason) == (
        world.agent.id, "agent", "team_leader", "Asks for a manager")


def test_escalation_skipping_a_level_needs_urgent(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    with pytest.raises(EscalationRefused) as caught:
        escalation.escalate(session, ticket_id=ticket.id, by=world.agent, reason="Angry", to_level="supervisor")
    assert caught.value.errors[0]["loc"] == ["to_level"] and "one level at a time" in caught.value.message
    assert isinstance(caught.value, ValidationFailed)
    session.rollback()
    assert reload(session, ticket).escalation_level == 0


def test_urgent_escalation_skips_levels_and_notifies_them(session, world: World, published: list[Event]) -> None:
    ticket = make_ticket(session, by=world.agent)
    escalation.escalate(session, ticket_id=ticket.id, by=world.agent, reason="Threatens to go to the press",
                        to_level="center_head", urgent=True)
    session.commit()
    assert ticket.escalation_level == 3
    assert _kinds(session, world.head.id) == ["escalated"]
    assert _kinds(session, world.leader.id) == ["escalation_skipped"]
    assert _kinds(session, world.supervisor.id) == ["escalation_skipped"]
    kinds = [(e.kind, e.to_value) for e in service.timeline_for(session, ticket_id=ticket.id, user=None)]
    assert ("skipped_levels_notified", "team_leader,supervisor") in kinds
    event = next(e for e in published if e.topic == "ticket.escalated")
    assert event.payload["urgent"] is True and event.payload["skipped"] == ["team_leader", "supervisor"]


def test_escalation_only_goes_up_and_stops_at_the_top(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    for _ in range(3):
        escalation.escalate(session, ticket_id=ticket.id, by=world.leader, reason="Next level")
    assert ticket.escalation_level == 3
    with pytest.raises(EscalationRefused):
        escalation.escalate(session, ticket_id=ticket.id, by=world.head, reason="Again")
    with pytest.raises(EscalationRefused):
        escalation.escalate(session, ticket_id=ticket.id, by=world.head, reason="Down", to_level="team_leader")
    with pytest.raises(EscalationRefused):
        escalation.escalate(session, ticket_id=ticket.id, by=world.head, reason="?", to_level="janitor")


def test_escalation_needs_a_reason_and_an_open_ticket(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    with pytest.raises(ValidationFailed) as caught:
        escalation.escalate(session, ticket_id=ticket.id, by=world.agent, reason=" ")
    assert caught.value.errors[0]["loc"] == ["reason"]
    service.transition(session, ticket_id=ticket.id, by=world.agent, to="resolved", resolution="Done")
    with pytest.raises(InvalidTransition):
        escalation.escalate(session, ticket_id=ticket.id, by=world.agent, reason="Too late")


def test_agent_cannot_escalate_another_teams_ticket(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    with pytest.raises(NotFound):
        escalation.escalate(session, ticket_id=ticket.id, by=world.other_agent, reason="Mine now")


def test_escalation_with_a_stale_version_is_refused(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    service.update(session, ticket_id=ticket.id, by=world.agent, version=1, changes={"priority": "high"})
    with pytest.raises(Exception) as caught:
        escalation.escalate(session, ticket_id=ticket.id, by=world.agent, reason="r", version=1)
    assert getattr(caught.value, "code", "") == "stale_version"


def test_hand_troublesome_caller_to_team_leader(session, world: World, published: list[Event]) -> None:
    ticket = make_ticket(session, by=world.agent)
    escalation.hand_to_team_leader(session, ticket_id=ticket.id, by=world.agent, reason="Abusive language, third call")
    session.commit()
    assert (ticket.escalation_level, ticket.status) == (1, "escalated")
    assert service.tags_of(session, ticket_id=ticket.id) == ["abusive_caller"]
    assert _kinds(session, world.leader.id) == ["abusive_caller"]
    assert {e.topic for e in published} >= {"ticket.handed_to_team_leader", "ticket.escalated"}
    # Again, once the leader has it: the leaders are told, the level stays.
    escalation.hand_to_team_leader(session, ticket_id=ticket.id, by=world.agent, reason="Called back shouting")
    assert ticket.escalation_level == 1
    assert _kinds(session, world.leader.id) == ["abusive_caller", "abusive_caller"]


def test_notifications_are_read_by_their_owner_only(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent)
    escalation.escalate(session, ticket_id=ticket.id, by=world.agent, reason="Manager please")
    note = escalation.notifications_for(session, world.leader.id, unread_only=True)[0]
    with pytest.raises(NotFound):
        escalation.mark_read(session, notification_id=note.id, user=world.agent)
    assert escalation.mark_read(session, notification_id=note.id, user=world.leader).read_at == clock.now()
    assert escalation.notifications_for(session, world.leader.id, unread_only=True) == []
