"""The administration pages: IVR settings, sites with their opening hours and holidays, teams,
and people (accounts, roles, places, skills, locks, passwords), each form's success and its
refusals, in English and Chinese, for administrators only."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agent_ui import flash
from core import clock, directory, organisation, users
from core.audit import entries_for
from core.models import Role, User
from telephony import ivr
from telephony.ivr_texts import DEFAULT_TEXTS, LANGUAGES
from tests.factories import (
    cheap_password_hashing,
    fresh,
    make_site,
    make_skill,
    make_team,
    make_user,
    signed_in_client,
)
from tickets import calendar

__all__ = ["cheap_password_hashing"]


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role=Role.admin, display_name="Ada Admin")


@pytest.fixture
def browser(client: TestClient, admin: User) -> TestClient:
    """An administrator's browser: the CSRF token rides in the header, as htmx sends it."""
    return signed_in_client(client, admin)


def post(client: TestClient, path: str, data: dict[str, str]) -> object:
    return client.post(path, data=data, follow_redirects=False)


def actions(session: Session, **filters: object) -> list[str]:
    return [entry.action for entry in entries_for(fresh(session), **filters)]  # type: ignore[arg-type]


def no_inline_code(html: str) -> None:
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", html) == []
    assert not re.search(r"\son[a-z]+=|style=", html)


# Who may come in ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/admin", "/admin/ivr", "/admin/sites", "/admin/holidays", "/admin/teams",
                                  "/admin/people", "/admin/people/new"])
def test_admin_pages_render_for_an_administrator(browser: TestClient, path: str) -> None:
    page = browser.get(path)
    assert page.status_code == 200, page.text
    assert 'hx-boost="true"' in page.text and 'aria-current="page"' in page.text
    no_inline_code(page.text)
    # Every form carries the CSRF token.
    forms = re.findall(r'<form\b[^>]*method="post"[^>]*>(.*?)</form>', page.text, re.S)
    assert forms and all('name="csrf_token"' in form for form in forms)


@pytest.mark.parametrize("role", [Role.agent, Role.team_leader, Role.supervisor, Role.center_head, Role.qa_inspector])
def test_admin_pages_are_refused_to_other_roles(client: TestClient, session: Session, role: Role) -> None:
    signed_in_client(client, make_user(session, role=role))
    for path in ("/admin", "/admin/ivr", "/admin/people"):
        page = client.get(path)
        assert page.status_code == 403 and "Not allowed" in page.text
    refused = post(client, "/admin/sites", {"name": "Sneaky", "code": "sneaky"})
    assert refused.status_code == 403
    assert organisation.list_sites(fresh(session)) == []
    assert 'href="/admin"' not in client.get("/").text


def test_the_navigation_links_administration_for_admins(browser: TestClient) -> None:
    assert 'href="/admin"' in browser.get("/").text


