"""Who sees a customer's details: the owner, the agent of the call being offered until wrap-up
ends, a manager of the customer's site, a live grant; everyone else a masked card. Full views
are audited with the reason; masked ones are not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from core import audit
from core.clock import FrozenClock
from core.config import Settings
from core.errors import PermissionDenied
from tests.tickets.factories_customers import Staff, make_customer, staff  # noqa: F401
from tickets import visibility
from tickets.customers import erase_customer, update_customer
from tickets.grants import create_grant


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


def test_named_site_managers_see_their_own_sites_customers(session: Session, staff: Staff) -> None:
    here = make_customer(session, site=staff.site)
    there = make_customer(session, site=staff.other_site)
    assert visibility.view_customer(session, customer_id=here.id, viewer=staff.manager).access == "site"
    assert visibility.view_customer(session, customer_id=there.id, viewer=staff.manager).masked
    assert _views(session, here.id)[0].details_dict == {"reason": "site"}


def test_managers_of_a_site_who_are_not_named_see_masked_cards(session: Session, staff: Staff) -> None:
    """The finding: every team leader, supervisor and center head attached to a site saw all of
    its customers in full. Only the site's named managers do."""
    from core import users

    here = make_customer(session, site=staff.site, email="w@example.com")
    head_here = users.move(session, user_id=staff.center_head.id, site_id=staff.site.id, team_id=None, by=None)
    for viewer in (staff.team_leader, staff.supervisor, head_here, staff.remote_leader):
        card = visibility.view_customer(session, customer_id=here.id, viewer=viewer)
        assert card.masked and card.email is None and card.address is None
    assert _views(session, here.id) == []


def test_a_manager_who_moves_away_is_no_longer_named(session: Session, staff: Staff) -> None:
    from core import users

    here = make_customer(session, site=staff.site)
    users.move(session, user_id=staff.manager.id, site_id=staff.other_site.id, team_id=None, by=None)
    assert visibility.view_customer(session, customer_id=here.id, viewer=staff.manager).masked
    removed = audit.entries_for(session, action_prefix="site.assignment_removed")[0]
    assert removed.details_dict["because"] == "no_longer_eligible" and removed.object_id == str(staff.site.id)


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


# Registered workstations (network allow-list) ------------------------------------------------

def test_workstation_allow_list_is_off_by_default(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent)
    assert visibility.workstation_allowed(None) and visibility.workstation_allowed("203.0.113.9")
    assert not visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked


def test_details_only_from_registered_workstations_and_refusals_audited(
        session: Session, staff: Staff, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "workstation_networks", ["10.20.0.0/16", "192.0.2.7"])
    customer = make_customer(session, site=staff.site, owner=staff.agent, name="Wang Li")
    inside = visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent, source_ip="10.20.3.4")
    assert not inside.masked and inside.display_name == "Wang Li"
    assert not visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent,
                                        source_ip="192.0.2.7").masked
    for elsewhere in ("10.21.0.1", "192.0.2.8", None, "not-an-address"):
        card = visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent, source_ip=elsewhere)
        assert card.masked and card.display_name == "W. L." and card.email is None
    assert len(_views(session, customer.id)) == 2  # only the two full views
    refused = audit.entries_for(session, object_type="customer", object_id=customer.id,
                                action_prefix="customer.view_refused")
    assert len(refused) == 4 and refused[0].details_dict == {"reason": "ownership", "refused": "workstation"}
    assert {entry.source_ip for entry in refused} == {"10.21.0.1", "192.0.2.8", None, "not-an-address"}
    # Someone who could not see the details anyway is not recorded as refused.
    visibility.view_customer(session, customer_id=customer.id, viewer=staff.teammate, source_ip="10.21.0.1")
    assert len(audit.entries_for(session, object_type="customer", object_id=customer.id,
                                 action_prefix="customer.view_refused")) == 4


def test_a_grant_is_not_used_from_an_unregistered_workstation(
        session: Session, staff: Staff, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "workstation_networks", ["10.20.0.0/16"])
    customer = make_customer(session, site=staff.site, owner=staff.teammate)
    create_grant(session, customer_id=customer.id, agent_id=staff.agent.id, reason="callback", by=staff.supervisor)
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent, source_ip="8.8.8.8").masked
    assert audit.entries_for(session, object_type="callback_grant", action_prefix="grant.used") == []
    assert not visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent,
                                        source_ip="10.20.0.9").masked


def test_change_of_details_from_an_unregistered_workstation_is_refused(
        session: Session, staff: Staff, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "workstation_networks", ["10.20.0.0/16"])
    customer = make_customer(session, site=staff.site, owner=staff.agent, name="Wang Li")
    with pytest.raises(PermissionDenied, match="registered workstation"):
        update_customer(session, customer_id=customer.id, changes={"name": "Li Wang"}, by=staff.agent,
                        requested_by_customer=True, source_ip="8.8.8.8")
    update_customer(session, customer_id=customer.id, changes={"name": "Li Wang"}, by=staff.agent,
                    requested_by_customer=True, source_ip="10.20.1.1")
    assert customer.name == "Li Wang"


def test_workstation_networks_setting_refuses_a_malformed_entry() -> None:
    assert Settings(workstation_networks="10.20.0.0/16, 192.0.2.7").workstation_networks == [
        "10.20.0.0/16", "192.0.2.7"]
    with pytest.raises(ValidationError, match="not an address or network"):
        Settings(workstation_networks="10.20.0.0/16,office-3")
