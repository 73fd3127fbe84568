"""A small call center for QA tests: one site (Asia/Shanghai) with two teams, a far site, agents,
inspectors scoped by site, by team and by nothing, the management ladder, and recorded calls."""

from __future__ import annotations

import io
import itertools
import wave
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.models import Role, Site, Team, User
from core.storage import get_storage
from telephony.models import Call, Recording
from tests.factories import cheap_password_hashing, make_site, make_team, make_user
from tickets import service as ticket_service
from tickets.models.customers import CareFollowUp
from tickets.models.tickets import Ticket

__all__ = ["cheap_password_hashing"]  # autouse for every QA test: people are made in bulk here

_sids = itertools.count(1)


@dataclass
class World:
    site: Site
    team: Team
    other_team: Team
    far_site: Site
    far_team: Team
    agents: list[User]
    other_agent: User
    far_agent: User
    inspector: User  # site-scoped
    team_inspector: User  # scoped to `team` only (no site)
    loose_inspector: User  # neither site nor team: hears only what is assigned
    far_inspector: User
    leader: User
    other_leader: User
    supervisor: User
    head: User
    admin: User


@pytest.fixture
def world(session: Session, clock: Any) -> World:
    """Long-serving staff (they joined in 2025, so sampling does not treat them as new agents)."""
    today = clock.now()
    clock.set(datetime(2025, 1, 2, tzinfo=UTC))
    try:
        return _world(session)
    finally:
        clock.set(today)


def _world(session: Session) -> World:
    site = make_site(session, timezone="Asia/Shanghai")
    far_site = make_site(session, timezone="Europe/Paris")
    team, other_team, far_team = make_team(session, site=site), make_team(session, site=site), \
        make_team(session, site=far_site)
    return World(
        site=site, team=team, other_team=other_team, far_site=far_site, far_team=far_team,
        agents=[make_user(session, team=team) for _ in range(3)],
        other_agent=make_user(session, team=other_team),
        far_agent=make_user(session, team=far_team),
        inspector=make_user(session, role=Role.qa_inspector, site=site),
        team_inspector=_team_only(session, make_user(session, role=Role.qa_inspector, team=team)),
        loose_inspector=make_user(session, role=Role.qa_inspector),
        far_inspector=make_user(session, role=Role.qa_inspector, site=far_site),
        leader=make_user(session, role=Role.team_leader, team=team),
        other_leader=make_user(session, role=Role.team_leader, team=other_team),
        supervisor=make_user(session, role=Role.supervisor, site=site),
        head=make_user(session, role=Role.center_head),
        admin=make_user(session, role=Role.admin),
    )


def _team_only(session: Session, user: User) -> User:
    user.site_id = None
    session.commit()
    return user


def record_call(session: Session, *, agent: User | None, started_at: datetime, duration: int = 180,
                ticket: Ticket | None = None, status: str = "completed", kind: str = "call",
                with_media: bool = False, commit: bool = True) -> Recording:
    """An answered (when `agent` is given) caller leg and its recording, as telephony leaves them."""
    n = next(_sids)
    call = Call(call_sid=f"CA{n:032d}", leg="caller", direction="inbound", status="completed",
                started_at=started_at, answered_at=started_at, ended_at=started_at + timedelta(seconds=duration + 20),
                duration_seconds=duration + 20, agent_id=agent.id if agent else None,
                ticket_id=ticket.id if ticket else None, category=ticket.category if ticket else "inquiry",
                site_id=agent.site_id if agent else None)
    session.add(call)
    session.flush()
    recording = Recording(recording_sid=f"RE{n:032d}", call_id=call.id, kind=kind, status=status,
                          duration_seconds=duration, channels=2, started_at=started_at,
                          ticket_id=ticket.id if ticket else None)
    if with_media:
        media = io.BytesIO()
        with wave.open(media, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\x00\x00" * 800)
        recording.media_key = f"recordings/{recording.recording_sid}.wav"
        recording.sha256 = get_storage().put(recording.media_key, media.getvalue()).sha256
    session.add(recording)
    session.flush()
    if commit:
        session.commit()
    return recording


def make_ticket(session: Session, *, site: Site, category: str = "inquiry", escalated: bool = False,
                **values: Any) -> Ticket:
    ticket = ticket_service.open_ticket(session, category=category, site_id=site.id, **values)
    if escalated:
        ticket.escalation_level = 1
    session.commit()
    return ticket


def rate_followup(session: Session, *, ticket: Ticket, satisfaction: int) -> CareFollowUp:
    from tests.tickets.factories_tickets import make_customer

    customer = make_customer(session, site=session.get(Site, ticket.site_id))  # type: ignore[arg-type]
    followup = CareFollowUp(customer_id=customer.id, ticket_id=ticket.id, kind="satisfaction",
                            due_at=ticket.created_at, status="done", satisfaction=satisfaction)
    session.add(followup)
    session.commit()
    return followup


def default_answers(card: Any, **overrides: Any) -> list[dict[str, Any]]:
    """Full marks on every scored question of the card, with `code=value` (or `code=None` for N/A)."""
    answers = []
    for question in card.questions:
        if question.bonus:
            continue
        value: Any = question.max_points
        if question.code in overrides:
            value = overrides[question.code]
        answers.append({"question_id": question.id, "value": value, "not_applicable": value is None})
    return answers


def evaluate(session: Session, *, by: User, agent: User, started_at: datetime, commit: bool = True,
             **answers: Any) -> Any:
    """A submitted evaluation of a new recording of `agent`, full marks but for `answers`."""
    from qa import evaluations, scorecards

    card = scorecards.active(session)
    recording = record_call(session, agent=agent, started_at=started_at, commit=False)
    draft = evaluations.create_draft(session, recording_id=recording.id, by=by)
    evaluations.save(session, evaluation_id=draft.id, by=by, answers=default_answers(card, **answers))
    submitted = evaluations.submit(session, evaluation_id=draft.id, by=by)
    if commit:
        session.commit()
    return submitted