def test_signed_out_visitors_go_to_sign_in(client: TestClient) -> None:
    response = client.get("/admin/people", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?next=/admin/people"


def test_a_form_without_the_right_csrf_token_is_refused(browser: TestClient, session: Session) -> None:
    browser.headers["X-CSRF-Token"] = "forged"
    refused = post(browser, "/admin/sites", {"name": "Forged", "code": "forged", "csrf_token": "forged"})
    assert refused.status_code == 403 and "did not come from Hotline" in refused.text
    del browser.headers["X-CSRF-Token"]
    assert post(browser, "/admin/teams", {"name": "No token"}).status_code == 403
    assert organisation.list_sites(fresh(session)) == []


# Overview -----------------------------------------------------------------------------------

def test_overview_counts_and_lists_locked_accounts(browser: TestClient, session: Session) -> None:
    locked = make_user(session, display_name="Locked Lu")
    locked.locked_until = clock.now() + timedelta(minutes=10)
    session.commit()
    page = browser.get("/admin")
    for link in ("/admin/ivr", "/admin/sites", "/admin/holidays", "/admin/teams", "/admin/people"):
        assert f'href="{link}"' in page.text
    assert f'href="/admin/people/{locked.id}"' in page.text and "Locked accounts" in page.text


# IVR settings -------------------------------------------------------------------------------

def test_ivr_page_shows_every_text_with_its_default(browser: TestClient) -> None:
    page = browser.get("/admin/ivr").text
    for language in LANGUAGES:
        for key, default in DEFAULT_TEXTS[language].items():
            assert f'name="text-{language}-{key}"' in page and f'<label for="text-{language}-{key}"' in page
            assert default.replace("'", "&#39;") in page
    assert "Back to the default" not in page  # nothing is overridden yet


def test_ivr_texts_and_settings_are_saved_audited_and_reset(browser: TestClient, session: Session,
                                                            admin: User) -> None:
    site = make_site(session)
    saved = post(browser, "/admin/ivr", {
        "text-en-US-greeting": "Hello from the test shop.\r\n",
        "text-zh-CN-greeting": DEFAULT_TEXTS["zh-CN"]["greeting"],
        "text-en-US-position": "You are number {position}; about {minutes} minutes.",
        "default_language": "en-US", "default_site_id": str(site.id), "wait_limit_seconds": "240",
        "callback_due_minutes": "90"})
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/ivr"
    config = ivr.get_config(fresh(session))
    assert config.text("en-US", "greeting") == "Hello from the test shop."
    assert config.text("en-US", "position", position=2, minutes=3) == "You are number 2; about 3 minutes."
    assert config.texts.get("zh-CN", {}).get("greeting", "") == ""  # typed as the default: not overridden
    assert (config.default_language, config.default_site_id, config.wait_limit_seconds,
            config.callback_due_minutes) == ("en-US", site.id, 240, 90)
    entry = entries_for(session, object_type="ivr_settings")[0]
    assert entry.actor_id == admin.id and "texts.en-US.greeting" in entry.details_dict["fields"]
    page = browser.get("/admin/ivr").text
    assert "The IVR settings were saved." in page and "Back to the default" in page

    reset = post(browser, "/admin/ivr/reset", {"text": "en-US:greeting"})
    assert reset.status_code == 303
    assert ivr.get_config(fresh(session)).text("en-US", "greeting") == DEFAULT_TEXTS["en-US"]["greeting"]
    assert "The text is back to its default." in browser.get("/admin/ivr").text
    assert actions(session, object_type="ivr_settings") == ["ivr.settings_changed"] * 2


def test_ivr_page_saving_nothing_changes_nothing(browser: TestClient, session: Session) -> None:
    assert post(browser, "/admin/ivr", {"wait_limit_seconds": "180", "callback_due_minutes": "60"}).status_code == 303
    assert actions(session, object_type="ivr_settings") == []
    assert "Nothing was changed." in browser.get("/admin/ivr").text


def test_ivr_bad_numbers_and_language_are_shown_beside_their_fields(browser: TestClient, session: Session) -> None:
    page = post(browser, "/admin/ivr", {"wait_limit_seconds": "soon", "callback_due_minutes": "0",
                                        "default_language": "fr-FR", "text-en-US-greeting": "Kept as typed"})
    assert page.status_code == 422
    for field in ("wait_limit_seconds", "callback_due_minutes", "default_language"):
        assert f'id="{field}-error"' in page.text and f'aria-describedby="{field}-error"' in page.text
    assert "Give a whole number of seconds, 1 or more." in page.text
    assert "Kept as typed" in page.text and 'value="soon"' in page.text
    assert page.headers.get("hx-push-url") is None  # only htmx is told the page's own address
    assert actions(session, object_type="ivr_settings") == []


def test_ivr_too_long_text_maps_the_services_location_to_the_field(browser: TestClient) -> None:
    page = post(browser, "/admin/ivr", {"text-zh-CN-menu": "长" * 1001}, )
    assert page.status_code == 422
    assert 'id="text-zh-CN-menu-error"' in page.text and "A text has at most 1000 characters." in page.text


def test_ivr_refuses_placeholders_the_ivr_cannot_fill(browser: TestClient, session: Session) -> None:
    page = post(browser, "/admin/ivr", {"text-en-US-position": "You are {place} in line",
                                        "text-en-US-greeting": "Hello {caller}", "text-en-US-hold": "Hold {"})
    assert page.status_code == 422
    assert "Use only the placeholders {minutes}, {position}" in page.text
    assert page.text.count("This text takes no placeholders: remove the braces.") == 2
    assert ivr.get_config(fresh(session)).texts == {}


def test_ivr_errors_read_in_chinese(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.admin, locale="zh_Hans"))
    page = post(client, "/admin/ivr", {"wait_limit_seconds": "x"})
    assert page.status_code == 422 and '<html lang="zh-Hans">' in page.text
    assert "自动语音应答设置" in page.text and "请填写不小于 1 的整数秒数。" in page.text
    assert "普通话文本" in page.text and "Give a whole number" not in page.text


