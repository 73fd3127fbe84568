"""Error bodies: an operation of the API document answers JSON whoever calls it (a browser's
audio player fetching /recordings/{id} included), pages answer HTML."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
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


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE"])
def test_a_method_a_path_does_not_answer_is_405_with_allow(client: TestClient, session: Session, method: str) -> None:
    """The finding: OPTIONS answered 405 without `Allow` (or with only the first route's method)."""
    headers = {"Authorization": f"Bearer {make_api_token(session, make_user(session, role=Role.admin))}"}
    document = client.get("/openapi.json", headers=headers).json()
    for path, operations in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)  # any value: routing comes before validation
        response = client.request(method, concrete, headers=headers)
        assert response.status_code == 405, (path, response.status_code)
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert {m.upper() for m in operations} <= allowed, (path, allowed)
        assert response.json()["code"] == "method_not_allowed"


def test_the_document_declares_the_real_error_body_and_every_refusal(client: TestClient, session: Session) -> None:
    """The finding: 422 bodies did not match FastAPI's default validation error the document
    declared, and 113 statuses an operation answers were undeclared."""
    token = make_api_token(session, make_user(session, role=Role.admin))
    document = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and schemas["Error"]["required"] == ["detail", "code"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            expected = {"503"} if path == "/healthz" else {"400", "401", "403", "404", "409", "422", "503"}
            assert expected <= statuses, (method, path, statuses)
            for status in expected:
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    # And a real 422 has that shape.
    response = client.get("/api/v1/tickets/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and set(response.json()) <= set(schemas["Error"]["properties"])


def test_an_id_of_nothing_is_a_422_not_a_server_error(client: TestClient, session: Session) -> None:
    """Found by the fuzzer: a notice for a team that does not exist failed its foreign key (500)."""
    token = make_api_token(session, make_user(session, role=Role.admin))
    response = client.post("/api/scheduling/notices", headers={"Authorization": f"Bearer {token}"},
                           json={"title": "Fire drill", "body": "At ten.", "team_id": 4932344})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "unknown_reference"


def test_text_the_database_cannot_hold_is_a_422(client: TestClient, session: Session, db_dialect: str) -> None:
    """Found by the fuzzer on PostgreSQL: text fields cannot hold NUL, and the search sent one."""
    token = make_api_token(session, make_user(session, role=Role.admin))
    response = client.get("/api/v1/tickets", params={"number": "HL\x00"}, headers={"Authorization": f"Bearer {token}"})
    if db_dialect == "postgresql":
        assert response.status_code == 422 and response.json()["code"] == "invalid_value", response.text
    else:
        assert response.status_code == 200  # SQLite holds it, and finds nothing
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_browser_that_leaves_mid_request_is_no_server_error(app: Any, client: TestClient, session: Session,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """A person who navigates away while their form is still being sent: the body never arrives
    (the server is told the client disconnected). Nothing to answer and nothing wrong with the hub:
    no ERROR in the log, nothing raised out of the app."""
    import anyio

    signed_in_client(client, make_user(session, role=Role.admin, username="root"))
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/admin/ivr", "raw_path": b"/admin/ivr", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", b"400"), (b"cookie", cookies.encode()),
                         (b"x-csrf-token", client.headers["X-CSRF-Token"].encode())]}
    with caplog.at_level(logging.INFO):
        anyio.run(app, scope, receive, send)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert not [m for m in sent if m["type"] == "http.response.start" and m["status"] >= 500]
