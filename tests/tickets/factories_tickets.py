"""Test data for tickets: a small call center (two teams of one site, the whole ladder, a QA
inspector, an agent of another site), customers with a phone and a tier, and tickets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core import passwords
from core.crypto import normalise_phone, phone_index
from core.models import Role, Site, Team, User
from tests.factories import FAST_HASHER, make_site, make_team, make_user
from tickets import service
from tickets.models.customers import Customer, CustomerPhone
from tickets.models.tickets import Ticket


@dataclass
class World:
    site: Site
    team: Team
    other_team: Team
    agent: User
    teammate: User
    other_agent: User
    leader: User
    other_leader: User
    supervisor: User
    head: User
    qa: User
    far_site: Site
    far_agent: User


def make_world(session: Session) -> World:
    site = make_site(session, timezone="Asia/Shanghai")
    far_site = make_site(session, timezone="Europe/Paris")
    team, other_team = make_team(session, site=site), make_team(session, site=site)
    return World(
        site=site, team=team, other_team=other_team,
        agent=make_user(session, role=Role.agent, team=team),
        teammate=make_user(session, role=Role.agent, team=team),
        other_agent=make_user(session, role=Role.agent, team=other_team),
        leader=make_user(session, role=Role.team_leader, team=team),
        other_leader=make_user(session, role=Role.team_leader, team=other_team),
        supervisor=make_user(session, role=Role.supervisor, site=site),
        head=make_user(session, role=Role.center_head),
        qa=make_user(session, role=Role.qa_inspector, site=site),
        far_site=far_site,
        far_agent=make_user(session, role=Role.agent, team=make_team(session, site=far_site)),
    )


@pytest.fixture
def world(session: Session) -> Iterator[World]:
    previous = passwords.use_hasher(FAST_HASHER)  # argon2's production cost is for production
    try:
        yield make_world(session)
    finally:
        passwords.use_hasher(previous)


_phones = iter(range(10_000_000, 99_999_999))


def make_customer(session: Session, *, site: Site, tier: str = "normal", phone: str | None = None,
                  commit: bool = True) -> Customer:
    number = normalise_phone(phone or f"+86138{next(_phones):08d}")
    customer = Customer(site_id=site.id, tier=tier, phones=[
        CustomerPhone(number=number, number_index=phone_index(number), is_primary=True)])
    session.add(customer)
    session.flush()
    if commit:
        session.commit()
    return customer


def make_ticket(session: Session, *, by: User | None = None, site: Site | None = None, category: str = "inquiry",
                commit: bool = True, **values: Any) -> Ticket:
    site_id = site.id if site is not None else (by.site_id if by is not None else None)
    ticket = service.open_ticket(session, category=category, site_id=site_id, by=by, **values)
    if commit:
        session.commit()
    return ticket


def reload(session: Session, ticket: Ticket) -> Ticket:
    session.expire_all()
    fresh = session.get(Ticket, ticket.id)
    assert fresh is not None
    return fresh