def test_ivr_reset_of_an_unknown_text_is_refused(browser: TestClient) -> None:
    assert post(browser, "/admin/ivr/reset", {"text": "en-US:nope"}).status_code == 422


def test_htmx_refusal_tells_the_pages_address(browser: TestClient) -> None:
    page = browser.post("/admin/ivr", data={"wait_limit_seconds": "x"}, headers={"HX-Request": "true"})
    assert page.status_code == 422 and page.headers["hx-push-url"] == "/admin/ivr"


# Sites, opening hours, holidays ------------------------------------------------------------

def test_create_a_site(browser: TestClient, session: Session, admin: User) -> None:
    created = post(browser, "/admin/sites", {"name": "Xuhui Store", "code": "Xuhui", "timezone": "Asia/Shanghai"})
    assert created.status_code == 303
    site = organisation.list_sites(fresh(session))[0]
    assert created.headers["location"] == f"/admin/sites/{site.id}"
    assert (site.name, site.code, site.timezone) == ("Xuhui Store", "xuhui", "Asia/Shanghai")
    assert entries_for(session, object_type="site", object_id=site.id)[0].actor_id == admin.id
    page = browser.get(created.headers["location"]).text
    assert "The site was created." in page and "this site is always open" in page
    assert "Xuhui Store" in browser.get("/admin/sites").text


def test_site_with_an_unknown_time_zone_is_refused(browser: TestClient, session: Session) -> None:
    page = post(browser, "/admin/sites", {"name": "Moon base", "code": "moon", "timezone": "Moon/Crater"})
    assert page.status_code == 422 and 'id="timezone-error"' in page.text and "Unknown time zone" in page.text
    # The zone is picked from a list by its words: what was sent is no zone, so none is chosen.
    assert 'value="Moon base"' in page.text and "Moon/Crater" not in page.text.split('id="timezone-error"')[0]
    assert organisation.list_sites(fresh(session)) == []


def test_site_with_a_taken_code_is_refused(browser: TestClient, session: Session) -> None:
    make_site(session, code="xuhui")
    page = post(browser, "/admin/sites", {"name": "Another", "code": "XUHUI", "timezone": ""})
    assert page.status_code == 409 and 'id="code-error"' in page.text
    assert "Another site already has this code" in page.text
    assert len(organisation.list_sites(fresh(session))) == 1


def test_site_needs_a_name_and_a_code(browser: TestClient) -> None:
    page = post(browser, "/admin/sites", {"name": " ", "code": "a b"})
    assert page.status_code == 422 and 'id="name-error"' in page.text and 'id="code-error"' in page.text


