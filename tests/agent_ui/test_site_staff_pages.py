"""A site's named managers and QA coverage on the site's administration page: shown, named,
refused with a reason beside the field (English and Chinese), removed; administrators only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import assignments
from core.audit import entries_for
from core.models import Role, User
from tests.factories import cheap_password_hashing, fresh, make_site, make_team, make_user, signed_in_client

__all__ = ["cheap_password_hashing"]


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role=Role.admin, display_name="Ada Admin")


@pytest.fixture
def browser(client: TestClient, admin: User) -> TestClient:
    return signed_in_client(client, admin)


def _post(client: TestClient, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(path, data=data, follow_redirects=False)


def test_name_and_remove_a_site_manager(browser: TestClient, session: Session, admin: User) -> None:
    site = make_site(session, name="Xuhui Store")
    team = make_team(session, site=site, name="Day team")
    leader = make_user(session, role=Role.team_leader, team=team, display_name="Li Lead")
    elsewhere = make_user(session, role=Role.supervisor, site=make_site(session), display_name="Far Away")
    page = browser.get(f"/admin/sites/{site.id}").text
    assert 'id="site-managers"' in page and "No site manager is named yet" in page
    assert "Li Lead" in page and "Far Away" not in page.split('id="manager-form"')[1].split("</form>")[0]
    named = _post(browser, f"/admin/sites/{site.id}/managers", {"user_id": str(leader.id)})
    assert named.status_code == 303 and named.headers["location"] == f"/admin/sites/{site.id}"
    after = browser.get(f"/admin/sites/{site.id}").text
    assert "The site manager was named." in after and re.search(r'id="manager-list".*Li Lead', after, re.S)
    assert assignments.is_site_manager(fresh(session), user_id=leader.id, site_id=site.id)
    assert entries_for(session, action_prefix="site.assignment_added")[0].actor_id == admin.id
    assignment = assignments.for_site(session, site_id=site.id)[0]
    removed = _post(browser, f"/admin/sites/{site.id}/assignments/{assignment.id}/remove", {})
    assert removed.status_code == 303
    assert not assignments.is_site_manager(fresh(session), user_id=leader.id, site_id=site.id)


def test_naming_refusals_are_explained_beside_the_field(browser: TestClient, session: Session) -> None:
    site = make_site(session)
    agent = make_user(session, role=Role.agent, team=make_team(session, site=site))
    refused = _post(browser, f"/admin/sites/{site.id}/managers", {"user_id": str(agent.id)})
    assert refused.status_code == 422
    assert 'id="user_id-error"' in refused.text and "team leader, supervisor or center head" in refused.text
    nobody = _post(browser, f"/admin/sites/{site.id}/managers", {"user_id": ""})
    assert nobody.status_code == 422 and 'id="user_id-error"' in nobody.text
    browser.cookies.set("hotline_locale", "zh_Hans")
    chinese = _post(browser, f"/admin/sites/{site.id}/managers", {"user_id": str(agent.id)})
    assert chinese.status_code == 422 and "Choose a person" not in chinese.text
    assert _post(browser, "/admin/sites/999999/managers", {"user_id": str(agent.id)}).status_code == 404


def test_qa_coverage_of_a_team(browser: TestClient, session: Session) -> None:
    site = make_site(session)
    team = make_team(session, site=site, name="Night team")
    inspector = make_user(session, role=Role.qa_inspector, display_name="Qi Inspector")
    saved = _post(browser, f"/admin/sites/{site.id}/qa-coverage", {"user_id": str(inspector.id),
                                                                   "team_id": str(team.id)})
    assert saved.status_code == 303
    page = browser.get(f"/admin/sites/{site.id}").text
    assert re.search(r'id="qa-coverage-list".*Qi Inspector: Night team', page, re.S)
    other_team = make_team(session, site=make_site(session))
    refused = _post(browser, f"/admin/sites/{site.id}/qa-coverage", {"user_id": str(inspector.id),
                                                                     "team_id": str(other_team.id)})
    assert refused.status_code == 422 and 'id="qa_team_id-error"' in refused.text


def test_only_administrators_name_people(client: TestClient, session: Session) -> None:
    site = make_site(session)
    supervisor = make_user(session, role=Role.supervisor, site=site)
    signed_in_client(client, supervisor)
    assert client.get(f"/admin/sites/{site.id}").status_code == 403
    refused = _post(client, f"/admin/sites/{site.id}/managers", {"user_id": str(supervisor.id)})
    assert refused.status_code == 403
    assert not assignments.is_site_manager(fresh(session), user_id=supervisor.id, site_id=site.id)
