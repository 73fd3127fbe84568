"""Error bodies: an operation of the API document answers JSON whoever calls it (a browser's
audio player fetching /recordings/{id} included), pages answer HTML."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.models import Role
from tests.factories import make_api_token, make_user, signed_in_client


def test_a_bad_recording_id_is_a_json_422_for_a_browser_too(client: TestClient, session: Session) -> None:
    """The finding: /recordings/{id} answered a bad id with an HTML 422, the document says JSON."""
    signed_in_client(client, make_user(session, role=Role.supervisor))
    for accept in ("*/*", "audio/*", "text/html"):
        response = client.get("/recordings/not-a-number", headers={"Accept": accept})
        assert response.status_code == 422 and response.headers["content-type"] == "application/json", accept
        assert response.json()["errors"][0]["loc"] == ["path", "recording_id"]


def test_a_bad_recording_id_is_a_json_422_for_a_script(client: TestClient, session: Session) -> None:
    token = make_api_token(session, make_user(session, role=Role.supervisor))
    response = client.get("/recordings/1.5", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and response.json()["code"] == "invalid"


def test_a_page_still_answers_html(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.admin))
    response = client.get("/tickets/not-a-number", headers={"Accept": "text/html"})
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