def test_opening_hours_are_saved_per_weekday_and_audited(browser: TestClient, session: Session, admin: User) -> None:
    site = make_site(session)
    form = {f"hours-{day}": "09:00-12:00, 13:00-18:00" for day in range(5)} | {"hours-5": "10:00–16:00",
                                                                                "hours-6": ""}
    saved = post(browser, f"/admin/sites/{site.id}/hours", form)
    assert saved.status_code == 303
    hours = calendar.opening_hours(fresh(session), site_id=site.id)
    assert hours[0] == [("09:00", "12:00"), ("13:00", "18:00")] and hours[5] == [("10:00", "16:00")] and 6 not in hours
    entry = entries_for(session, object_type="site", object_id=site.id, action_prefix="site.opening")[0]
    assert entry.actor_id == admin.id and entry.details_dict["weekdays"] == [0, 1, 2, 3, 4, 5]
    page = browser.get(f"/admin/sites/{site.id}").text
    assert "The opening hours were saved." in page and 'value="09:00-12:00, 13:00-18:00"' in page
    assert "this site is always open" not in page
    # The same hours again change nothing and write no audit entry.
    assert post(browser, f"/admin/sites/{site.id}/hours", form | {"hours-5": "10:00-16:00"}).status_code == 303
    assert len(entries_for(fresh(session), object_type="site", object_id=site.id, action_prefix="site.opening")) == 1


@pytest.mark.parametrize(("typed", "message"), [
    ("9 to 5", "Write each range as 09:00-18:00"),
    ("25:00-26:00", "Write each range as 09:00-18:00"),
    ("18:00-09:00", "A range must close after it opens."),
    ("09:00-13:00, 12:00-18:00", "The ranges of one day must not overlap."),
])
def test_bad_opening_hours_are_refused_beside_the_day(browser: TestClient, session: Session, typed: str,
                                                      message: str) -> None:
    site = make_site(session)
    page = post(browser, f"/admin/sites/{site.id}/hours", {"hours-0": "09:00-17:00", "hours-2": typed})
    assert page.status_code == 422
    assert 'id="hours-2-error"' in page.text and message in page.text and 'id="hours-0-error"' not in page.text
    assert f'value="{typed}"' in page.text
    assert calendar.opening_hours(fresh(session), site_id=site.id) == {}  # nothing of the form was kept


def test_site_and_center_holidays_are_added_and_removed(browser: TestClient, session: Session) -> None:
    site = make_site(session)
    today = clock.now().date()
    assert post(browser, f"/admin/sites/{site.id}/holidays", {"day": f"{today.year}-10-01",
                                                              "name": "National Day"}).status_code == 303
    assert post(browser, "/admin/holidays", {"day": f"{today.year}-12-25", "name": "Center party"}).status_code == 303
    assert calendar.is_holiday(fresh(session), site_id=site.id, day=date(today.year, 10, 1))
    assert calendar.is_holiday(session, site_id=site.id, day=date(today.year, 12, 25))
    site_page = browser.get(f"/admin/sites/{site.id}").text
    assert "National Day" in site_page and "Center party" in site_page and "The whole center" in site_page
    assert "Center party" in browser.get("/admin/holidays").text
    assert "National Day" not in browser.get("/admin/holidays").text
    assert post(browser, f"/admin/sites/{site.id}/holidays/remove", {"day": f"{today.year}-10-01"}).status_code == 303
    assert post(browser, "/admin/holidays/remove", {"day": f"{today.year}-12-25"}).status_code == 303
    assert calendar.holidays(fresh(session), site_id=site.id, start=date(today.year, 1, 1),
                             end=date(today.year, 12, 31)) == []
    assert actions(session, object_type="site", action_prefix="holiday.") == [
        "holiday.removed", "holiday.removed", "holiday.added", "holiday.added"]


def test_a_holiday_needs_a_date_and_a_name(browser: TestClient, session: Session) -> None:
    site = make_site(session)
    page = post(browser, f"/admin/sites/{site.id}/holidays", {"day": "someday", "name": ""})
    assert page.status_code == 422 and 'id="day-error"' in page.text and 'id="holiday_name-error"' in page.text
    assert "Give the day as a date" in page.text
    assert actions(session, action_prefix="holiday.") == []


def test_an_unknown_site_is_not_found(browser: TestClient) -> None:
    assert browser.get("/admin/sites/999999").status_code == 404
    assert post(browser, "/admin/sites/999999/holidays", {"day": "2026-10-01", "name": "x"}).status_code == 404


# Teams ------------------------------------------------------------------------------------

