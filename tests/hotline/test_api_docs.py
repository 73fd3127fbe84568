"""The API's description and reference page: for signed-in people only, in production and in the
embedded mode alike, or not served at all (`HOTLINE_API_DOCS=off`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import config
from core.config import Settings
from core.models import Role
from tests.conftest import BROKER_URL
from tests.factories import cheap_password_hashing, make_api_token, make_user

__all__ = ["cheap_password_hashing"]

PATHS = ("/openapi.json", "/api/docs", "/docs/oauth2-redirect", "/redoc")


def _client(settings: Settings, **changes: object) -> Iterator[TestClient]:
    from hotline.app import create_app

    changed = settings.model_copy(update=changes)
    app = create_app(changed, start_background=False)
    yield TestClient(app, base_url="https://hotline.example.org")  # no lifespan: no broker connection
    config.configure(settings)


@pytest.fixture
def production(settings: Settings) -> Iterator[TestClient]:
    yield from _client(settings, mode="production", public_url="https://hotline.example.org",
                       broker_url=BROKER_URL or "redis://127.0.0.1:6379/5", storage_dir=settings.var_dir)


def test_in_production_the_api_description_needs_a_signed_in_user(production: TestClient, session: Session) -> None:
    """The finding: in production mode /openapi.json, /api/docs and /docs/oauth2-redirect answered
    anonymous requests."""
    assert production.get("/openapi.json").status_code == 401
    page = production.get("/api/docs", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/api/docs"
    assert production.get("/docs/oauth2-redirect").status_code == 404
    assert production.get("/redoc").status_code == 404
    token = {"Authorization": f"Bearer {make_api_token(session, make_user(session, role=Role.agent))}"}
    document = production.get("/openapi.json", headers=token)
    assert document.status_code == 200 and document.json()["info"]["title"] == "Hotline"
    assert document.headers["cache-control"] == "private, no-store"
    assert "/api/v1/customers/{customer_id}" in document.json()["paths"]
    assert "/openapi.json" not in document.json()["paths"]
    reference = production.get("/api/docs", headers=token)
    assert reference.status_code == 200 and "/openapi.json" in reference.text


def test_the_embedded_hub_asks_for_sign_in_too(client: TestClient) -> None:
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/api/docs", follow_redirects=False).status_code in (303, 401)


def test_api_docs_can_be_switched_off(settings: Settings, session: Session) -> None:
    for client in _client(settings, api_docs="off"):
        token = {"Authorization": f"Bearer {make_api_token(session, make_user(session, role=Role.admin))}"}
        for path in PATHS:
            assert client.get(path, headers=token).status_code == 404, path


def test_a_setting_other_than_signed_in_or_off_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(api_docs="public")
