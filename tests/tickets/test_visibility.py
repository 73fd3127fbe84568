"""Who sees a customer's details: the owner, the agent of the call being offered until wrap-up
ends, a manager of the customer's site, a live grant; everyone else a masked card. Full views
are audited with the reason; masked ones are not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from core import audit
from core.clock import FrozenClock
from tests.tickets.factories_customers import Staff, make_customer, staff  # noqa: F401
from tickets import visibility
from tickets.customers import erase_customer


def _views(session: Session, customer_id: int) -> list[audit.AuditEntry]:
    return audit.entries_for(session, object_type="customer", object_id=customer_id, action_prefix="customer.viewed")


def test_view_customer_own_customer_is_full_and_audited(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, name="Wang Li", email="w@example.com")
    card = visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent, source_ip="10.0.0.5")
    assert not card.masked and card.access == "ownership"
    assert card.display_name == "Wang Li" and card.email == "w@example.com" and card.phones[0].number.startswith("+86")
    entry = _views(session, customer.id)[0]
    assert entry.actor_id == staff.agent.id and entry.source_ip == "10.0.0.5"
    assert entry.details_dict == {"reason": "ownership"}


def test_view_customer_someone_elses_customer_is_masked_and_not_audited(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.teammate, name="Wang Li",
                             phones=["138 0013 0000"], email="w@example.com")
    card = visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent)
    assert card.masked and card.access is None
    assert card.display_name == "W. L." and card.phones[0].number == "+86 138****0000"
    assert card.email is None and card.address is None and card.points is None
    assert card.tier == "normal" and card.site_id == staff.site.id
    assert _views(session, customer.id) == []


def test_masked_card_of_a_chinese_name_keeps_the_surname_only(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, name="王小明")
    assert visibility.masked_card(customer).display_name == "王**"


def test_view_customer_during_offered_call_until_wrap_up_ends(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    visibility.open_call_access(session, customer_id=customer.id, agent_id=staff.agent.id, call_ref="CA123")
    card = visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent)
    assert not card.masked and card.access == "call"
    assert _views(session, customer.id)[0].details_dict == {"reason": "call", "call_ref": "CA123"}
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.teammate).masked
    assert visibility.close_call_access(session, call_ref="CA123") == 1
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked


def test_open_call_access_twice_keeps_one_row(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    first = visibility.open_call_access(session, customer_id=customer.id, agent_id=staff.agent.id, call_ref="CA1")
    again = visibility.open_call_access(session, customer_id=customer.id, agent_id=staff.agent.id, call_ref="CA1")
    assert first.id == again.id


def test_call_access_follows_offer_answer_and_wrap_up(session: Session, staff: Staff, clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    args = {"customer_id": customer.id, "agent_id": staff.agent.id, "call_ref": "CA5"}
    visibility.open_call_access(session, **args, until=clock.now() + timedelta(seconds=20))  # offered
    clock.advance(seconds=10)
    visibility.open_call_access(session, **args)  # answered: until the call ends
    clock.advance(minutes=30)
    assert not visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked
    visibility.open_call_access(session, **args, until=clock.now() + timedelta(seconds=60))  # wrap-up
    clock.advance(seconds=60)
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked


def test_call_access_ends_at_until_even_if_never_closed(session: Session, staff: Staff, clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    visibility.open_call_access(session, customer_id=customer.id, agent_id=staff.agent.id, call_ref="CA2",
                                until=clock.now() + timedelta(minutes=10))
    assert not visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked
    clock.advance(minutes=10)
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked


def test_call_access_without_until_is_capped(session: Session, staff: Staff, clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    visibility.open_call_access(session, customer_id=customer.id, agent_id=staff.agent.id, call_ref="CA3")
    clock.advance(visibility.CALL_ACCESS_CAP)
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked


def test_offered_call_card_opens_access_and_returns_full_card(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    card = visibility.offered_call_card(session, customer_id=customer.id, agent_id=staff.agent.id, call_ref="CA4")
    assert not card.masked and card.access == "call"


def test_site_managers_see_their_own_sites_customers(session: Session, staff: Staff) -> None:
    here = make_customer(session, site=staff.site)
    there = make_customer(session, site=staff.other_site)
    for manager in (staff.team_leader, staff.supervisor):
        assert visibility.view_customer(session, customer_id=here.id, viewer=manager).access == "site"
        assert visibility.view_customer(session, customer_id=there.id, viewer=manager).masked
    assert visibility.view_customer(session, customer_id=there.id, viewer=staff.remote_leader).access == "site"


def test_managers_without_the_site_admins_and_qa_see_masked_cards(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    for viewer in (staff.center_head, staff.admin, staff.qa, staff.outsider):
        assert visibility.view_customer(session, customer_id=customer.id, viewer=viewer).masked
    assert _views(session, customer.id) == []


def test_erased_customer_is_masked_for_everyone(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent)
    erase_customer(session, customer_id=customer.id, by=None, reason="left")
    card = visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent)
    assert card.masked and card.erased and card.display_name == "(erased)" and card.phones == []


def test_view_customer_unknown_id_is_not_found(session: Session, staff: Staff) -> None:
    import pytest

    with pytest.raises(visibility.CustomerNotFound):
        visibility.view_customer(session, customer_id=999999, viewer=staff.agent)
