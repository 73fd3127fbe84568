"""Customers: encrypted at rest, found by any spelling of a number through the blind index,
changes kept in a history, erasure that leaves nothing searchable behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core import audit
from core.errors import PermissionDenied, ValidationFailed
from tests.tickets.factories_customers import Staff, make_customer, next_phone, staff  # noqa: F401
from tickets import service as ticket_service
from tickets import customers as service
from tickets.models.customers import CustomerChange, CustomerPhone


def test_create_customer_encrypts_personal_fields_at_rest(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, name="Wang Li", phones=["138 0013 8000"],
                             email="wang@example.com", address="1 Nanjing Road", id_number="110101199003070000")
    raw = session.execute(text("SELECT name, email, address, id_number FROM customers WHERE id = :id"),
                          {"id": customer.id}).one()
    key_id = session.scalar(text("SELECT data_key_id FROM customers WHERE id = :id"), {"id": customer.id})
    # Under the customer's own data key (envelope encryption), itself wrapped by the master keys.
    assert key_id and all(value and value.startswith(f"dk1:{key_id}:gAAAA") for value in raw)
    assert "Wang" not in "".join(raw)
    number = session.execute(text("SELECT number, number_index FROM customer_phones")).one()
    assert "13800138000" not in number.number and "13800138000" not in number.number_index
    assert customer.phones[0].number == "+8613800138000" and customer.phones[0].is_primary


def test_create_customer_reports_every_bad_field_with_its_location(session: Session, staff: Staff) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create_customer(session, data={"name": " ", "phones": ["12345", "138 0013 8000", "138-0013-8000"],
                                               "site_id": staff.site.id, "consent_method": "phone",
                                               "birthday": "1990-13-01", "email": "nope", "gender": "x"}, by=None)
    locations = {tuple(e["loc"]) for e in caught.value.errors}
    assert {("name",), ("phones", 0, "number"), ("phones", 2, "number"), ("birthday",), ("email",),
            ("gender",)} <= locations
    assert "12345" not in caught.value.message  # the value is never repeated


def test_create_customer_without_consent_method_is_refused(session: Session, staff: Staff) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create_customer(session, data={"name": "Li", "phones": [next_phone()], "site_id": staff.site.id},
                                by=None)
    assert caught.value.errors[0]["loc"] == ["consent_method"]


def test_create_customer_with_a_taken_phone_is_refused(session: Session, staff: Staff) -> None:
    make_customer(session, site=staff.site, phones=["138 0013 8001"])
    with pytest.raises(service.PhoneTaken) as caught:
        make_customer(session, site=staff.site, phones=["+86 138-0013-8001"])
    assert caught.value.field == "phones.0.number"


def test_created_by_an_agent_the_agent_owns_it(session: Session, staff: Staff) -> None:
    customer = service.create_customer(session, data={"name": "Zhao", "phones": [next_phone()],
                                                      "consent_method": "phone"}, by=staff.agent)
    assert customer.owning_agent_id == staff.agent.id and customer.site_id == staff.site.id


@pytest.mark.parametrize("spelling", ["138 0013 8002", "+86 138-0013-8002", "008613800138002", "13800138002"])
def test_find_by_phone_matches_any_spelling(session: Session, staff: Staff, spelling: str) -> None:
    customer = make_customer(session, site=staff.site, phones=["+8613800138002"])
    assert service.find_by_phone(session, phone=spelling).id == customer.id


def test_find_by_phone_unknown_number_finds_nothing(session: Session, staff: Staff) -> None:
    assert service.find_by_phone(session, phone="138 0013 8999") is None


@pytest.mark.parametrize("bad", ["", "abc", "123", "+999 1234"])
def test_find_by_phone_malformed_number_is_a_validation_error(session: Session, staff: Staff, bad: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.find_by_phone(session, phone=bad)
    assert caught.value.errors[0]["loc"] == ["phone"]


def test_identify_caller_gives_routing_facts_and_none_for_junk(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, phones=["138 0013 8003"], owner=staff.agent)
    match = service.identify_caller(session, caller_id="+8613800138003")
    assert match == service.CallerMatch(customer.id, "normal", staff.site.id, staff.agent.id)
    for junk in (None, "", "anonymous", "+266696687", "+8613800138999"):
        assert service.identify_caller(session, caller_id=junk) is None


def test_update_customer_keeps_history_with_encrypted_old_values(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, address="Old street 1")
    service.update_customer(session, customer_id=customer.id, changes={"address": "New street 2", "gender": "female"},
                            by=staff.agent, requested_by_customer=True)
    session.commit()
    change = service.history(session, customer_id=customer.id)[-1]
    assert change.fields == ["address", "gender"] and change.requested_by_customer
    assert change.changed_by_id == staff.agent.id and change.old_values["address"] == "Old street 1"
    raw = session.execute(text("SELECT old_values FROM customer_changes WHERE id = :id"), {"id": change.id}).scalar()
    assert "Old street" not in raw
    assert customer.address == "New street 2"
    entry = audit.entries_for(session, object_type="customer", object_id=customer.id,
                              action_prefix="customer.changed")[0]
    assert entry.details_dict["fields"] == ["address", "gender"] and "New street" not in entry.details


def test_update_customer_not_asked_by_customer_needs_a_reason(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent)
    with pytest.raises(ValidationFailed) as caught:
        service.update_customer(session, customer_id=customer.id, changes={"address": "x"}, by=staff.agent)
    assert caught.value.errors[0]["loc"] == ["reason"]


def test_update_customer_replaces_phones(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, phones=["138 0013 8004", "138 0013 8005"])
    service.update_customer(session, customer_id=customer.id, by=staff.agent, reason="new number",
                            changes={"phones": [{"number": "138 0013 8005", "is_primary": True}, "138 0013 8006"]})
    session.commit()
    assert [(p.number, p.is_primary) for p in customer.phones] == [("+8613800138005", True), ("+8613800138006", False)]
    assert service.find_by_phone(session, phone="13800138004") is None
    assert service.find_by_phone(session, phone="13800138006").id == customer.id


def test_update_customer_someone_elses_customer_is_refused(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.teammate)
    with pytest.raises(PermissionDenied):
        service.update_customer(session, customer_id=customer.id, changes={"address": "x"}, by=staff.agent,
                                reason="why not")


def test_update_customer_owner_change_is_for_site_managers(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent)
    with pytest.raises(PermissionDenied):
        service.update_customer(session, customer_id=customer.id, changes={"owning_agent_id": staff.teammate.id},
                                by=staff.agent, reason="handing over")
    with pytest.raises(PermissionDenied):  # a team leader of the site, not its named manager
        service.update_customer(session, customer_id=customer.id, changes={"owning_agent_id": staff.teammate.id},
                                by=staff.team_leader, reason="handing over")
    service.update_customer(session, customer_id=customer.id, changes={"owning_agent_id": staff.teammate.id},
                            by=staff.manager, reason="handing over")
    assert customer.owning_agent_id == staff.teammate.id


def test_erase_customer_deletes_personal_data_and_its_search_index(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, phones=["138 0013 8007"],
                             email="gone@example.com")
    service.update_customer(session, customer_id=customer.id, changes={"address": "Somewhere"}, by=staff.agent,
                            requested_by_customer=True)
    session.commit()
    erased = service.erase_customer(session, customer_id=customer.id, by=staff.admin, reason="member left")
    session.commit()
    assert erased.is_erased and erased.name is None and erased.email is None and erased.phones == []
    assert erased.tier == "normal" and erased.site_id == staff.site.id  # statistics stay
    assert session.scalar(select(func.count()).select_from(CustomerPhone)) == 0
    assert service.find_by_phone(session, phone="13800138007") is None
    assert service.identify_caller(session, caller_id="+8613800138007") is None
    changes = session.scalars(select(CustomerChange).where(CustomerChange.customer_id == customer.id)).all()
    assert all(c.old_values is None for c in changes) and changes[-1].fields == ["erased"]
    entry = audit.entries_for(session, object_type="customer", object_id=customer.id, action_prefix="customer.erased")
    assert entry and entry[0].actor_id == staff.admin.id
    # The number is free again for a new customer.
    assert make_customer(session, site=staff.site, phones=["138 0013 8007"]).id != customer.id


def test_erase_customer_anonymises_tickets(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, phones=["138 0013 8008"])
    ticket = ticket_service.open_ticket(session, category="complaint", by=staff.agent, customer_id=customer.id,
                                        caller_index=customer.phones[0].number_index, subject="About Wang Li")
    session.commit()
    service.erase_customer(session, customer_id=customer.id, by=None, reason="left")
    session.commit()
    row = session.execute(text("SELECT customer_id, caller_index, subject FROM tickets WHERE id = :id"),
                          {"id": ticket.id}).one()
    assert tuple(row) == (customer.id, None, None)


def test_erase_customer_leaves_nothing_findable_by_the_old_number(session: Session, staff: Staff) -> None:
    from tickets import search as ticket_search

    customer = make_customer(session, site=staff.site, phones=["138 0013 8018"])
    index = customer.phones[0].number_index
    known = ticket_service.open_ticket(session, category="complaint", by=staff.agent, customer_id=customer.id,
                                       caller_index=index)
    before = ticket_service.open_ticket(session, category="inquiry", by=staff.agent, caller_index=index)
    other = ticket_service.open_ticket(session, category="inquiry", by=staff.agent, subject="Someone else")
    ticket_service.add_note(session, ticket_id=known.id, by=staff.agent, body="Wang Li lives at No. 5")
    ticket_service.escalate(session, ticket_id=known.id, by=staff.agent, reason="Wang Li threatens the press")
    session.commit()
    assert len(ticket_search.search(session, viewer=staff.admin, phone="13800138018").items) == 2
    service.erase_customer(session, customer_id=customer.id, by=None, reason="left")
    session.commit()
    assert ticket_search.search(session, viewer=staff.admin, phone="13800138018").items == []
    assert [n.body for n in ticket_service.notes(session, ticket_id=known.id, user=staff.admin)] == ["(erased)"]
    events = ticket_service.timeline_for(session, ticket_id=known.id, user=staff.admin)
    assert [e.kind for e in events if e.kind == "escalated"] and all(e.reason is None for e in events)
    rows = session.execute(text("SELECT id, caller_index FROM tickets WHERE id IN (:a, :b)"),
                           {"a": known.id, "b": before.id}).all()
    assert {row.caller_index for row in rows} == {None}
    assert ticket_service.get(session, ticket_id=other.id, user=None).subject == "Someone else"


def test_erase_customer_twice_is_harmless(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    service.erase_customer(session, customer_id=customer.id, by=None, reason="left")
    service.erase_customer(session, customer_id=customer.id, by=None, reason="left")
    assert len(audit.entries_for(session, object_type="customer", object_id=customer.id,
                                 action_prefix="customer.erased")) == 1


def test_erase_customer_by_a_non_admin_is_refused(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent)
    with pytest.raises(PermissionDenied):
        service.erase_customer(session, customer_id=customer.id, by=staff.supervisor, reason="left")


def test_aggregates_count_by_tier_and_site_without_erased(session: Session, staff: Staff) -> None:
    make_customer(session, site=staff.site)
    make_customer(session, site=staff.site, tier="gold")
    gone = make_customer(session, site=staff.other_site)
    service.erase_customer(session, customer_id=gone.id, by=None, reason="left")
    figures = service.aggregates(session)
    assert figures.total == 2 and figures.by_tier["gold"] == 1 and figures.by_site == {staff.site.id: 2}
