"""The status workflow as data: allowed transitions, the refusal naming from, to and the allowed
ones, and what each transition requires and records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict, PermissionDenied, ValidationFailed
from tests.tickets.factories_tickets import World, make_ticket, reload, world  # noqa: F401
from tickets import service
from tickets.workflow import TRANSITIONS, InvalidTransition, Status, allowed_from, check_transition


def test_every_status_has_its_transitions_listed() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert allowed_from(Status.closed) == frozenset()
    assert Status.new not in set().union(*TRANSITIONS.values())  # nothing goes back to new


def test_check_transition_names_from_to_and_allowed() -> None:
    with pytest.raises(InvalidTransition) as caught:
        check_transition("closed", "open")
    assert caught.value.current == "closed" and caught.value.target == "open"
    assert caught.value.allowed == []
    assert caught.value.params == {"current": "closed", "target": "open", "allowed": []}
    with pytest.raises(InvalidTransition) as caught:
        check_transition("open", "new")
    assert caught.value.allowed == ["escalated", "resolved", "waiting_on_customer"]
    assert isinstance(caught.value, Conflict)


def test_check_transition_refuses_unknown_status() -> None:
    with pytest.raises(InvalidTransition):
        check_transition("open", "archived")


def test_transition_new_to_open_records_first_response_and_timeline(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent)
    clock.advance(minutes=5)
    ticket = service.transition(session, ticket_id=ticket.id, by=world.agent, to="open", version=ticket.version)
    session.commit()
    assert ticket.status == "open" and ticket.version == 2
    assert ticket.first_response_at == clock.now()
    assert ticket.sla_target == "resolution"
    kinds = [(e.kind, e.from_value, e.to_value) for e in service.timeline_for(session, ticket_id=ticket.id, user=None)]
    assert ("status_changed", "new", "open") in kinds
    assert ("first_response", None, None) in kinds


def test_invalid_transition_is_refused_and_changes_nothing(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    service.transition(session, ticket_id=ticket.id, by=world.agent, to="resolved", resolution="Answered.")
    session.commit()
    with pytest.raises(InvalidTransition) as caught:
        service.transition(session, ticket_id=ticket.id, by=world.agent, to="waiting_on_customer")
    assert caught.value.allowed == ["closed", "open"]
    session.rollback()
    assert reload(session, ticket).status == "resolved"


def test_resolving_needs_a_resolution(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    with pytest.raises(ValidationFailed) as caught:
        service.transition(session, ticket_id=ticket.id, by=world.agent, to="resolved", resolution="  ")
    assert caught.value.errors[0]["loc"] == ["resolution"]


def test_closing_a_new_ticket_needs_a_reason(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    with pytest.raises(ValidationFailed):
        service.transition(session, ticket_id=ticket.id, by=world.agent, to="closed")
    ticket = service.transition(session, ticket_id=ticket.id, by=world.agent, to="closed", reason="Duplicate")
    assert ticket.status == "closed" and ticket.closed_at is not None and ticket.sla_due_at is None


def test_closed_ticket_cannot_be_changed(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    service.transition(session, ticket_id=ticket.id, by=world.agent, to="closed", reason="Prank call")
    session.commit()
    with pytest.raises(Conflict):
        service.update(session, ticket_id=ticket.id, by=world.agent, version=ticket.version, changes={"subject": "x"})
    with pytest.raises(Conflict):
        service.add_note(session, ticket_id=ticket.id, by=world.agent, body="more")


def test_resolve_then_reopen_gives_a_fresh_resolution_target(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent, priority="urgent")
    service.transition(session, ticket_id=ticket.id, by=world.agent, to="resolved", resolution="Refunded.")
    assert ticket.sla_due_at is None and ticket.resolution == "Refunded."
    clock.advance(days=3)
    ticket = service.transition(session, ticket_id=ticket.id, by=world.agent, to="open", reason="Customer called again")
    assert ticket.resolved_at is None and ticket.status == "open"
    assert ticket.resolution_due_at == clock.now() + timedelta(minutes=240)  # urgent: 4 hours to resolve
    assert ticket.sla_due_at == ticket.resolution_due_at and ticket.sla_state == "ok"


def test_escalated_via_transition_goes_one_level_up(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    ticket = service.transition(session, ticket_id=ticket.id, by=world.agent, to="escalated", reason="Needs a refund")
    assert ticket.status == "escalated" and ticket.escalation_level == 1


def test_waiting_on_customer_pauses_the_sla_clock(session, world: World, clock) -> None:
    ticket = make_ticket(session, by=world.agent)  # always-open calendar: business minutes are minutes
    service.transition(session, ticket_id=ticket.id, by=world.agent, to="open")
    due = ticket.resolution_due_at
    service.transition(session, ticket_id=ticket.id, by=world.agent, to="waiting_on_customer")
    assert ticket.sla_due_at is None and ticket.sla_paused_at == clock.now()
    clock.advance(hours=5)
    service.transition(session, ticket_id=ticket.id, by=world.agent, to="open")
    assert ticket.resolution_due_at == due + timedelta(hours=5)
    assert ticket.sla_due_at == ticket.resolution_due_at and ticket.sla_paused_at is None


def test_qa_inspector_reads_but_cannot_transition(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    assert service.get(session, ticket_id=ticket.id, user=world.qa).id == ticket.id
    with pytest.raises(PermissionDenied):
        service.transition(session, ticket_id=ticket.id, by=world.qa, to="open")
