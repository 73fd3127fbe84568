"""Test data for the live pages: a site with a team of agents who have the hotline's skills, their
team leader and supervisor, staff of another site, and a known caller; helpers to drive a call
through the carrier simulator up to the agent's desk. Test modules import what they use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from core.db import session_scope
from core.models import Role, Site, Team, User, UserSkill
from telephony import presence
from tests.factories import make_site, make_team, make_user
from tests.telephony.routing_factories import skill
from tickets.customers import create_customer
from tickets.models.customers import Customer

CALLER = "+8613800138000"
SKILLS = ("inquiry", "complaint", "membership", "operator")


@dataclass
class Desk:
    site: Site
    team: Team
    agent: User
    teammate: User
    team_leader: User
    supervisor: User
    qa: User
    other_site: Site
    other_agent: User
    other_supervisor: User
    customer: Customer


def agent_with_skills(session: Session, **fields: object) -> User:
    user = make_user(session, **fields)  # type: ignore[arg-type]
    for code in SKILLS:
        user.skills.append(UserSkill(skill=skill(session, code), level=3))
    session.commit()
    return user


def make_desk(session: Session) -> Desk:
    site = make_site(session, name="Xuhui Store", timezone="Asia/Shanghai")
    team = make_team(session, site=site, name="Hotline A")
    other_site = make_site(session, name="Pudong Store", timezone="Asia/Shanghai")
    other_team = make_team(session, site=other_site)
    customer = create_customer(session, by=None, audit=False, data={
        "name": "Wang Fang", "phones": [CALLER], "site_id": site.id, "tier": "gold",
        "consent_purposes": ["service"], "consent_method": "phone"})
    session.commit()
    return Desk(
        site=site, team=team,
        agent=agent_with_skills(session, username="agent-a", display_name="An Agent", team=team),
        teammate=agent_with_skills(session, username="agent-b", display_name="Bo Teammate", team=team),
        team_leader=make_user(session, role=Role.team_leader, username="lead", display_name="Li Lead", team=team),
        supervisor=make_user(session, role=Role.supervisor, username="boss", display_name="Zhou Boss", site=site),
        qa=make_user(session, role=Role.qa_inspector, username="qa1", site=site),
        other_site=other_site,
        other_agent=agent_with_skills(session, username="agent-far", display_name="Far Agent", team=other_team),
        other_supervisor=make_user(session, role=Role.supervisor, username="far-boss", site=other_site),
        customer=customer,
    )


@pytest.fixture
def desk(session: Session) -> Desk:
    return make_desk(session)


def set_presence(user: User, state: str) -> None:
    """A presence change in a unit of work of its own, as the agent's own request would make it."""
    with session_scope() as own:
        presence.set_presence(own, user_id=user.id, state=state)


def ring_agent(sim, user: User, *, caller: str = CALLER, key: str = "1") -> str:  # type: ignore[no-untyped-def]
    """A caller dials and chooses; the call is offered to `user` (who must be available) and
    their browser phone rings. Returns the caller's CallSid."""
    sid = sim.place_call(caller)
    sim.pump()
    assert sim.press(sid, key)
    sim.pump()
    assert sim.phone(f"agent_{user.id}").ringing(), sim.heard(sid)
    return sid


def callback_ticket(session: Session, desk: Desk) -> int:
    """A callback request of the known customer, assigned to the agent."""
    from tickets import service as ticket_service

    ticket = ticket_service.open_ticket(session, category="callback_request", by=desk.agent,
                                        customer_id=desk.customer.id)
    session.commit()
    return ticket.id


def grant_for(session: Session, desk: Desk, *, minutes: int = 120, ticket_id: int | None = None) -> int:
    """A supervisor's callback authorisation for the agent, on a callback request of its own."""
    from tickets import grants

    grant = grants.create_grant(session, customer_id=desk.customer.id, agent_id=desk.agent.id,
                                reason="Promised a call back", by=desk.supervisor,
                                ticket_id=ticket_id or callback_ticket(session, desk), duration_minutes=minutes)
    session.commit()
    return grant.id


__all__ = ["CALLER", "Desk", "callback_ticket", "desk", "grant_for", "make_desk", "ring_agent", "set_presence", "timedelta"]
