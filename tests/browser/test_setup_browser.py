"""The setup pages in Chromium, in English and Chinese: an administrator creates a skill and a
scorecard and sets an SLA policy, a team leader defines a shift template and assigns it on the
roster; each refused first beside its field, without a reload (htmx), with no console error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core import organisation
from core.models import Role
from tests.browser.conftest import Browsing
from tests.factories import cheap_password_hashing, fresh, make_user

__all__ = ["cheap_password_hashing"]

WORDS = {
    "en-GB": {"skills": "Skills", "create_skill": "Create the skill", "code": "Code", "name": "Name",
              "code_rule": "A code is 2 to 40 lower-case letters", "skill_done": "The skill was created"},
    "zh-CN": {"skills": "技能", "create_skill": "创建技能", "code": "代码", "name": "名称",
              "code_rule": "代码为 2 到 40 个小写字母", "skill_done": "技能已创建"},
}


def _drop_refusals(browsing: Browsing) -> None:
    browsing.errors[:] = [e for e in browsing.errors if "status of 422" not in e and "status of 409" not in e]


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_an_administrator_creates_a_skill(browsing: Browsing, session: Session, locale: str) -> None:
    words = WORDS[locale]
    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root", path="/admin", locale=locale)
    page.locator(".subnav").get_by_role("link", name=words["skills"], exact=True).click()
    page.wait_for_url("**/admin/skills")
    page.get_by_label(words["name"], exact=True).fill("Lottery tickets")
    page.get_by_label(words["code"], exact=True).fill("Lottery!")
    page.get_by_role("button", name=words["create_skill"]).click()
    expect(page.locator("#code-error")).to_contain_text(words["code_rule"])
    expect(page.get_by_label(words["name"], exact=True)).to_have_value("Lottery tickets")
    _drop_refusals(browsing)
    page.get_by_label(words["code"], exact=True).fill("lottery")
    page.get_by_role("button", name=words["create_skill"]).click()
    expect(page.locator(".alert.success")).to_contain_text(words["skill_done"])
    expect(page.locator("#skill-lottery")).to_contain_text("Lottery tickets")
    assert [s.code for s in organisation.list_skills(fresh(session))] == ["lottery"]
