"""Concurrent writes to one ticket, as the fuzzer sent them (8 at once, real threads, each its own
connection): each is applied or answered 409 with the ticket's current version, never a server
error; on PostgreSQL the losers wait on the row and find it changed (or find the tag the winner
inserted), on SQLite the writers are serialised."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_api_token
from tests.tickets.factories_tickets import World, make_ticket, world  # noqa: F401
from tickets.models.tickets import Ticket

WRITERS = 8
API = "/api/v1/tickets"


def _at_once(app: Any, send: Callable[[TestClient, int], Any]) -> list[Any]:
    """Every writer sends its request when all are ready; the responses, in writer order."""
    barrier = threading.Barrier(WRITERS)
    responses: list[Any] = [None] * WRITERS

    def writer(index: int) -> None:
        client = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
        barrier.wait()
        responses[index] = send(client, index)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def _current_version(session: Session, ticket: Ticket) -> int:
    session.expire_all()
    return session.get(Ticket, ticket.id).version  # type: ignore[union-attr]


def _check(responses: list[Any], session: Session, ticket: Ticket, *, at_least_one: bool = True) -> None:
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}, [(r.status_code, r.text[:300]) for r in responses]
    if at_least_one:
        assert 200 in statuses, statuses
    current = _current_version(session, ticket)
    for response in responses:
        if response.status_code == 409:
            body = response.json()
            assert body["code"] == "stale_version", body
            # The version it has now: at least the one the loser read and at most the final one.
            assert 1 <= body["params"]["current_version"] <= current, body


@pytest.mark.parametrize("with_version", [True, False], ids=["with-version", "without-version"])
def test_concurrent_hand_to_team_leader(app: Any, session: Session, world: World, with_version: bool) -> None:
    ticket = make_ticket(session, by=world.agent)
    headers = {"Authorization": f"Bearer {make_api_token(session, world.agent)}"}
    body: dict[str, Any] = {"reason": "Shouted and threatened"} | ({"version": ticket.version} if with_version else {})
    responses = _at_once(app, lambda client, i: client.post(f"{API}/{ticket.id}/hand-to-team-leader",
                                                           headers=headers, json=body))
    _check(responses, session, ticket)
    if with_version:
        assert sum(r.status_code == 200 for r in responses) == 1


def test_concurrent_escalations(app: Any, session: Session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    headers = {"Authorization": f"Bearer {make_api_token(session, world.agent)}"}
    responses = _at_once(app, lambda client, i: client.post(
        f"{API}/{ticket.id}/escalate", headers=headers,
        json={"reason": "Needs a decision", "to_level": "center_head", "urgent": True, "version": ticket.version}))
    _check(responses, session, ticket)
    assert sum(r.status_code == 200 for r in responses) == 1


def test_concurrent_patches_with_one_version(app: Any, session: Session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    headers = {"Authorization": f"Bearer {make_api_token(session, world.agent)}"}
    responses = _at_once(app, lambda client, i: client.patch(
        f"{API}/{ticket.id}", headers=headers, json={"version": ticket.version, "subject": f"Subject {i}",
                                                     "tags": ["kettle", f"writer-{i}"]}))
    _check(responses, session, ticket)
    assert sum(r.status_code == 200 for r in responses) == 1


def test_a_stale_version_names_the_current_one(client: TestClient, session: Session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    headers = {"Authorization": f"Bearer {make_api_token(session, world.agent)}"}
    assert client.patch(f"{API}/{ticket.id}", headers=headers, json={"version": 1, "subject": "One"}).status_code == 200
    response = client.patch(f"{API}/{ticket.id}", headers=headers, json={"version": 1, "subject": "Two"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "stale_version" and body["params"]["current_version"] == 2, body
