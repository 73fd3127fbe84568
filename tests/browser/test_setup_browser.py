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
from scheduling import shifts as shift_service
from tests.factories import cheap_password_hashing, fresh, make_user
from tests.scheduling.conftest import World, world

__all__ = ["cheap_password_hashing", "world"]

WORDS = {
    "en-GB": {"skills": "Skills", "create_skill": "Create the skill", "code": "Code", "name": "Name",
              "code_rule": "A code is 2 to 40 lower-case letters", "skill_done": "The skill was created",
              "rosters": "Rosters", "templates": "Shift templates", "length": "Length in hours",
              "start": "Starts at (local time)", "save_template": "Save the shift template",
              "length_rule": "A shift lasts more than 0 and at most 24 hours",
              "template_done": "The shift template was saved",
              "sla": "SLA policies", "category": "Category", "first": "First response within (minutes)",
              "resolved": "Resolved within (minutes)", "save_policy": "Save the policy",
              "minutes_rule": "Give a whole number of minutes", "policy_done": "The SLA policy was saved",
              "complaint": "Complaint", "time": "0 h 45 min",
              "scorecards": "Scorecards", "weight_rule": "A weight is a number of at least 0",
              "save_version": "Save as the next version", "version_done": "The new version is in use",
              "add": "Add a question to this section", "q_en": "Question in English", "q_zh": "Question in Chinese",
              "retired": "Retired"},
    "zh-CN": {"skills": "技能", "create_skill": "创建技能", "code": "代码", "name": "名称",
              "code_rule": "代码为 2 到 40 个小写字母", "skill_done": "技能已创建",
              "rosters": "排班表", "templates": "班次模板", "length": "时长（小时）", "start": "开始时间（当地时间）",
              "save_template": "保存班次模板", "length_rule": "班次时长须大于 0 且不超过 24 小时",
              "template_done": "班次模板已保存",
              "sla": "服务时限策略", "category": "类别", "first": "首次响应时限（分钟）", "resolved": "解决时限（分钟）",
              "save_policy": "保存策略", "minutes_rule": "请填写不小于 1 的整数分钟", "policy_done": "服务时限策略已保存",
              "complaint": "投诉", "time": "0 小时 45 分钟",
              "scorecards": "考评表", "weight_rule": "权重为不小于 0 的数字", "save_version": "保存为下一版本",
              "version_done": "新版本已启用", "add": "在本部分添加一道题", "q_en": "英文题目", "q_zh": "中文题目",
              "retired": "已停用"},
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


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_a_team_leader_defines_a_shift_template(browsing: Browsing, session: Session, world: World,
                                                locale: str) -> None:
    words = WORDS[locale]
    page = browsing.signed_in(world.leader.username, path="/shifts/rosters", locale=locale)
    page.locator("main").get_by_role("link", name=words["templates"]).click()
    page.wait_for_url("**/shifts/templates")
    expect(page.locator("#template-list")).to_contain_text("Night")
    form = page.locator("#new-template-form")  # each template's own edit form has the same fields
    form.get_by_label(words["name"], exact=True).fill("Late")
    form.get_by_label(words["start"]).fill("14:00")
    form.get_by_label(words["length"]).fill("30")
    form.get_by_role("button", name=words["save_template"]).click()
    expect(page.locator("#length-error")).to_contain_text(words["length_rule"])
    expect(page.locator("#new-template-form").get_by_label(words["name"], exact=True)).to_have_value("Late")
    _drop_refusals(browsing)
    page.locator("#new-template-form").get_by_label(words["length"]).fill("7.5")
    page.locator("#new-template-form").get_by_role("button", name=words["save_template"]).click()
    expect(page.locator(".alert.success")).to_contain_text(words["template_done"])
    expect(page.locator("#template-list")).to_contain_text("Late")
    assert page.url.endswith("/shifts/templates")
    late = [t for t in shift_service.list_templates(fresh(session), site_id=world.site.id) if t.name == "Late"]
    assert len(late) == 1 and (late[0].start_minute, late[0].length_minutes) == (840, 450)


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_an_administrator_sets_an_sla_policy(browsing: Browsing, session: Session, locale: str) -> None:
    from tickets import sla

    words = WORDS[locale]
    make_user(session, role=Role.admin, username="root")
    page = browsing.signed_in("root", path="/admin", locale=locale)
    page.locator(".subnav").get_by_role("link", name=words["sla"], exact=True).click()
    page.wait_for_url("**/admin/sla")
    page.get_by_label(words["category"], exact=True).select_option("complaint")
    page.get_by_label(words["first"]).fill("45")
    page.get_by_label(words["resolved"]).fill("two days")
    page.get_by_role("button", name=words["save_policy"]).click()
    expect(page.locator("#resolution_minutes-error")).to_contain_text(words["minutes_rule"])
    expect(page.get_by_label(words["first"])).to_have_value("45")
    _drop_refusals(browsing)
    page.get_by_label(words["resolved"]).fill("2880")
    page.get_by_role("button", name=words["save_policy"]).click()
    expect(page.locator(".alert.success")).to_contain_text(words["policy_done"])
    row = page.locator("#sla-policies tr", has_text=words["time"])
    expect(row).to_contain_text(words["complaint"])
    policy = sla.policy_for(fresh(session), category="complaint", priority="normal", tier=None)
    assert (policy.first_response_minutes, policy.resolution_minutes) == (45, 2880)


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_an_administrator_makes_the_next_scorecard_version(browsing: Browsing, session: Session,
                                                           locale: str) -> None:
    from qa import scorecards

    words = WORDS[locale]
    make_user(session, role=Role.admin, username="root")
    card = scorecards.active(session)
    session.commit()
    page = browsing.signed_in("root", path="/admin", locale=locale)
    page.locator(".subnav").get_by_role("link", name=words["scorecards"], exact=True).click()
    page.wait_for_url("**/admin/scorecards")
    page.locator(f"#scorecard-{card.id} a").click()
    page.wait_for_url(f"**/admin/scorecards/{card.id}")
    page.locator("#s0\\.q0\\.weight").fill("a lot")
    page.get_by_role("button", name=words["save_version"]).click()
    expect(page.locator("#s0\\.q0\\.weight-error")).to_contain_text(words["weight_rule"])
    _drop_refusals(browsing)
    page.locator("#s0\\.q0\\.weight").fill("2")
    page.locator("details.scorecard-new summary").first.click()
    page.locator("#s0\\.new\\.code").fill("closing")
    page.locator("#s0\\.new\\.text_en").fill("Closes politely")
    page.locator("#s0\\.new\\.text_zh").fill("礼貌结束通话")
    page.get_by_role("button", name=words["save_version"]).click()
    expect(page.locator(".alert.success")).to_contain_text(words["version_done"])
    expect(page.locator("main")).to_contain_text("Closes politely" if locale == "en-GB" else "礼貌结束通话")
    made = scorecards.active(fresh(session))
    assert made.version == card.version + 1 and made.sections[0].questions[0].raw_weight == 2.0