def test_create_a_team_and_see_it_under_its_site(browser: TestClient, session: Session) -> None:
    site = make_site(session, name="Pudong Store")
    assert post(browser, "/admin/teams", {"name": "Night owls", "site_id": str(site.id)}).status_code == 303
    team = organisation.list_teams(fresh(session), site_id=site.id)[0]
    assert team.name == "Night owls"
    assert actions(session, object_type="team", object_id=team.id) == ["team.created"]
    page = browser.get("/admin/teams").text
    assert "The team was created." in page and f'href="/admin/people?team={team.id}"' in page


def test_a_team_needs_a_name_and_a_site(browser: TestClient, session: Session) -> None:
    make_site(session)
    page = post(browser, "/admin/teams", {"name": "", "site_id": "999999"})
    assert page.status_code == 422 and 'id="name-error"' in page.text and 'id="site_id-error"' in page.text
    assert organisation.list_teams(fresh(session)) == []


# People -----------------------------------------------------------------------------------

def test_people_list_filters(browser: TestClient, session: Session, admin: User) -> None:
    team = make_team(session)
    other = make_team(session)
    agent = make_user(session, team=team, display_name="Agent Ann")
    leader = make_user(session, role=Role.team_leader, team=team, display_name="Leader Lee")
    elsewhere = make_user(session, team=other, display_name="Far Away")
    gone = make_user(session, team=team, display_name="Gone Gus")
    users.set_active(session, user_id=gone.id, active=False, by=admin)
    session.commit()
    page = browser.get(f"/admin/people?team={team.id}").text
    assert "Agent Ann" in page and "Leader Lee" in page and "Far Away" not in page and "Gone Gus" not in page
    page = browser.get(f"/admin/people?site={team.site_id}&role=team_leader").text
    assert "Leader Lee" in page and "Agent Ann" not in page
    page = browser.get(f"/admin/people?team={team.id}&state=inactive").text
    assert "Gone Gus" in page and "Agent Ann" not in page
    page = browser.get("/admin/people?state=all&role=nonsense&site=x").text  # unknown filters mean "any"
    assert all(name in page for name in ("Agent Ann", "Far Away", "Gone Gus", "Ada Admin"))
    assert f'href="/admin/people/{agent.id}"' in page and elsewhere.display_name in page and leader.username in page


