"""The setup pages that only the API or the demo could do before: skills, scorecards and SLA
policies; each form's success (audited) and its refusals beside the field, in English and
Chinese, for administrators only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import organisation, users
from core.audit import entries_for
from core.models import Role, User
from tests.factories import cheap_password_hashing, fresh, make_user, signed_in_client

__all__ = ["cheap_password_hashing"]


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role=Role.admin, display_name="Ada Admin")


@pytest.fixture
def browser(client: TestClient, admin: User) -> TestClient:
    return signed_in_client(client, admin)


def post(client: TestClient, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(path, data=data, follow_redirects=False)


def actions(session: Session, **filters: object) -> list[str]:
    return [entry.action for entry in entries_for(fresh(session), **filters)]  # type: ignore[arg-type]


def no_inline_code(html: str) -> None:
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", html) == []
    assert not re.search(r"\son[a-z]+=|style=", html)


# Skills -------------------------------------------------------------------------------------

def test_skills_are_for_administrators(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.supervisor))
    assert client.get("/admin/skills").status_code == 403
    assert post(client, "/admin/skills", {"code": "lottery", "name": "Lottery"}).status_code == 403


def test_a_fresh_hub_creates_a_skill_and_gives_it_to_someone(browser: TestClient, session: Session) -> None:
    empty = browser.get("/admin/skills")
    assert empty.status_code == 200 and "No skills yet" in empty.text
    no_inline_code(empty.text)
    assert post(browser, "/admin/skills", {"code": "lottery", "name": "Lottery tickets"}).status_code == 303
    skill = organisation.list_skills(fresh(session))[0]
    assert (skill.code, skill.name) == ("lottery", "Lottery tickets")
    assert actions(session, object_type="skill", object_id=skill.id) == ["skill.created"]
    agent = make_user(session)
    users.set_skill(session, user_id=agent.id, skill_code="lottery", level=3)
    session.commit()
    page = browser.get("/admin/skills").text
    assert "The skill was created" in page and 'id="skill-lottery"' in page and "Lottery tickets" in page
    assert re.search(r'id="skill-lottery">.*?<a href="/admin/people">1</a>', page)
    # Known queue codes read in the reader's language.
    organisation.create_skill(session, code="english", name="English")
    session.commit()
    browser.cookies.set("hotline_locale", "zh_Hans")
    assert "英语" in browser.get("/admin/skills").text


def test_a_skill_needs_a_good_code_a_name_and_a_code_of_its_own(browser: TestClient, session: Session) -> None:
    page = post(browser, "/admin/skills", {"code": "Bad Code!", "name": " "})
    assert page.status_code == 422 and 'id="code-error"' in page.text and 'id="name-error"' in page.text
    assert 'value="Bad Code!"' in page.text and organisation.list_skills(fresh(session)) == []
    organisation.create_skill(session, code="lottery", name="Lottery")
    session.commit()
    taken = post(browser, "/admin/skills", {"code": "lottery", "name": "Again"})
    assert taken.status_code == 409 and "A skill with this code already exists" in taken.text
    browser.cookies.set("hotline_locale", "zh_Hans")
    chinese = post(browser, "/admin/skills", {"code": "x", "name": ""})
    assert chinese.status_code == 422 and "代码为 2 到 40 个小写字母" in chinese.text and "请填写技能名称。" in chinese.text


# SLA policies -------------------------------------------------------------------------------

def test_sla_is_for_administrators(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.center_head))
    assert client.get("/admin/sla").status_code == 403
    assert post(client, "/admin/sla/policies", {"first_response_minutes": "5"}).status_code == 403


def test_an_sla_policy_is_set_audited_and_followed(browser: TestClient, session: Session) -> None:
    from tickets import sla

    page = browser.get("/admin/sla")
    assert page.status_code == 200 and 'id="sla-policies"' in page.text and "Diamond" in page.text
    no_inline_code(page.text)
    saved = post(browser, "/admin/sla/policies", {"category": "complaint", "priority": "", "tier": "gold",
                                                  "first_response_minutes": "30", "resolution_minutes": "600",
                                                  "business_hours": "1"})
    assert saved.status_code == 303
    policy = sla.policy_for(fresh(session), category="complaint", priority="normal", tier="gold")
    assert (policy.first_response_minutes, policy.resolution_minutes) == (30, 600)
    assert actions(session, object_type="sla_policy") == ["sla.policy_set"]
    listed = browser.get("/admin/sla").text
    assert "tickets opened from now on follow it" in listed and "0 h 30 min" in listed and "10 h 0 min" in listed
    # The SLA settings are on the one settings page (tests/agent_ui/test_settings_pages.py).
    assert 'href="/admin/settings#tickets"' in listed


def test_an_sla_policy_refused_beside_its_fields(browser: TestClient, session: Session) -> None:
    page = post(browser, "/admin/sla/policies", {"category": "praise", "first_response_minutes": "0",
                                                 "resolution_minutes": "abc"})
    assert page.status_code == 422 and 'id="first_response_minutes-error"' in page.text
    assert 'id="resolution_minutes-error"' in page.text and 'value="abc"' in page.text
    unknown = post(browser, "/admin/sla/policies", {"category": "praise", "first_response_minutes": "5",
                                                    "resolution_minutes": "50"})
    assert unknown.status_code == 422 and 'id="category-error"' in unknown.text
    assert actions(session, object_type="sla_policy") == []


# Scorecards ---------------------------------------------------------------------------------

def _active_card(session: Session):  # type: ignore[no-untyped-def]
    from qa import scorecards

    card = scorecards.active(session)
    session.commit()
    return card


def test_scorecards_are_for_administrators(client: TestClient, session: Session) -> None:
    card = _active_card(session)
    signed_in_client(client, make_user(session, role=Role.qa_inspector))
    assert client.get("/admin/scorecards").status_code == 403
    assert post(client, f"/admin/scorecards/{card.id}/versions", {}).status_code == 403


def test_the_next_scorecard_version_changes_wording_weight_and_adds_a_question(browser: TestClient,
                                                                              session: Session) -> None:
    from qa import scorecards

    listed = browser.get("/admin/scorecards")
    assert listed.status_code == 200 and 'id="scorecard-list"' in listed.text
    card = scorecards.active(fresh(session))
    page = browser.get(f"/admin/scorecards/{card.id}")
    assert page.status_code == 200 and 'id="scorecard-form"' in page.text
    no_inline_code(page.text)
    first = card.sections[0].questions[0]
    saved = post(browser, f"/admin/scorecards/{card.id}/versions", {
        "s0.q0.text_en": "Greets with the standard phrase", "s0.q0.weight": "3", "s0.q0.critical": "1",
        "s0.new.code": "closing", "s0.new.text_en": "Closes politely", "s0.new.text_zh": "礼貌结束通话",
        "s0.new.scale": "yes_no", "s0.new.weight": "1"})
    assert saved.status_code == 303
    made = scorecards.active(fresh(session))
    assert made.version == card.version + 1 and made.supersedes_id == card.id
    question = made.sections[0].questions[0]
    assert (question.code, question.text_en, question.raw_weight, question.critical) == (
        first.code, "Greets with the standard phrase", 3.0, True)
    assert made.sections[0].questions[-1].code == "closing"
    assert actions(session, object_type="qa_scorecard", object_id=made.id) == ["qa.scorecard.versioned"]
    shown = browser.get(saved.headers["location"]).text
    assert "The new version is in use" in shown and "Closes politely" in shown
    old = browser.get(f"/admin/scorecards/{card.id}").text
    assert "Retired" in old and 'id="scorecard-form"' not in old


def test_a_scorecard_version_refused_beside_its_fields(browser: TestClient, session: Session) -> None:
    from qa import scorecards

    card = _active_card(session)
    bad = post(browser, f"/admin/scorecards/{card.id}/versions", {"s0.q0.weight": "heavy"})
    assert bad.status_code == 422 and 'id="s0.q0.weight-error"' in bad.text and 'value="heavy"' in bad.text
    first_code = card.sections[0].questions[0].code
    blank = post(browser, f"/admin/scorecards/{card.id}/versions", {
        "s0.new.code": "extra", "s0.new.text_en": "Again", "s0.new.text_zh": ""})
    assert blank.status_code == 422 and 'id="s0.new.text_zh-error"' in blank.text
    twice = post(browser, f"/admin/scorecards/{card.id}/versions", {
        "s0.new.code": first_code, "s0.new.text_en": "Again", "s0.new.text_zh": "再次"})
    assert twice.status_code == 422 and 'id="s0.new.code-error"' in twice.text
    browser.cookies.set("hotline_locale", "zh_Hans")
    points = post(browser, f"/admin/scorecards/{card.id}/versions", {
        "s0.new.code": "extra", "s0.new.text_en": "Extra", "s0.new.text_zh": "附加", "s0.new.scale": "points"})
    assert points.status_code == 422 and "计分题须填写最高分" in points.text
    assert scorecards.active(fresh(session)).id == card.id
