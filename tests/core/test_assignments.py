"""Named site managers and QA coverage: an administrator's assignment of a person to a site (or a
team), not a role; who may be named; nobody names themselves; a move or a role change ends what
no longer fits; every change audited."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from core import assignments, audit, users
from core.errors import NotFound, PermissionDenied
from core.models import Role
from tests.factories import make_site, make_team, make_user


@pytest.fixture
def place(session: Session):  # type: ignore[no-untyped-def]
    site, other = make_site(session), make_site(session)
    team = make_team(session, site=site)
    return site, other, team


def test_assign_site_manager_is_audited_and_named(session: Session, place) -> None:  # type: ignore[no-untyped-def]
    site, other, team = place
    admin = make_user(session, role=Role.admin)
    leader = make_user(session, role=Role.team_leader, team=team)
    supervisor = make_user(session, role=Role.supervisor, site=site)
    named = assignments.assign_site_manager(session, site_id=site.id, user_id=leader.id, by=admin, source_ip="10.0.0.1")
    assert assignments.is_site_manager(session, user_id=leader.id, site_id=site.id)
    assert not assignments.is_site_manager(session, user_id=supervisor.id, site_id=site.id)
    assert not assignments.is_site_manager(session, user_id=leader.id, site_id=other.id)
    assert assignments.managed_site_ids(session, user_id=leader.id) == {site.id}
    entry = audit.entries_for(session, action_prefix="site.assignment_added")[0]
    assert (entry.actor_id, entry.object_id, entry.source_ip) == (admin.id, str(site.id), "10.0.0.1")
    assert entry.details_dict == {"assignment_id": named.id, "kind": "site_manager", "user_id": leader.id,
                                  "team_id": None}
    with pytest.raises(assignments.AlreadyAssigned):
        assignments.assign_site_manager(session, site_id=site.id, user_id=leader.id, by=admin)


def test_only_an_administrator_names_and_nobody_names_themselves(session: Session, place) -> None:  # type: ignore[no-untyped-def]
    site, _other, team = place
    supervisor = make_user(session, role=Role.supervisor, site=site)
    leader = make_user(session, role=Role.team_leader, team=team)
    with pytest.raises(PermissionDenied):
        assignments.assign_site_manager(session, site_id=site.id, user_id=supervisor.id, by=supervisor)
    with pytest.raises(PermissionDenied):
        assignments.assign_site_manager(session, site_id=site.id, user_id=leader.id, by=supervisor)
    admin = make_user(session, role=Role.admin, site=site)
    with pytest.raises(assignments.NotAssignable) as caught:
        assignments.assign_site_manager(session, site_id=site.id, user_id=admin.id, by=admin)
    assert caught.value.field == "user_id" and "themselves" in caught.value.message


def test_who_may_be_named(session: Session, place) -> None:  # type: ignore[no-untyped-def]
    site, other, team = place
    admin = make_user(session, role=Role.admin)
    for role in (Role.agent, Role.qa_inspector, Role.admin):
        person = make_user(session, role=role, team=team)
        with pytest.raises(assignments.NotAssignable):
            assignments.assign_site_manager(session, site_id=site.id, user_id=person.id, by=admin)
    elsewhere = make_user(session, role=Role.supervisor, site=other)
    with pytest.raises(assignments.NotAssignable) as caught:
        assignments.assign_site_manager(session, site_id=site.id, user_id=elsewhere.id, by=admin)
    assert "move the person" in caught.value.message
    inactive = make_user(session, role=Role.supervisor, site=site)
    users.set_active(session, user_id=inactive.id, active=False, by=admin)
    with pytest.raises(assignments.NotAssignable):
        assignments.assign_site_manager(session, site_id=site.id, user_id=inactive.id, by=admin)
    with pytest.raises(NotFound):
        assignments.assign_site_manager(session, site_id=999999, user_id=elsewhere.id, by=admin)


def test_qa_coverage_of_a_site_or_one_team(session: Session, place) -> None:  # type: ignore[no-untyped-def]
    site, other, team = place
    admin = make_user(session, role=Role.admin)
    inspector = make_user(session, role=Role.qa_inspector)
    assignments.assign_qa_coverage(session, site_id=other.id, user_id=inspector.id, by=admin)
    assignments.assign_qa_coverage(session, site_id=site.id, team_id=team.id, user_id=inspector.id, by=admin)
    assert assignments.qa_coverage(session, user_id=inspector.id) == ({other.id}, {team.id})
    with pytest.raises(assignments.NotAssignable) as caught:
        assignments.assign_qa_coverage(session, site_id=other.id, team_id=team.id, user_id=inspector.id, by=admin)
    assert caught.value.field == "team_id"
    leader = make_user(session, role=Role.team_leader, team=team)
    with pytest.raises(assignments.NotAssignable):
        assignments.assign_qa_coverage(session, site_id=site.id, user_id=leader.id, by=admin)


def test_remove_is_audited_and_scoped_to_its_site(session: Session, place) -> None:  # type: ignore[no-untyped-def]
    site, other, team = place
    admin = make_user(session, role=Role.admin)
    leader = make_user(session, role=Role.team_leader, team=team)
    named = assignments.assign_site_manager(session, site_id=site.id, user_id=leader.id, by=admin)
    with pytest.raises(assignments.AssignmentNotFound):
        assignments.remove(session, assignment_id=named.id, site_id=other.id, by=admin)
    assignments.remove(session, assignment_id=named.id, site_id=site.id, by=admin)
    assert not assignments.is_site_manager(session, user_id=leader.id, site_id=site.id)
    assert audit.entries_for(session, action_prefix="site.assignment_removed")[0].actor_id == admin.id


def test_a_role_change_or_a_move_ends_what_no_longer_fits(session: Session, place) -> None:  # type: ignore[no-untyped-def]
    site, other, team = place
    admin = make_user(session, role=Role.admin)
    leader = make_user(session, role=Role.team_leader, team=team)
    supervisor = make_user(session, role=Role.supervisor, site=site)
    for person in (leader, supervisor):
        assignments.assign_site_manager(session, site_id=site.id, user_id=person.id, by=admin)
    users.change_role(session, user_id=leader.id, role=Role.agent, by=admin)
    assert not assignments.is_site_manager(session, user_id=leader.id, site_id=site.id)
    users.move(session, user_id=supervisor.id, site_id=site.id, team_id=team.id, by=admin)  # still at the site
    assert assignments.is_site_manager(session, user_id=supervisor.id, site_id=site.id)
    users.move(session, user_id=supervisor.id, site_id=other.id, team_id=None, by=admin)
    assert not assignments.is_site_manager(session, user_id=supervisor.id, site_id=site.id)
    assert len(audit.entries_for(session, action_prefix="site.assignment_removed")) == 2