def test_create_an_account_with_its_first_password(browser: TestClient, session: Session, admin: User,
                                                   client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    team = make_team(session)
    password = "a long first password 42"
    created = post(browser, "/admin/people", {
        "username": "Wang.Fang", "display_name": "Wang Fang", "role": "agent", "site_id": "",
        "team_id": str(team.id), "locale": "zh_Hans", "password": password})
    assert created.status_code == 303
    person = users.get_by_username(fresh(session), username="wang.fang")
    assert person is not None and (person.role, person.team_id, person.site_id, person.locale) == (
        "agent", team.id, team.site_id, "zh_Hans")
    assert created.headers["location"] == f"/admin/people/{person.id}"
    page = browser.get(created.headers["location"])
    assert "The account was created." in page.text and password not in page.text
    assert password not in caplog.text
    # The note carried over the redirect says only what happened (the cookie is signed, not secret).
    assert flash._serializer().loads(created.cookies[flash.FLASH_COOKIE]) == {"done": "user_created"}
    assert actions(session, object_type="user", object_id=person.id) == ["user.moved", "user.created"]
    assert all(password not in (e.details or "") for e in entries_for(session, object_type="user"))
    # The person signs in with it.
    signed_in_client(TestClient(client.app, base_url="http://testserver"), person, password=password)


def test_account_refusals_keep_what_was_typed_but_never_the_password(browser: TestClient, session: Session) -> None:
    make_user(session, username="taken")
    page = post(browser, "/admin/people", {"username": "Taken", "display_name": "Twin", "role": "agent",
                                           "password": "a long enough password"})
    assert page.status_code == 409 and 'id="username-error"' in page.text
    assert "This username is already in use" in page.text and 'value="Taken"' in page.text
    assert "a long enough password" not in page.text

    weak = post(browser, "/admin/people", {"username": "newbie", "role": "agent", "password": "short"})
    assert weak.status_code == 422 and 'id="password-error"' in weak.text
    assert "at least 10 characters long" in weak.text and 'value="short"' not in weak.text
    assert users.get_by_username(fresh(session), username="newbie") is None

    bad = post(browser, "/admin/people", {"username": "x", "role": "wizard", "password": "a long enough password"})
    assert bad.status_code == 422 and 'id="username-error"' in bad.text


def test_account_with_a_team_of_another_site_is_refused(browser: TestClient, session: Session) -> None:
    site, team = make_site(session), make_team(session)
    page = post(browser, "/admin/people", {"username": "misplaced", "role": "agent", "site_id": str(site.id),
                                           "team_id": str(team.id), "password": "a long enough password"})
    assert page.status_code == 422 and 'id="team_id-error"' in page.text
    assert users.get_by_username(fresh(session), username="misplaced") is None  # nothing half-made


def test_change_role_and_the_last_admin_cannot_be_demoted(browser: TestClient, session: Session,
                                                          admin: User) -> None:
    person = make_user(session)
    assert post(browser, f"/admin/people/{person.id}/role", {"role": "team_leader"}).status_code == 303
    assert users.get(fresh(session), user_id=person.id).role == "team_leader"
    assert actions(session, object_type="user", object_id=person.id, action_prefix="user.role") == ["user.role_changed"]

    page = post(browser, f"/admin/people/{admin.id}/role", {"role": "agent"})
    assert page.status_code == 409 and 'id="role-error"' in page.text
    assert "last active administrator" in page.text
    assert users.get(fresh(session), user_id=admin.id).role == "admin"
    refused = post(browser, f"/admin/people/{admin.id}/active", {"active": "0"})
    assert refused.status_code == 409 and 'id="account-error"' in refused.text
    assert users.get(fresh(session), user_id=admin.id).is_active


def test_last_admin_refusal_reads_in_chinese(client: TestClient, session: Session) -> None:
    admin = make_user(session, role=Role.admin, locale="zh_Hans")
    signed_in_client(client, admin)
    page = post(client, f"/admin/people/{admin.id}/role", {"role": "agent"})
    assert page.status_code == 409 and 'id="role-error"' in page.text
    assert "这是最后一位启用的系统管理员" in page.text and "last active administrator" not in page.text


def test_move_a_person_to_another_team(browser: TestClient, session: Session) -> None:
    person = make_user(session, team=make_team(session))
    team = make_team(session)
    moved = post(browser, f"/admin/people/{person.id}/place", {"site_id": "", "team_id": str(team.id)})
    assert moved.status_code == 303
    person = users.get(fresh(session), user_id=person.id)
    assert (person.site_id, person.team_id) == (team.site_id, team.id)
    assert actions(session, object_type="user", object_id=person.id, action_prefix="user.moved") == ["user.moved"]
    page = post(browser, f"/admin/people/{person.id}/place", {"site_id": str(make_site(session).id),
                                                              "team_id": str(team.id)})
    assert page.status_code == 422 and 'id="team_id-error"' in page.text and "another site" in page.text


def test_skills_are_set_changed_and_removed(browser: TestClient, session: Session) -> None:
    person = make_user(session)
    make_skill(session, code="complaint", name="Complaints")
    assert post(browser, f"/admin/people/{person.id}/skills", {"skill": "complaint", "level": "4"}).status_code == 303
    assert [(s.skill.code, s.level) for s in users.get(fresh(session), user_id=person.id).skills] == [("complaint", 4)]
    page = browser.get(f"/admin/people/{person.id}").text
    assert 'id="level-complaint"' in page and "The skill was saved." in page
    assert post(browser, f"/admin/people/{person.id}/skills", {"skill": "complaint", "level": "2",
                                                               "row": "1"}).status_code == 303
    assert users.get(fresh(session), user_id=person.id).skills[0].level == 2
    assert post(browser, f"/admin/people/{person.id}/skills/remove", {"skill": "complaint"}).status_code == 303
    assert users.get(fresh(session), user_id=person.id).skills == []
    assert actions(session, object_type="user", object_id=person.id, action_prefix="user.skill") == [
        "user.skill_removed", "user.skill_set", "user.skill_set"]


def test_bad_skill_or_level_is_refused(browser: TestClient, session: Session) -> None:
    person = make_user(session)
    make_skill(session, code="membership")
    page = post(browser, f"/admin/people/{person.id}/skills", {"skill": "membership", "level": "9"})
    assert page.status_code == 422 and 'id="level-error"' in page.text and "from 1 to 5" in page.text
    users.set_skill(session, user_id=person.id, skill_code="membership", level=2)
    session.commit()
    page = post(browser, f"/admin/people/{person.id}/skills", {"skill": "membership", "level": "x", "row": "1"})
    assert page.status_code == 422 and 'id="level-membership-error"' in page.text
    make_skill(session, code="english")
    page = post(browser, f"/admin/people/{person.id}/skills", {"skill": "", "level": "3"})
    assert page.status_code in (409, 422) and 'id="skill-error"' in page.text
    assert "Choose a skill from the list." in page.text
    assert [link.level for link in users.get(fresh(session), user_id=person.id).skills] == [2]


def test_unlock_deactivate_reactivate_and_new_password(browser: TestClient, session: Session, client: TestClient,
                                                       admin: User) -> None:
    person = make_user(session)
    person.locked_until = clock.now() + timedelta(minutes=15)
    session.commit()
    page = browser.get(f"/admin/people/{person.id}").text
    assert "Unlock the account" in page and "Locked until" in page
    assert post(browser, f"/admin/people/{person.id}/unlock", {}).status_code == 303
    assert not users.get(fresh(session), user_id=person.id).is_locked()

    assert post(browser, f"/admin/people/{person.id}/active", {"active": "0"}).status_code == 303
    assert not users.get(fresh(session), user_id=person.id).is_active
    assert "Reactivate the account" in browser.get(f"/admin/people/{person.id}").text
    assert post(browser, f"/admin/people/{person.id}/active", {"active": "1"}).status_code == 303
    assert users.get(fresh(session), user_id=person.id).is_active

    weak = post(browser, f"/admin/people/{person.id}/password", {"password": "tiny"})
    assert weak.status_code == 422 and 'id="password-error"' in weak.text and "tiny" not in weak.text
    assert post(browser, f"/admin/people/{person.id}/password", {"password": "a brand new password"}).status_code == 303
    assert actions(session, object_type="user", object_id=person.id) == [
        "user.password_changed", "user.activated", "user.deactivated", "user.unlocked", "user.created"]
    assert entries_for(session, object_type="user", object_id=person.id)[0].actor_id == admin.id
    signed_in_client(TestClient(client.app, base_url="http://testserver"), person, password="a brand new password")


def test_an_unknown_person_is_not_found(browser: TestClient) -> None:
    assert browser.get("/admin/people/999999").status_code == 404


def test_people_pages_in_chinese(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.admin, locale="zh_Hans"))
    page = post(client, "/admin/people", {"username": "newbie", "role": "agent", "password": "short"})
    assert page.status_code == 422 and '<html lang="zh-Hans">' in page.text
    assert "密码至少需要 10 个字符" in page.text and 'id="password-error"' in page.text
    assert directory.find_users(fresh(session), active=None, role="agent") == []


def test_a_sites_teams_are_listed_with_the_readers_separator(client: TestClient, session: Session) -> None:
    """Chinese lists with 、 where English uses a comma (the site page named its teams with ", ")."""
    site = make_site(session)
    make_team(session, site=site, name="早班组")
    make_team(session, site=site, name="晚班组")
    signed_in_client(client, make_user(session, role=Role.admin, locale="zh_Hans"))
    page = client.get(f"/admin/sites/{site.id}").text
    teams = re.search(r"<dd>((?:(?!</dd>).)*早班组.*?)</dd>", page, re.S)
    assert teams and "、" in teams.group(1) and ", " not in teams.group(1), teams
