"""`/healthz`, `/openapi.json` and the error responses of the app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.config import Settings


def test_healthz_reports_database_and_broker(client: TestClient, settings: Settings) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["kind"] == ("redis" if settings.broker_url else "embedded")


def test_healthz_fails_when_the_broker_is_unreachable(client: TestClient, settings: Settings,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_openapi_is_served(client: TestClient, session) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_api_token, make_user

    token = make_api_token(session, make_user(session))
    response = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Hotline"


def test_unknown_api_path_gives_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_unknown_page_gives_html_404(client: TestClient) -> None:
    response = client.get("/nothing-here", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    # The sentence says what happened rather than repeating the heading.
    assert "There is nothing at this address." in response.text
    chinese = client.get("/nothing-here", headers={"accept": "text/html", "accept-language": "zh-CN"})
    assert chinese.status_code == 404 and "这个地址没有内容" in chinese.text


def test_healthz_tells_whether_a_worker_ran_its_heartbeat_lately(client: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    from core.tasks import heartbeat

    # No worker yet: the web process is still healthy (it serves pages), and says so.
    before = client.get("/healthz")
    assert before.status_code == 200
    assert before.json()["workers"] == {"alive": False, "last_seen": None}

    heartbeat.apply()  # what every worker runs on beat's schedule
    body = client.get("/healthz").json()
    assert body["workers"] == {"alive": True, "last_seen": clock.now().isoformat()}

    clock.advance(minutes=5)  # no heartbeat since: the workers are gone, or beat is
    late = client.get("/healthz")
    assert late.status_code == 200 and late.json()["workers"]["alive"] is False
