"""A small site for scheduling tests: Europe/Berlin, one team, a skill, leaders and agents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy.orm import Session

from core import users
from core.models import Role, Site, Skill, Team, User
from scheduling import shifts
from scheduling.models import ShiftTemplate
from tests.factories import cheap_password_hashing, make_site, make_skill, make_team, make_user


@dataclass
class World:
    site: Site
    team: Team
    other_team: Team
    skill: Skill
    day: ShiftTemplate
    night: ShiftTemplate
    leader: User
    other_leader: User
    supervisor: User
    center_head: User
    agents: list[User]


__all__ = ["cheap_password_hashing"]  # autouse fixture from tests.factories


@pytest.fixture
def world(session: Session) -> World:
    site = make_site(session, timezone="Europe/Berlin")
    team, other_team = make_team(session, site=site), make_team(session, site=site)
    skill = make_skill(session, code="hotline")
    leader = make_user(session, role=Role.team_leader, team=team)
    other_leader = make_user(session, role=Role.team_leader, team=other_team)
    supervisor = make_user(session, role=Role.supervisor, site=site)
    center_head = make_user(session, role=Role.center_head, site=site)
    agents = [make_user(session, team=team if i % 2 == 0 else other_team) for i in range(4)]
    for level, agent in zip((3, 3, 4, 1), agents, strict=True):
        users.set_skill(session, user_id=agent.id, skill_code="hotline", level=level)
    day = shifts.create_template(session, site_id=site.id, name="Day", start="08:00", length_minutes=480,
                                 kind="day", skill_code="hotline")
    night = shifts.create_template(session, site_id=site.id, name="Night", start="22:00", length_minutes=480,
                                   kind="night", skill_code="hotline")
    session.commit()
    return World(site, team, other_team, skill, day, night, leader, other_leader, supervisor, center_head, agents)


def assign(session: Session, world: World, agent: User, day: date, night: bool = False):  # type: ignore[no-untyped-def]
    shift = shifts.assign(session, user_id=agent.id, day=day, template_id=(world.night if night else world.day).id,
                          by=world.leader)
    session.commit()
    return shift
