"""Lists on pages are joined with the reader's separator (、 in Chinese), from one helper, never a
hard-coded ", " (the customer card and list, the desktop's caller card and the duty page did)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agent_ui.templating import env
from core import users
from tests.agent_ui.desk import Desk, desk
from tests.factories import signed_in_client

__all__ = ["desk"]

TEMPLATES = Path(__file__).parents[2] / "agent_ui" / "templates"
LISTING = ["desktop/_card.html", "scheduling/duty.html", "customers/list.html", "customers/card.html"]


def test_the_helper_joins_with_the_readers_separator_and_escapes() -> None:
    template = env.from_string('{{ items|listed }}|{% for i in items %}{{ i }}{{ list_separator() if not loop.last }}{% endfor %}')
    assert template.render(locale="zh_Hans", items=["甲", "<b>"]) == "甲、&lt;b&gt;|甲、&lt;b&gt;"
    assert template.render(locale="en", items=["a", "b"]) == "a, b|a, b"


def test_no_listing_template_hard_codes_a_comma() -> None:
    for name in LISTING:
        text = (TEMPLATES / name).read_text(encoding="utf-8")
        assert ", {% endif %}" not in text and 'join(", ")' not in text and '{{ _(", ") }}' not in text, name


def _two_phones(session: Session, desk: Desk) -> None:
    from core import assignments
    from tickets.customers import update_customer

    assignments.assign_site_manager(session, site_id=desk.site.id, user_id=desk.supervisor.id, by=None)
    update_customer(session, customer_id=desk.customer.id, by=desk.supervisor, requested_by_customer=True,
                    changes={"phones": ["+8613800138000", "+8613900139009"],
                             "preferences": {"products": ["宽带", "电视"]}})
    users.set_locale(session, user_id=desk.supervisor.id, locale="zh_Hans")
    session.commit()


def test_customer_card_and_list_in_chinese_use_the_chinese_separator(client: TestClient, session: Session,
                                                                      desk: Desk) -> None:
    _two_phones(session, desk)
    signed_in_client(client, desk.supervisor)
    card = client.get(f"/customers/{desk.customer.id}").text
    assert re.search(r"8000</span></span>、<span", card) and "宽带、电视" in card, card
    listing = client.get("/customers").text
    assert re.search(r"8000</span>、<span", listing), listing
