"""Callback authorisations: who grants, how long, no overlaps, and the live check at every use,
so an expired or revoked grant refuses the view and the dial at that very moment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from core import audit
from core.clock import FrozenClock
from core.errors import Conflict, PermissionDenied, ValidationFailed
from tests.tickets.factories_customers import (  # noqa: F401
    Published, Staff, make_customer, make_ticket_id, published, staff,
)
from tickets import grants, visibility


def _grant(session: Session, staff: Staff, customer_id: int, **extra: object) -> grants.CallbackGrant:
    values: dict[str, object] = {"customer_id": customer_id, "agent_id": staff.agent.id,
                                 "reason": "complaint follow-up", "by": staff.supervisor, **extra}
    grant = grants.create_grant(session, **values)  # type: ignore[arg-type]
    session.commit()
    return grant


def test_create_grant_default_window_audited_and_announced(session: Session, staff: Staff, clock: FrozenClock,
                                                           published: Published) -> None:
    customer = make_customer(session, site=staff.site)
    ticket_id = make_ticket_id(session, staff=staff, customer=customer)
    grant = _grant(session, staff, customer.id, ticket_id=ticket_id)
    assert grant.starts_at == clock.now() and grant.expires_at == clock.now() + timedelta(hours=2)
    assert grant.is_live() and grant.granted_by_id == staff.supervisor.id and grant.ticket_id == ticket_id
    entry = audit.entries_for(session, object_type="callback_grant", object_id=grant.id)[0]
    assert entry.action == "grant.created" and entry.actor_id == staff.supervisor.id
    event = published.of("grant.changed")[0]
    assert event.payload == {"change": "granted", "grant_id": grant.id, "customer_id": customer.id,
                             "agent_id": staff.agent.id, "ticket_id": ticket_id,
                             "expires_at": grant.expires_at.isoformat()}


def test_view_with_a_live_grant_is_full_and_audits_the_use(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked
    grant = _grant(session, staff, customer.id)
    card = visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent)
    assert not card.masked and card.access == "grant"
    view = audit.entries_for(session, object_type="customer", object_id=customer.id)[0]
    assert view.action == "customer.viewed" and view.details_dict == {"reason": "grant", "grant_id": grant.id}
    use = audit.entries_for(session, object_type="callback_grant", object_id=grant.id, action_prefix="grant.used")[0]
    assert use.details_dict["purpose"] == "view" and use.actor_id == staff.agent.id


def test_expired_grant_refuses_view_and_dial(session: Session, staff: Staff, clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    grant = _grant(session, staff, customer.id, duration_minutes=30)
    assert grants.callback_target(session, customer_id=customer.id, agent_id=staff.agent.id).number.startswith("+86")
    clock.advance(minutes=30)
    with pytest.raises(grants.GrantExpired):
        grants.require_live_grant(session, customer_id=customer.id, agent_id=staff.agent.id)
    with pytest.raises(grants.GrantExpired):
        grants.callback_target(session, customer_id=customer.id, agent_id=staff.agent.id)
    with pytest.raises(grants.GrantExpired):
        grants.use_grant(session, grant=grant, purpose="view")
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked


def test_revoked_grant_refuses_view_and_dial(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    grant = _grant(session, staff, customer.id)
    grants.revoke_grant(session, grant_id=grant.id, by=staff.supervisor)
    session.commit()
    with pytest.raises(grants.GrantRevoked) as caught:
        grants.callback_target(session, customer_id=customer.id, agent_id=staff.agent.id)
    assert isinstance(caught.value, PermissionDenied) and "revoked" in caught.value.message
    assert visibility.view_customer(session, customer_id=customer.id, viewer=staff.agent).masked
    assert audit.entries_for(session, object_type="callback_grant", object_id=grant.id)[0].action == "grant.revoked"


def test_no_grant_at_all(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    with pytest.raises(grants.NoGrant):
        grants.require_live_grant(session, customer_id=customer.id, agent_id=staff.agent.id)


def test_dial_audits_the_use_and_needs_a_grant_even_for_the_owner(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, owner=staff.agent, phones=["138 0013 8100"])
    with pytest.raises(grants.NoGrant):
        grants.callback_target(session, customer_id=customer.id, agent_id=staff.agent.id)
    grant = _grant(session, staff, customer.id)
    target = grants.callback_target(session, customer_id=customer.id, agent_id=staff.agent.id)
    assert target == grants.CallbackTarget(grant.id, customer.id, staff.agent.id, "+8613800138100")
    use = audit.entries_for(session, object_type="callback_grant", object_id=grant.id)[0]
    assert use.action == "grant.used" and use.details_dict["purpose"] == "dial" and "138" not in (use.details or "")


def test_grant_longer_than_the_maximum_is_refused(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    with pytest.raises(ValidationFailed) as caught:
        _grant(session, staff, customer.id, duration_minutes=24 * 60 + 1)
    assert caught.value.items() == [{"loc": ["duration_minutes"], "msg": "An authorisation lasts at most 24 hours.",
                                     "params": {"hours": "24"}}]
    assert _grant(session, staff, customer.id, duration_minutes=24 * 60).is_live()


def test_overlapping_grant_is_refused_and_extension_suggested(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    _grant(session, staff, customer.id)
    with pytest.raises(grants.GrantOverlap) as caught:
        _grant(session, staff, customer.id)
    assert isinstance(caught.value, Conflict) and "extend" in caught.value.message
    # Another agent, or the same agent once the first has ended, is fine.
    _grant(session, staff, customer.id, agent_id=staff.teammate.id)


def test_new_grant_after_the_previous_expired(session: Session, staff: Staff, clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    _grant(session, staff, customer.id)
    clock.advance(hours=2)
    assert _grant(session, staff, customer.id).is_live()


def _refusals(session: Session) -> list[dict[str, object]]:
    return [e.details_dict for e in audit.entries_for(session, action_prefix="grant.refused")]


def test_nobody_grants_themselves(session: Session, staff: Staff) -> None:
    """The finding: a team leader, a supervisor and a center head each granted themselves access
    to a customer (the team leader's of another site) and read the full card."""
    here, there = make_customer(session, site=staff.site), make_customer(session, site=staff.other_site)
    cases = [(staff.remote_leader, here), (staff.team_leader, there), (staff.supervisor, here),
             (staff.manager, there), (staff.center_head, there)]
    for person, customer in cases:
        with pytest.raises(grants.GrantToSelf):
            _grant(session, staff, customer.id, by=person, agent_id=person.id)
        assert visibility.view_customer(session, customer_id=customer.id, viewer=person).masked
    assert [r["refused"] for r in _refusals(session)] == ["self"] * len(cases)


def test_the_grantee_works_at_the_customers_site(session: Session, staff: Staff) -> None:
    """The finding: a supervisor granted an agent of site 1 access to a customer of site 2."""
    there = make_customer(session, site=staff.other_site)
    with pytest.raises(grants.GranteeOtherSite):
        _grant(session, staff, there.id, by=staff.supervisor, agent_id=staff.agent.id)
    with pytest.raises(grants.GranteeOtherSite):
        _grant(session, staff, there.id, by=staff.center_head, agent_id=staff.agent.id)
    assert _grant(session, staff, there.id, by=staff.center_head, agent_id=staff.remote_agent.id).is_live()
    assert visibility.view_customer(session, customer_id=there.id, viewer=staff.agent).masked


def test_who_may_grant(session: Session, staff: Staff) -> None:
    """The customer's named site manager, a supervisor of that site, the center head across sites;
    not a team leader who is not named, nor a supervisor of another site."""
    customer = make_customer(session, site=staff.site)
    by_manager = _grant(session, staff, customer.id, by=staff.manager, agent_id=staff.agent.id)
    by_supervisor = _grant(session, staff, customer.id, by=staff.supervisor, agent_id=staff.teammate.id)
    by_head = _grant(session, staff, customer.id, by=staff.center_head, agent_id=staff.outsider.id)
    bases = {e.object_id: e.details_dict["basis"] for e in audit.entries_for(session, action_prefix="grant.created")}
    assert bases == {str(by_manager.id): "site_manager", str(by_supervisor.id): "supervisor",
                     str(by_head.id): "center_head"}
    for person in (staff.team_leader, staff.remote_supervisor, staff.remote_leader):
        with pytest.raises(grants.GrantingNotAllowed) as caught:
            _grant(session, staff, customer.id, by=person, agent_id=staff.team_leader.id
                   if person is not staff.team_leader else staff.manager.id)
        assert caught.value.code == "grant_not_grantor"
    assert [r["refused"] for r in _refusals(session)] == ["not_grantor"] * 3
    assert all(r["customer_id"] == customer.id and r["attempted"] == "grant" for r in _refusals(session))


def test_a_grants_whole_life_never_passes_the_maximum(session: Session, staff: Staff, clock: FrozenClock) -> None:
    """The finding: one grant extended three times lived 93 h. Extensions move the expiry, but
    never past the start plus HOTLINE_GRANT_MAX_SECONDS (24 h); each refusal is audited."""
    customer = make_customer(session, site=staff.site)
    grant = _grant(session, staff, customer.id)
    clock.advance(hours=1)
    for minutes in (24 * 60, 23 * 60 + 1):
        with pytest.raises(ValidationFailed) as caught:
            grants.extend_grant(session, grant_id=grant.id, by=staff.supervisor, duration_minutes=minutes)
        assert caught.value.errors[0]["loc"] == ["duration_minutes"]
        assert "24 hours in all, extensions included" in caught.value.items()[0]["msg"]
    grants.extend_grant(session, grant_id=grant.id, by=staff.supervisor, duration_minutes=23 * 60)
    clock.advance(hours=22, minutes=59)
    with pytest.raises(ValidationFailed):
        grants.extend_grant(session, grant_id=grant.id, by=staff.supervisor, duration_minutes=60)
    assert grant.expires_at - grant.starts_at == timedelta(hours=24)
    assert [r["refused"] for r in _refusals(session)] == ["too_long"] * 3


def test_extend_and_revoke_follow_the_grant_rules(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    grant = _grant(session, staff, customer.id, by=staff.manager)
    with pytest.raises(grants.GrantToSelf):
        grants.extend_grant(session, grant_id=grant.id, by=staff.agent, duration_minutes=240)
    with pytest.raises(grants.GrantingNotAllowed):
        grants.extend_grant(session, grant_id=grant.id, by=staff.team_leader, duration_minutes=240)
    with pytest.raises(grants.GrantingNotAllowed):
        grants.revoke_grant(session, grant_id=grant.id, by=staff.remote_supervisor)
    assert [r["attempted"] for r in _refusals(session)] == ["revoke", "extend", "extend"]
    grants.extend_grant(session, grant_id=grant.id, by=staff.supervisor, duration_minutes=240)
    assert grants.revoke_grant(session, grant_id=grant.id, by=staff.manager).revoked_at is not None


def test_grantable_people_are_the_sites_own(session: Session, staff: Staff) -> None:
    people = {p.id for p in grants.grantable_people(session, by=staff.supervisor)}
    assert {staff.agent.id, staff.teammate.id, staff.outsider.id, staff.team_leader.id, staff.manager.id} <= people
    assert staff.supervisor.id not in people and staff.remote_agent.id not in people
    assert grants.grantable_people(session, by=staff.team_leader) == []
    assert staff.remote_agent.id in {p.id for p in grants.grantable_people(session, by=staff.center_head)}
    assert grants.may_grant_at_all(session, by=staff.manager) and not grants.may_grant_at_all(session, by=staff.agent)


@pytest.mark.parametrize("role", ["agent", "admin", "qa"])
def test_agents_admins_and_qa_cannot_grant(session: Session, staff: Staff, role: str) -> None:
    customer = make_customer(session, site=staff.site)
    with pytest.raises(PermissionDenied):
        _grant(session, staff, customer.id, by=getattr(staff, role), agent_id=staff.teammate.id)


def test_grant_to_an_admin_is_refused(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    with pytest.raises(ValidationFailed) as caught:
        _grant(session, staff, customer.id, agent_id=staff.admin.id)
    assert caught.value.errors[0]["loc"] == ["agent_id"]


def test_extend_and_revoke(session: Session, staff: Staff, clock: FrozenClock, published: Published) -> None:
    customer = make_customer(session, site=staff.site)
    grant = _grant(session, staff, customer.id)
    clock.advance(hours=1)
    grants.extend_grant(session, grant_id=grant.id, by=staff.manager, duration_minutes=180)
    session.commit()
    assert grant.expires_at == clock.now() + timedelta(hours=3)
    with pytest.raises(ValidationFailed):
        grants.extend_grant(session, grant_id=grant.id, by=staff.supervisor, duration_minutes=25 * 60)
    grants.revoke_grant(session, grant_id=grant.id, by=staff.supervisor)
    session.commit()
    with pytest.raises(Conflict):
        grants.extend_grant(session, grant_id=grant.id, by=staff.supervisor)
    assert [e.payload["change"] for e in published.of("grant.changed")] == ["granted", "extended", "revoked"]
    actions = [e.action for e in audit.entries_for(session, object_type="callback_grant", object_id=grant.id)]
    assert actions == ["grant.revoked", "grant.extended", "grant.created"]


def test_grant_for_ivr_callback_is_by_the_system_and_idempotent(session: Session, staff: Staff,
                                                                 clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    ticket_id = make_ticket_id(session, staff=staff, customer=customer)
    grant = grants.grant_for_ivr_callback(session, customer_id=customer.id, agent_id=staff.agent.id,
                                          ticket_id=ticket_id)
    assert grant.granted_by_id is None and grant.granted_by_name == "system:ivr" and grant.ticket_id == ticket_id
    clock.advance(minutes=30)
    again = grants.grant_for_ivr_callback(session, customer_id=customer.id, agent_id=staff.agent.id,
                                          ticket_id=ticket_id)
    assert again.id == grant.id and again.expires_at == clock.now() + timedelta(hours=2)
    for _ in range(30):  # asked again and again: the grant's whole life stays within the maximum
        clock.advance(hours=1)
        again = grants.grant_for_ivr_callback(session, customer_id=customer.id, agent_id=staff.agent.id,
                                              ticket_id=ticket_id)
        if again.id != grant.id:
            break
    assert grant.expires_at == grant.starts_at + timedelta(hours=24)


def test_record_expiries_once_with_an_event(session: Session, staff: Staff, clock: FrozenClock,
                                            published: Published) -> None:
    customer = make_customer(session, site=staff.site)
    grant = _grant(session, staff, customer.id)
    assert grants.record_expiries(session) == 0
    clock.advance(hours=2)
    assert grants.record_expiries(session) == 1
    session.commit()
    assert grants.record_expiries(session) == 0
    session.commit()
    assert grant.expiry_recorded_at == clock.now()
    assert [e.payload["grant_id"] for e in published.of("grant.expired")] == [grant.id]
    assert audit.entries_for(session, object_type="callback_grant", object_id=grant.id)[0].action == "grant.expired"


def test_list_grants_by_role(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site)
    mine = _grant(session, staff, customer.id)
    theirs = _grant(session, staff, customer.id, agent_id=staff.outsider.id)
    assert [g.id for g in grants.list_grants(session, viewer=staff.agent)[0]] == [mine.id]
    assert [g.id for g in grants.list_grants(session, viewer=staff.team_leader)[0]] == [mine.id]
    rows, count = grants.list_grants(session, viewer=staff.supervisor)
    assert count == 2 and {g.id for g in rows} == {mine.id, theirs.id}


def test_erasure_revokes_live_grants(session: Session, staff: Staff) -> None:
    from tickets.customers import erase_customer

    customer = make_customer(session, site=staff.site)
    grant = _grant(session, staff, customer.id)
    erase_customer(session, customer_id=customer.id, by=None, reason="left")
    session.commit()
    session.refresh(grant)
    assert grant.revoked_at is not None and grant.revoked_by_name == "system:erasure"
    with pytest.raises(Conflict):
        _grant(session, staff, customer.id, agent_id=staff.teammate.id)


def test_expiry_sweep_task_records_once(session: Session, staff: Staff, clock: FrozenClock) -> None:
    from tickets import tasks

    customer = make_customer(session, site=staff.site)
    _grant(session, staff, customer.id, duration_minutes=5)
    clock.advance(minutes=5)
    assert tasks.record_grant_expiries() == 1
    assert tasks.record_grant_expiries() == 0
