"""The people services the administration pages need: moving someone to another team or site,
and finding people by site, team, role and whether their account is active."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from core import directory, users
from core.audit import entries_for
from core.errors import ValidationFailed
from core.models import Role
from tests.factories import cheap_password_hashing, make_site, make_team, make_user

__all__ = ["cheap_password_hashing"]


def test_move_to_a_team_takes_its_site_and_is_audited(session: Session) -> None:
    admin = make_user(session, role=Role.admin)
    first, second = make_site(session), make_site(session)
    team = make_team(session, site=second)
    person = make_user(session, site=first)
    users.move(session, user_id=person.id, site_id=None, team_id=team.id, by=admin, source_ip="10.0.0.1")
    session.commit()
    assert (person.site_id, person.team_id) == (second.id, team.id)
    assert person.team is not None and person.team.name == team.name
    entry = entries_for(session, object_type="user", object_id=person.id, action_prefix="user.moved")[0]
    assert entry.actor_id == admin.id and entry.source_ip == "10.0.0.1"
    assert entry.details_dict["from_site_id"] == first.id and entry.details_dict["team_id"] == team.id


def test_move_to_a_site_without_a_team(session: Session) -> None:
    site = make_site(session)
    person = make_user(session, team=make_team(session))
    users.move(session, user_id=person.id, site_id=site.id, team_id=None, by=None)
    assert (person.site_id, person.team_id) == (site.id, None)


def test_move_refuses_a_team_of_another_site(session: Session) -> None:
    person = make_user(session)
    with pytest.raises(ValidationFailed) as refused:
        users.move(session, user_id=person.id, site_id=make_site(session).id, team_id=make_team(session).id, by=None)
    assert refused.value.field == "team_id"


def test_move_refuses_unknown_places_and_non_admins(session: Session) -> None:
    person = make_user(session)
    with pytest.raises(ValidationFailed) as refused:
        users.move(session, user_id=person.id, site_id=999_999, team_id=None, by=None)
    assert refused.value.field == "site_id"
    with pytest.raises(ValidationFailed):
        users.move(session, user_id=person.id, site_id=None, team_id=999_999, by=None)
    with pytest.raises(users.NotAllowed):
        users.move(session, user_id=person.id, site_id=None, team_id=None, by=make_user(session, role=Role.supervisor))


def test_moving_to_the_same_place_writes_nothing(session: Session) -> None:
    team = make_team(session)
    person = make_user(session, team=team)
    users.move(session, user_id=person.id, site_id=team.site_id, team_id=team.id, by=None)
    assert entries_for(session, object_type="user", object_id=person.id, action_prefix="user.moved") == []


def test_find_users_by_activity_site_team_and_role(session: Session) -> None:
    team = make_team(session)
    active = make_user(session, team=team, display_name="A active")
    gone = make_user(session, team=team, display_name="B gone")
    leader = make_user(session, role=Role.team_leader, team=team, display_name="C leader")
    make_user(session, display_name="D elsewhere")
    users.set_active(session, user_id=gone.id, active=False, by=None)
    session.commit()
    assert directory.find_users(session, team_id=team.id) == [active, gone, leader]
    assert directory.find_users(session, site_id=team.site_id, active=True) == [active, leader]
    assert directory.find_users(session, team_id=team.id, active=False) == [gone]
    assert directory.find_users(session, team_id=team.id, role="team_leader") == [leader]
    assert directory.find_users(session, team_id=team.id, limit=1) == [active]
