"""The one settings page (`/admin/settings`): every namespace's tunables grouped, with default and
bounds, in English and Chinese; a value out of bounds refused beside its field (nothing saved);
a change saved and audited with who made it; back to the default; administrators only; linked
from the SLA page, where the SLA settings used to be."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import tunables
from core.audit import entries_for
from core.models import Role, User
from qa import settings as qa_settings
from telephony import priority
from tests.factories import cheap_password_hashing, fresh, make_user, signed_in_client
from tickets import sla

__all__ = ["cheap_password_hashing"]


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role=Role.admin, display_name="Ada Admin")


@pytest.fixture
def browser(client: TestClient, admin: User) -> TestClient:
    return signed_in_client(client, admin)


def post(client: TestClient, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(path, data=data, follow_redirects=False)


def form_of(namespace: str, **changes: str) -> dict[str, str]:
    return {t.key: str(t.default) for t in tunables.declared(namespace)} | changes


def test_the_page_groups_every_tunable_with_its_bounds(browser: TestClient) -> None:
    page = browser.get("/admin/settings")
    assert page.status_code == 200
    for namespace in ("routing", "tickets", "qa", "scheduling"):
        assert f'id="settings-{namespace}-form"' in page.text
        for tunable in tunables.declared(namespace):
            assert f'id="{namespace}-{tunable.key}"' in page.text
    assert "Call routing" in page.text and "Quality assurance" in page.text
    assert "Default 3; from 1 to 5." in page.text and "Default 3; one of 3, 12." in page.text
    assert 'min="1" max="5"' in page.text
    assert 'href="/admin/settings"' in browser.get("/admin").text
    sla_page = browser.get("/admin/sla").text
    assert 'href="/admin/settings#tickets"' in sla_page and "sla-settings-form" not in sla_page
    assert 'href="/admin/settings#tickets"' in browser.get("/admin/lifecycle").text


def test_a_change_is_saved_and_audited(browser: TestClient, session: Session, admin: User) -> None:
    saved = post(browser, "/admin/settings/qa", form_of("qa", evaluations_per_agent="4", reason="more listening"))
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/settings#qa"
    assert qa_settings.policy(fresh(session)).evaluations_per_agent == 4
    [entry] = entries_for(session, object_type="tunable")
    assert (entry.object_id, entry.actor_id, entry.details_dict) == (
        "qa.evaluations_per_agent", admin.id, {"before": 3, "value": 4, "reason": "more listening"})
    page = browser.get("/admin/settings")
    assert "The settings were saved" in page.text and "Changed by Ada Admin" in page.text
    assert 'value="qa.evaluations_per_agent"' in page.text  # its "back to the default" button

    # An unchanged form changes nothing; a new aging rate goes through the router's own hook.
    assert post(browser, "/admin/settings/qa", form_of("qa", evaluations_per_agent="4")).status_code == 303
    assert len(entries_for(fresh(session), object_type="tunable")) == 1
    assert post(browser, "/admin/settings/routing",
                form_of("routing", aging_seconds_per_point="60")).status_code == 303
    assert priority.routing_settings(fresh(session)).aging_seconds_per_point == 60

    reset = post(browser, "/admin/settings/reset", {"tunable": "qa.evaluations_per_agent"})
    assert reset.status_code == 303
    assert qa_settings.policy(fresh(session)).evaluations_per_agent == 3
    assert entries_for(session, object_type="tunable")[0].action == "tunable.reset"
    assert "The setting is back to its default." in browser.get("/admin/settings").text


def test_values_out_of_bounds_are_refused_beside_their_fields(browser: TestClient, session: Session) -> None:
    refused = post(browser, "/admin/settings/tickets", form_of("tickets", at_risk_percent="150",
                                                                tier_assessment_months="6", quiet_customer_days="x",
                                                                points_per_yuan="2"))
    assert refused.status_code == 422
    assert 'id="tickets-at_risk_percent-error"' in refused.text and "Give a whole number from 1 to 99." in refused.text
    assert 'id="tickets-tier_assessment_months-error"' in refused.text and "Choose one of 3, 12." in refused.text
    assert 'id="tickets-quiet_customer_days-error"' in refused.text and 'value="150"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert sla.get_setting(fresh(session), "points_per_yuan") == 1  # nothing of the form was saved
    assert entries_for(session, object_type="tunable") == []

    browser.cookies.set("hotline_locale", "zh_Hans")
    chinese = post(browser, "/admin/settings/tickets", form_of("tickets", at_risk_percent="150"))
    assert chinese.status_code == 422 and "请填写 1 到 99 之间的整数。" in chinese.text
    page = browser.get("/admin/settings").text
    assert "来电分配" in page and "工单与客户" in page and "质检" in page and "排班、请假与换班" in page
    assert "默认 80；范围 1 至 99。" in page and "Call routing" not in page


def test_the_page_is_for_administrators(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.center_head))
    assert client.get("/admin/settings").status_code == 403
    assert post(client, "/admin/settings/qa", form_of("qa", evaluations_per_agent="4")).status_code == 403
    assert post(client, "/admin/settings/reset", {"tunable": "qa.evaluations_per_agent"}).status_code == 403


def test_an_unknown_group_is_not_found(browser: TestClient) -> None:
    assert post(browser, "/admin/settings/weather", {"rain": "1"}).status_code == 404
    assert post(browser, "/admin/settings/reset", {"tunable": "weather.rain"}).status_code == 303


def test_every_label_is_translated() -> None:
    from babel.messages.pofile import read_po

    from tests.agent_ui.test_translations import CATALOGUES

    with open(CATALOGUES / "zh_Hans" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        translated = {m.id for m in read_po(handle, locale="zh_Hans") if m.id and m.string}
    words = {ns.title for ns in tunables.NAMESPACES.values()}
    words |= {w for t in tunables.declared() for w in (t.label, t.unit, t.help) if w}
    words |= {tunables.OutOfBounds.RANGE, tunables.OutOfBounds.CHOICE}
    assert sorted(words - translated) == []
