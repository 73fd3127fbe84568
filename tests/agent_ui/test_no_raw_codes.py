"""No raw codes on screen: a skill, a consent purpose, a callback attempt's state or a refusal's
rule reads in words in the reader's language; a refused swap tells the requester why; the QA
inspector's "Notices" link opens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agent_ui.pages.scheduling import rule_text
from tests.agent_ui.desk import Desk, desk
from tests.factories import cheap_password_hashing, fresh, signed_in_client
from tests.scheduling.conftest import World, world
from tickets import service as ticket_service
from tickets import timeline
from tickets.customers import create_customer

__all__ = ["cheap_password_hashing", "desk", "world"]


def _visible(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_skill_in_a_refusal_reads_as_its_name() -> None:
    error = {"rule": "swap.skill_level", "params": {"skill": "english", "requester_level": 3, "partner_level": 1,
                                                    "tolerance": 1}}
    assert "on English: 3 and 1" in rule_text(error, "en", "Asia/Shanghai")
    chinese = rule_text(error, "zh_Hans", "Asia/Shanghai")
    assert chinese.startswith("英语 的技能等级不可比") and "english" not in chinese
    job = rule_text({"rule": "shift.job_type", "params": {"shift_job_type": "hotline_agent",
                                                          "person_job_type": "hotline_agent"}}, "en", "UTC")
    assert "hotline_agent" not in job and "Hotline agent" in job


def test_consent_purposes_read_as_words(client: TestClient, session: Session, desk: Desk) -> None:
    mine = create_customer(session, by=None, audit=False, data={
        "name": "Zhao Lei", "phones": ["+8613900139001"], "site_id": desk.site.id, "owning_agent_id": desk.agent.id,
        "consent_purposes": ["service", "care_sms"], "consent_method": "phone"})
    session.commit()
    signed_in_client(client, desk.agent)
    page = _visible(client.get(f"/customers/{mine.id}").text)
    assert "Consent Care messages (SMS), Service calls" in page and "care_sms" not in page
    client.cookies.set("hotline_locale", "zh_Hans")
    assert "关怀短信、服务来电" in _visible(client.get(f"/customers/{mine.id}").text)


def test_a_callback_attempt_in_the_timeline_reads_in_words(client: TestClient, session: Session, desk: Desk) -> None:
    ticket = ticket_service.open_ticket(session, category="inquiry", by=desk.agent, customer_id=desk.customer.id)
    timeline.record(session, ticket, kind="callback_attempt", field="callback", to_value="no_answer",
                    reason="attempt 1 of 3; trying again later", actor=desk.agent)
    timeline.record(session, ticket, kind="callback_refused", field="callback", to_value="refused",
                    reason="grant_expired", actor=desk.agent)
    session.commit()
    signed_in_client(client, desk.agent)
    page = _visible(client.get(f"/tickets/{ticket.id}").text)
    assert "Callback attempt: no answer" in page and "Callback refused: refused" in page
    for code in ("callback_attempt", "callback_refused", "no_answer", "grant_expired"):
        assert code not in page, code
    client.cookies.set("hotline_locale", "zh_Hans")
    assert "回拨尝试: 无人接听" in _visible(client.get(f"/tickets/{ticket.id}").text)


def test_the_qa_inspectors_notices_link_opens(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.qa)
    home = client.get("/").text
    assert 'href="/notices"' in home
    page = client.get("/notices")
    assert page.status_code == 200 and "<h1" in page.text
    assert client.post("/notices", data={"title": "x", "body": "y"}).status_code == 403  # leaders publish


def test_a_swap_turned_down_tells_the_requester_why(client: TestClient, session: Session, world: World) -> None:
    from datetime import date

    from sqlalchemy import select

    from scheduling.models import SwapRequest
    from tests.scheduling.conftest import assign

    shift = assign(session, world, world.agents[0], date(2026, 1, 7))
    signed_in_client(client, world.agents[0])
    client.post("/shifts/swaps", data={"shift_id": shift.id, "partner_id": world.agents[1].id})
    swap_id = session.scalar(select(SwapRequest.id))
    signed_in_client(client, world.leader)
    form = client.get("/shifts").text
    assert f'id="swap-note-{swap_id}"' in form
    client.post(f"/shifts/swaps/{swap_id}/refuse", data={"note": "Nobody left for the evening queue."})
    signed_in_client(client, world.agents[0])
    mine = client.get("/shifts").text
    assert f'id="swap-note-{swap_id}"' not in mine  # withdrawing needs no reason
    assert "Why: Nobody left for the evening queue." in _visible(mine).replace("“", "").replace("”", "")


def test_the_system_tag_reads_in_words_and_is_found_by_them(client: TestClient, session: Session, desk: Desk) -> None:
    """The hub's own tag (`abusive_caller`, set when a caller is handed to the team leader) read as
    a code on the ticket and in its timeline; staff's tags stay as typed, in any language."""
    from tickets import escalation

    ticket = ticket_service.open_ticket(session, category="inquiry", by=desk.agent, customer_id=desk.customer.id)
    escalation.hand_to_team_leader(session, ticket_id=ticket.id, by=desk.agent, reason="Shouted at me")
    session.commit()
    signed_in_client(client, desk.team_leader)
    added = client.post(f"/tickets/{ticket.id}/tags", data={"tag": "Late delivery"},
                        follow_redirects=False)
    assert added.status_code == 303, added.text
    page = _visible(client.get(f"/tickets/{ticket.id}").text)
    assert "Abusive caller" in page and "Late delivery" in page and "Tag added: Abusive caller" in page
    assert "abusive_caller" not in page
    listed = client.get("/tickets", params={"tag": "abusive CALLER"})  # the words find it, in any case
    assert f'href="/tickets/{ticket.id}"' in listed.text
    assert 'value="Abusive caller"' in listed.text  # the filter offers the hub's tags by their words
    # Typing the words as a new tag is the same tag, not a look-alike of it.
    again = client.post(f"/tickets/{ticket.id}/tags", data={"tag": "abusive caller"},
                        follow_redirects=False)
    assert again.status_code == 303
    assert sorted(ticket_service.tags_of(fresh(session), ticket_id=ticket.id)) == ["Late delivery", "abusive_caller"]

    client.cookies.set("hotline_locale", "zh_Hans")
    chinese = _visible(client.get(f"/tickets/{ticket.id}").text)
    assert "恶意来电者" in chinese and "Late delivery" in chinese and "abusive_caller" not in chinese
    assert f'href="/tickets/{ticket.id}"' in client.get("/tickets", params={"tag": "恶意来电者"}).text
    removed = client.post(f"/tickets/{ticket.id}/tags/remove", data={"tag": "恶意来电者"},
                          follow_redirects=False)
    assert removed.status_code == 303
    assert ticket_service.tags_of(fresh(session), ticket_id=ticket.id) == ["Late delivery"]


