"""The callback authorisations page: the site's supervisor (or named manager) grants (with reason
and duration, errors beside the field), extends and revokes; a team leader who is not named sees
why they cannot; each grant's state with a countdown; also from a ticket's page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import users
from tests.agent_ui.desk import Desk, callback_ticket, desk, grant_for
from tests.factories import cheap_password_hashing, fresh, signed_in_client
from tickets import grants
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing", "desk"]

HX = {"HX-Request": "true"}


def _number(session: Session, ticket_id: int) -> str:
    return ticket_service.get(session, ticket_id=ticket_id, user=None).number


def test_grants_page_needs_sign_in(client: TestClient) -> None:
    page = client.get("/authorisations", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/authorisations"


def test_grants_page_is_refused_to_an_agent(client: TestClient, session: Session, desk: Desk) -> None:
    signed_in_client(client, desk.agent)
    assert client.get("/authorisations").status_code == 403
    assert client.post("/authorisations", data={"ticket_number": "HL-1"}).status_code == 403


def test_supervisor_grants_then_extends_then_revokes(client: TestClient, session: Session, desk: Desk) -> None:
    number = _number(session, callback_ticket(session, desk))
    signed_in_client(client, desk.supervisor)
    page = client.get("/authorisations")
    assert page.status_code == 200 and 'href="/authorisations" aria-current="page"' in page.text
    assert f'<option value="{desk.agent.id}">' in page.text and "No callback authorisations yet" in page.text
    done = client.post("/authorisations", follow_redirects=False,
                       data={"ticket_number": number, "agent_id": str(desk.agent.id), "duration_minutes": "60",
                             "reason": "Promised a call back"})
    assert done.status_code == 303 and done.headers["location"] == "/authorisations"
    grant = grants.live_grant(fresh(session), customer_id=desk.customer.id, agent_id=desk.agent.id)
    assert grant is not None
    listed = client.get("/authorisations")
    assert f'id="grant-countdown-{grant.id}"' in listed.text and "1:00:00" in listed.text
    assert "Authorised" in listed.text and "Wang Fang" not in listed.text
    extended = client.post(f"/authorisations/{grant.id}/extend", headers=HX, data={"duration_minutes": "240"})
    assert extended.status_code == 200 and "<html" not in extended.text and "4:00:00" in extended.text
    revoked = client.post(f"/authorisations/{grant.id}/revoke", follow_redirects=False)
    assert revoked.status_code == 303
    assert "Revoked" in client.get("/authorisations").text


def test_a_bad_grant_shows_the_error_beside_its_field(client: TestClient, session: Session, desk: Desk) -> None:
    number = _number(session, callback_ticket(session, desk))
    signed_in_client(client, desk.supervisor)
    too_long = client.post("/authorisations", data={"ticket_number": number, "agent_id": str(desk.agent.id),
                                                    "duration_minutes": "2000", "reason": "Call back"})
    assert too_long.status_code == 422
    assert re.search(r'id="grant-duration"[^>]*aria-invalid="true"', too_long.text)
    assert 'id="grant-duration-error"' in too_long.text and "at most 24 hours" in too_long.text
    no_reason = client.post("/authorisations", data={"ticket_number": number, "agent_id": str(desk.agent.id),
                                                     "duration_minutes": "60", "reason": ""})
    assert no_reason.status_code == 422 and 'id="grant-reason-error"' in no_reason.text
    missing = client.post("/authorisations", data={"ticket_number": "HL-1999-000001", "agent_id": str(desk.agent.id),
                                                   "reason": "x"})
    assert missing.status_code == 409 and 'id="grant-ticket-error"' in missing.text
    assert 'value="HL-1999-000001"' in missing.text
    far = client.post("/authorisations", data={"ticket_number": number, "agent_id": str(desk.other_agent.id),
                                               "reason": "x"})
    assert far.status_code == 409 and 'id="grant-agent-error"' in far.text
    assert "works at the customer&#39;s site" in far.text
    itself = client.post("/authorisations", data={"ticket_number": number, "agent_id": str(desk.supervisor.id),
                                                  "reason": "x"})
    assert itself.status_code == 409 and "Nobody authorises themselves" in itself.text


def test_grant_from_the_ticket_page(client: TestClient, session: Session, desk: Desk) -> None:
    ticket_id = callback_ticket(session, desk)
    signed_in_client(client, desk.supervisor)
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="grant-form"' in page.text
    over = client.post(f"/tickets/{ticket_id}/grant", data={"agent_id": str(desk.agent.id),
                                                           "duration_minutes": "1500", "reason": "x"})
    assert over.status_code == 422 and 'id="grant-duration-error"' in over.text
    done = client.post(f"/tickets/{ticket_id}/grant", follow_redirects=False,
                       data={"agent_id": str(desk.agent.id), "duration_minutes": "120", "reason": "Follow up"})
    assert done.status_code == 303 and done.headers["location"] == f"/tickets/{ticket_id}"
    assert grants.live_grant(fresh(session), customer_id=desk.customer.id, agent_id=desk.agent.id) is not None


def test_extending_an_ended_grant_is_explained(client: TestClient, session: Session, desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    grant_id = grant_for(session, desk, minutes=30)
    signed_in_client(client, desk.supervisor)
    clock.advance(minutes=31)
    page = client.get("/authorisations")
    assert "Expired" in page.text
    refused = client.post(f"/authorisations/{grant_id}/extend", data={"duration_minutes": "60"})
    assert refused.status_code == 409 and "This authorisation has ended" in refused.text


def test_a_team_leader_who_is_not_named_cannot_grant(client: TestClient, session: Session, desk: Desk) -> None:
    number = _number(session, callback_ticket(session, desk))
    signed_in_client(client, desk.team_leader)
    page = client.get("/authorisations")
    assert page.status_code == 200 and 'id="new-grant-form"' not in page.text
    assert 'id="grants-not-yours"' in page.text
    refused = client.post("/authorisations", data={"ticket_number": number, "agent_id": str(desk.agent.id),
                                                   "duration_minutes": "60", "reason": "Call back"})
    assert refused.status_code == 409 and 'id="grant-agent-error"' in refused.text
    assert grants.live_grant(fresh(session), customer_id=desk.customer.id, agent_id=desk.agent.id) is None


def test_grants_page_in_chinese(client: TestClient, session: Session, desk: Desk) -> None:
    users.set_locale(session, user_id=desk.supervisor.id, locale="zh_Hans")
    session.commit()
    grant_for(session, desk)
    signed_in_client(client, desk.supervisor)
    page = client.get("/authorisations")
    assert '<html lang="zh-Hans">' in page.text and "回访授权" in page.text and "撤销" in page.text
