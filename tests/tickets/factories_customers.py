"""Test data for customers and grants: a cast of staff across two sites, customers made through
the service, unique valid phone numbers, and a collector of published events."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from core import assignments, events, passwords
from core.config import Settings
from core.events import Event
from core.models import Role, Site, Team, User
from tests.factories import make_site, make_team, make_user
from tickets.customers import create_customer
from tickets.models.customers import Customer

_numbers = itertools.count(1)
# The staff are many; argon2 with production parameters would cost ~0.1 s each.
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def next_phone() -> str:
    """A valid Chinese mobile number nobody else in the test run has, written as people do."""
    n = next(_numbers)
    return f"139 {n // 10000:04d} {n % 10000:04d}"


@dataclass
class Staff:
    site: Site
    other_site: Site
    team: Team
    other_team: Team
    agent: User
    teammate: User
    outsider: User  # an agent of the same site, other team
    team_leader: User
    supervisor: User
    center_head: User  # no site: sees aggregates only
    admin: User
    qa: User
    remote_leader: User  # a team leader of the other site
    manager: User  # a team leader of the other team, named manager of the site
    remote_supervisor: User  # a supervisor of the other site
    remote_agent: User  # an agent of the other site


def make_staff(session: Session) -> Staff:
    site, other_site = make_site(session), make_site(session)
    team, other_team = make_team(session, site=site), make_team(session, site=site)
    remote_team = make_team(session, site=other_site)
    staff = Staff(
        site=site, other_site=other_site, team=team, other_team=other_team,
        agent=make_user(session, role=Role.agent, team=team),
        teammate=make_user(session, role=Role.agent, team=team),
        outsider=make_user(session, role=Role.agent, team=other_team),
        team_leader=make_user(session, role=Role.team_leader, team=team),
        supervisor=make_user(session, role=Role.supervisor, site=site),
        center_head=make_user(session, role=Role.center_head),
        admin=make_user(session, role=Role.admin),
        qa=make_user(session, role=Role.qa_inspector, site=site),
        remote_leader=make_user(session, role=Role.team_leader, team=remote_team),
        manager=make_user(session, role=Role.team_leader, team=other_team),
        remote_supervisor=make_user(session, role=Role.supervisor, site=other_site),
        remote_agent=make_user(session, role=Role.agent, team=remote_team),
    )
    assignments.assign_site_manager(session, site_id=site.id, user_id=staff.manager.id, by=None)
    session.commit()
    return staff


@pytest.fixture
def staff(session: Session) -> Iterator[Staff]:
    previous = passwords.use_hasher(_CHEAP_HASHER)
    try:
        yield make_staff(session)
    finally:
        passwords.use_hasher(previous)


def make_customer(session: Session, *, site: Site, name: str = "Wang Li", phones: Sequence[Any] | None = None,
                  owner: User | None = None, consent: Sequence[str] = ("service",), commit: bool = True,
                  **fields: Any) -> Customer:
    data = {"name": name, "phones": list(phones) if phones is not None else [next_phone()], "site_id": site.id,
            "owning_agent_id": owner.id if owner else None, "consent_purposes": list(consent),
            "consent_method": "phone", **fields}
    customer = create_customer(session, data=data, by=None)
    if commit:
        session.commit()
    return customer


def make_ticket_id(session: Session, *, staff: Staff, customer: Customer | None = None) -> int:
    """A real ticket (through the tickets service) for grants and follow-ups to point at."""
    from tickets import service as ticket_service

    ticket = ticket_service.open_ticket(session, category="inquiry", by=staff.agent,
                                        customer_id=customer.id if customer else None)
    session.commit()
    return ticket.id


class Published:
    """Events published (after commit) while the fixture is active, on an in-process bus."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def topics(self) -> list[str]:
        return [e.topic for e in self.events]

    def of(self, topic: str) -> list[Event]:
        return [e for e in self.events if e.topic == topic]


@pytest.fixture
def published(settings: Settings) -> Iterator[Published]:
    bus = events.configure_bus(settings.model_copy(update={"broker_url": None}))
    collector = Published()
    unsubscribe = bus.subscribe(collector)
    yield collector
    unsubscribe()
    events.close_bus()