def test_time_zones_read_in_words_in_each_language(client: TestClient, session: Session, desk: Desk) -> None:
    """A site's time zone showed as its IANA name ("Asia/Shanghai") on every page that names it; it
    reads "China Time" / "中国时间", and the site form offers zones by their words."""
    from core.models import Role
    from tests.factories import make_site, make_user

    berlin = make_site(session, name="Berlin Store", timezone="Europe/Berlin")
    admin = make_user(session, role=Role.admin)
    pages = {desk.supervisor: ["/calls", "/reports"], desk.agent: ["/shifts"],
             admin: ["/admin/sites", f"/admin/sites/{berlin.id}", "/admin/audit"]}
    english = {"/calls": "Times are in China Time.", "/reports": "days in China Time.",
               "/shifts": "local time (China Time)", "/admin/sites": "Central European Time",
               f"/admin/sites/{berlin.id}": "Central European Time", "/admin/audit": "Coordinated Universal Time"}
    chinese = {"/calls": "时间按中国时间显示。", "/reports": "日期按中国时间划分。", "/shifts": "当地时间（中国时间）",
               "/admin/sites": "中欧时间", f"/admin/sites/{berlin.id}": "中欧时间",
               "/admin/audit": "时间按协调世界时显示。"}
    for user, paths in pages.items():
        client.cookies.clear()
        signed_in_client(client, user)
        for locale, words in (("en", english), ("zh_Hans", chinese)):
            client.cookies.set("hotline_locale", locale)
            for path in paths:
                page = client.get(path)
                assert page.status_code == 200, path
                visible = _visible(page.text)
                assert words[path] in visible, (locale, path)
                for code in ("Asia/Shanghai", "Europe/Berlin", "UTC"):
                    assert code not in visible, (locale, path, code)
            if user is admin:  # the form picks a zone by its words and sends the IANA name
                form = client.get("/admin/sites").text
                assert re.search(r'<option value="Europe/Berlin"[^>]*>' + re.escape(
                    "Germany (Berlin) Time" if locale == "en" else "德国（柏林）时间") + "</option>", form)


def test_a_month_reads_as_words(client: TestClient, desk: Desk) -> None:
    """The monthly reports said "Tickets opened in 2026-01" (the month's key, not its name)."""
    signed_in_client(client, desk.supervisor)
    for locale, words in (("en", ("Tickets opened in January 2026", "January 2026, ")),
                          ("zh_Hans", ("2026年1月", "2026年1月"))):
        client.cookies.set("hotline_locale", locale)
        complaints = _visible(client.get("/reports/complaints", params={"month": "2026-01"}).text)
        customers = _visible(client.get("/reports/customers", params={"month": "2026-01"}).text)
        assert words[0] in complaints and words[1] in customers, locale
