"""Ticket search: filters, phone lookup by blind index, SLA states, visibility and pagination."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.crypto import phone_index
from core.errors import ValidationFailed
from tests.tickets.factories_tickets import World, make_customer, make_ticket, world  # noqa: F401
from tickets import escalation, service
from tickets.search import search


def _numbers(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.number for t in page.items]


def test_search_by_number_and_visibility(session, world: World) -> None:
    mine = make_ticket(session, by=world.agent)
    theirs = make_ticket(session, by=world.other_agent)
    assert _numbers(search(session, viewer=world.agent)) == [mine.number]
    assert _numbers(search(session, viewer=world.other_agent)) == [theirs.number]
    assert _numbers(search(session, viewer=world.leader)) == [theirs.number, mine.number]  # the site
    assert search(session, viewer=world.far_agent).items == []
    assert _numbers(search(session, viewer=world.head, number=mine.number.lower())) == [mine.number]
    assert search(session, viewer=world.other_agent, number=mine.number).count == 0


def test_search_by_phone_matches_caller_and_customer_numbers(session, world: World) -> None:
    customer = make_customer(session, site=world.site, phone="+86 138 0013 8000")
    by_customer = make_ticket(session, by=world.agent, customer_id=customer.id)
    by_caller = service.open_from_call(session, call_sid="CAp", customer_id=None, category="inquiry",
                                       site_id=world.site.id, caller_index=phone_index("13800138000"))
    make_ticket(session, by=world.agent, caller_index=phone_index("13900139000"))
    page = search(session, viewer=world.leader, phone="138 0013 8000")
    assert _numbers(page) == [by_caller.number, by_customer.number] and page.count == 2
    with pytest.raises(ValidationFailed) as caught:
        search(session, viewer=world.leader, phone="not a number")
    assert caught.value.errors[0]["loc"] == ["phone"]


def test_filters_combine(session, world: World, clock) -> None:
    old = make_ticket(session, by=world.agent, category="complaint")
    clock.advance(days=2)
    new = make_ticket(session, by=world.agent, priority="urgent", tags=["vip"])
    unassigned = make_ticket(session, site=world.site, team_id=world.team.id)
    service.transition(session, ticket_id=new.id, by=world.agent, to="open")
    viewer = world.leader
    assert _numbers(search(session, viewer=viewer, status="open")) == [new.number]
    assert _numbers(search(session, viewer=viewer, status=["new", "open"], assignee_id=world.agent.id)) == [
        new.number, old.number]
    assert _numbers(search(session, viewer=viewer, category="complaint")) == [old.number]
    assert _numbers(search(session, viewer=viewer, priority="urgent")) == [new.number]
    assert _numbers(search(session, viewer=viewer, tag="VIP")) == [new.number]
    assert _numbers(search(session, viewer=viewer, unassigned=True)) == [unassigned.number]
    assert _numbers(search(session, viewer=viewer, created_from=clock.now() - timedelta(hours=1))) == [
        unassigned.number, new.number]
    assert _numbers(search(session, viewer=viewer, created_to=clock.now() - timedelta(hours=1))) == [old.number]
    assert _numbers(search(session, viewer=viewer, team_id=world.other_team.id)) == []


def test_a_period_that_ends_before_it_starts_is_refused(session, world: World, clock) -> None:
    now = clock.now()
    with pytest.raises(ValidationFailed) as caught:
        search(session, viewer=world.leader, created_from=now, created_to=now - timedelta(days=7))
    assert caught.value.errors[0]["loc"] == ["created_to"]
    assert search(session, viewer=world.leader, created_from=now - timedelta(days=1), created_to=now).count == 0


def test_search_by_sla_state(session, world: World, clock) -> None:
    urgent = make_ticket(session, by=world.agent, priority="urgent")  # 15 minutes to respond
    normal = make_ticket(session, by=world.agent)  # 240 minutes
    done = make_ticket(session, by=world.agent, priority="urgent")
    service.transition(session, ticket_id=done.id, by=world.agent, to="resolved", resolution="Done")
    clock.advance(minutes=13)  # urgent at risk after 12 minutes
    assert _numbers(search(session, viewer=world.agent, sla_state="at_risk")) == [urgent.number]
    assert _numbers(search(session, viewer=world.agent, sla_state="ok")) == [normal.number]
    clock.advance(minutes=3)  # the sweep has not run: the filter reads the deadlines
    assert _numbers(search(session, viewer=world.agent, sla_state="breached")) == [urgent.number]
    assert _numbers(search(session, viewer=world.agent, sort="due")) == [urgent.number, normal.number]


def test_keyset_pagination_walks_every_ticket_once(session, world: World) -> None:
    made = [make_ticket(session, by=world.agent, commit=False).number for _ in range(7)]
    session.commit()
    seen, cursor = [], None
    while True:
        page = search(session, viewer=world.agent, limit=3, cursor=cursor)
        assert page.count == (7 if cursor is None else None)
        seen += _numbers(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(made))
    first = search(session, viewer=world.agent, limit=3, sort="due")
    second = search(session, viewer=world.agent, limit=3, sort="due", cursor=first.next_cursor)
    assert _numbers(first) + _numbers(second) == made[:6]
    assert _numbers(search(session, viewer=world.agent, limit=2, offset=2, sort="oldest")) == made[2:4]


def test_bad_search_input_names_the_field(session, world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        search(session, viewer=world.agent, status="archived", category="praise", sla_state="late", sort="random",
               limit=0)
    assert [e["loc"] for e in caught.value.errors] == [["status"], ["category"], ["sla_state"], ["sort"], ["limit"]]
    with pytest.raises(ValidationFailed) as caught:
        search(session, viewer=world.agent, cursor="garbage")
    assert caught.value.errors[0]["loc"] == ["cursor"]
    make_ticket(session, by=world.agent)
    make_ticket(session, by=world.agent)
    page = search(session, viewer=world.agent, limit=1, sort="oldest")
    assert page.next_cursor is not None
    with pytest.raises(ValidationFailed):  # a cursor belongs to its sort
        search(session, viewer=world.agent, cursor=page.next_cursor, sort="due")


def test_escalated_tickets_of_another_team_stay_hidden_from_agents(session, world: World) -> None:
    ticket = make_ticket(session, by=world.other_agent)
    escalation.escalate(session, ticket_id=ticket.id, by=world.other_agent, reason="Manager")
    assert search(session, viewer=world.agent, status="escalated").items == []
    assert _numbers(search(session, viewer=world.supervisor, status="escalated")) == [ticket.number]


def test_pages_of_a_past_window_follow_creation_time(session, world: World, clock) -> None:
    made = []
    for _ in range(5):
        made.append(make_ticket(session, by=world.agent, commit=False).number)
        clock.advance(hours=1)
    make_ticket(session, by=world.agent)  # after the window
    end = clock.now() - timedelta(minutes=30)
    first = search(session, viewer=world.agent, created_to=end, limit=3)
    second = search(session, viewer=world.agent, created_to=end, limit=3, cursor=first.next_cursor)
    assert first.count == 5 and _numbers(first) + _numbers(second) == list(reversed(made))
    assert second.next_cursor is None
