"""Who hears a recording, by assignment: the agent their own calls, a team leader their team's, a
QA inspector the teams or sites they are assigned to (their place, an administrator's coverage,
a recording sampling handed them), a supervisor their site's, the center head every site's. Every
route that serves audio answers alike (one check), each listen and each refusal audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import assignments, audit
from core.clock import FrozenClock
from core.models import Role, User
from tests.factories import fresh, make_api_token, make_user
from tests.qa.conftest import World, record_call, world  # noqa: F401, F811
from tickets import service as ticket_service

ROUTES = ("/recordings/{id}", "/api/qa/recordings/{id}/audio")


@pytest.fixture
def listen(client: TestClient, session: Session):  # type: ignore[no-untyped-def]
    tokens: dict[int, str] = {}

    def call(user: User, recording_id: int, route: str = ROUTES[0]) -> Any:
        if user.id not in tokens:
            tokens[user.id] = make_api_token(session, user)
        return client.get(route.format(id=recording_id), headers={"Authorization": f"Bearer {tokens[user.id]}"})

    return call


def _recorded(session: Session, agent: User | None, clock: FrozenClock, tmp_path: Path, **extra: Any) -> Any:
    return record_call(session, agent=agent, started_at=clock.now(), with_media=True, **extra)


def test_managers_of_another_site_do_not_download_a_sites_recording(  # noqa: F811
        session: Session, world: World, clock: FrozenClock, tmp_path: Path, listen: Any) -> None:
    """The finding: team leaders, QA inspectors and supervisors of site B downloaded a site-A call
    recording through GET /recordings/{id} (200, the whole file), while the QA audio route refused."""
    recording = _recorded(session, world.agents[0], clock, tmp_path)
    far_leader = make_user(session, role=Role.team_leader, team=world.far_team)
    far_supervisor = make_user(session, role=Role.supervisor, site=world.far_site)
    for person in (far_leader, world.far_inspector, far_supervisor):
        for route in ROUTES:
            response = listen(person, recording.id, route)
            assert response.status_code == 403 and response.content[:4] != b"RIFF", (person, route)
    refused = audit.entries_for(fresh(session), action_prefix="recording.listen_refused")
    assert len(refused) == 6 and {e.actor_id for e in refused} == {far_leader.id, world.far_inspector.id,
                                                                   far_supervisor.id}


def test_who_hears_by_assignment_on_every_audio_route(  # noqa: F811
        session: Session, world: World, clock: FrozenClock, tmp_path: Path, listen: Any) -> None:
    mine = _recorded(session, world.agents[0], clock, tmp_path)
    other_team = _recorded(session, world.other_agent, clock, tmp_path)
    far = _recorded(session, world.far_agent, clock, tmp_path)
    expected = {
        "own agent": (world.agents[0], (True, False, False)),
        "teammate": (world.agents[1], (False, False, False)),
        "team leader": (world.leader, (True, False, False)),
        "supervisor": (world.supervisor, (True, True, False)),
        "site inspector": (world.inspector, (True, True, False)),
        "team inspector": (world.team_inspector, (True, False, False)),
        "unassigned inspector": (world.loose_inspector, (False, False, False)),
        "far inspector": (world.far_inspector, (False, False, True)),
        "center head": (world.head, (True, True, True)),
        "administrator": (world.admin, (False, False, False)),
    }
    for name, (person, hears) in expected.items():
        for route in ROUTES:
            got = tuple(listen(person, r.id, route).status_code == 200 for r in (mine, other_team, far))
            assert got == hears, (name, route, got)


def test_qa_coverage_and_sampling_let_an_inspector_hear(  # noqa: F811
        session: Session, world: World, clock: FrozenClock, tmp_path: Path, listen: Any) -> None:
    from qa.models import Assignment, SamplingPlan

    far = _recorded(session, world.far_agent, clock, tmp_path)
    mine = _recorded(session, world.agents[0], clock, tmp_path)
    assert listen(world.loose_inspector, far.id).status_code == 403
    assignments.assign_qa_coverage(session, site_id=world.far_site.id, team_id=world.far_team.id,
                                   user_id=world.loose_inspector.id, by=None)
    session.commit()
    assert listen(world.loose_inspector, far.id).status_code == 200
    assert listen(world.loose_inspector, mine.id).status_code == 403
    plan = SamplingPlan(team_id=world.team.id, month="2026-01", seed=1, per_agent=1, targeted_per_agent=0,
                        min_seconds=30)
    session.add(plan)
    session.flush()
    session.add(Assignment(plan_id=plan.id, team_id=world.team.id, agent_id=world.agents[0].id,
                           recording_id=mine.id, inspector_id=world.loose_inspector.id, week=0, kind="random",
                           reason="random", rank=1, due_on=clock.now().date()))
    session.commit()
    for route in ROUTES:
        assert listen(world.loose_inspector, mine.id, route).status_code == 200


def test_a_voicemail_is_heard_by_its_tickets_assignee_and_the_sites_managers(  # noqa: F811
        session: Session, world: World, clock: FrozenClock, tmp_path: Path, listen: Any) -> None:
    ticket = ticket_service.open_ticket(session, category="callback_request", site_id=world.site.id)
    ticket.assignee_id = world.agents[1].id
    session.commit()
    voicemail = _recorded(session, None, clock, tmp_path, kind="voicemail", ticket=ticket)
    voicemail.call.site_id = world.site.id
    session.commit()
    assert listen(world.agents[1], voicemail.id).status_code == 200
    assert listen(world.agents[0], voicemail.id).status_code == 403
    assert listen(world.supervisor, voicemail.id).status_code == 200
    assert listen(world.inspector, voicemail.id).status_code == 200
    assert listen(world.far_inspector, voicemail.id).status_code == 403


def test_each_listen_is_audited_once_per_listen(  # noqa: F811
        session: Session, world: World, clock: FrozenClock, tmp_path: Path, client: TestClient) -> None:
    recording = _recorded(session, world.agents[0], clock, tmp_path)
    headers = {"Authorization": f"Bearer {make_api_token(session, world.leader)}"}
    for route in ROUTES:
        url = route.format(id=recording.id)
        assert client.get(url, headers=headers).status_code == 200
        assert client.get(url, headers={**headers, "Range": "bytes=100-199"}).status_code == 206
    listens = audit.entries_for(fresh(session), action_prefix="recording.listened")
    assert [(e.actor_id, e.object_id) for e in listens] == [(world.leader.id, str(recording.id))] * 2
