"""The audit trail page (`/admin/audit`): entries made by real actions, newest first, a page at a
time, filtered by person, action, customer and days; words for every action in both languages and
no personal data; the chain checked on demand; for administrators and center heads only, and
every reading of it recorded in the trail itself."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent_ui import labels
from core import audit, users
from core.audit import AuditEntry
from core.models import Role, User
from tests.agent_ui.desk import CALLER, Desk, desk, grant_for
from tests.factories import cheap_password_hashing, fresh, make_user, signed_in_client

__all__ = ["cheap_password_hashing", "desk"]


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role=Role.admin, display_name="Ada Admin")


def _rows(html: str) -> list[str]:
    body = re.search(r'<table class="table" id="audit-entries">.*?<tbody>(.*?)</tbody>', html, re.S)
    return re.findall(r"<tr data-seq=\"\d+\">(.*?)</tr>", body.group(1), re.S) if body else []


def _seqs(html: str) -> list[int]:
    return [int(seq) for seq in re.findall(r'<tr data-seq="(\d+)">', html)]


def _visible(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _card_viewed(client: TestClient, session: Session, desk: Desk) -> None:
    """The agent opens the customer's full card on a supervisor's callback authorisation."""
    grant_for(session, desk, minutes=60)
    signed_in_client(client, desk.agent)
    assert "Wang Fang" in client.get(f"/customers/{desk.customer.id}").text


def test_the_trail_lists_what_people_did_newest_first_without_personal_data(
        client: TestClient, session: Session, desk: Desk, admin: User) -> None:
    _card_viewed(client, session, desk)
    signed_in_client(client, admin)
    page = client.get("/admin/audit")
    assert page.status_code == 200, page.text
    seqs = _seqs(page.text)
    assert seqs == sorted(seqs, reverse=True) and seqs
    text = _visible(page.text)
    viewed = [row for row in _rows(page.text) if "Customer details viewed" in row]
    assert len(viewed) == 1 and "An Agent" in viewed[0]
    assert f'<a href="/customers/{desk.customer.id}">#{desk.customer.id}</a>' in viewed[0]
    granted = [row for row in _rows(page.text) if "Callback authorisation granted" in row]
    assert len(granted) == 1 and desk.supervisor.display_name in granted[0]
    assert f'href="/customers/{desk.customer.id}"' in granted[0]  # named in the grant's details
    # No personal data, no reason typed by a person, no raw action codes.
    assert "Wang Fang" not in text and CALLER not in text and "8000" not in text
    assert "Promised a call back" not in text
    assert not re.search(r"\b(customer|grant|auth|user)\.[a-z_]+\b", text)
    # Linked from the administration pages.
    overview = client.get("/admin").text
    assert 'href="/admin/audit"' in overview and "Audit trail" in overview


def test_reading_the_trail_is_recorded_in_it(client: TestClient, session: Session, admin: User) -> None:
    signed_in_client(client, admin)
    assert client.get("/admin/audit?action=auth.signin&page=1").status_code == 200
    reads = audit.entries_for(fresh(session), action_prefix="audit.viewed")
    assert len(reads) == 1 and reads[0].actor_id == admin.id
    assert reads[0].details_dict["action"] == "auth.signin" and reads[0].details_dict["page"] == 1
    # The next reader sees it, in words.
    again = client.get("/admin/audit")
    assert any("Audit trail read" in row and "Ada Admin" in row for row in _rows(again.text))
    assert len(audit.entries_for(fresh(session), action_prefix="audit.viewed")) == 2


def test_filters_by_person_action_customer_and_days_and_keeps_them(
        client: TestClient, session: Session, desk: Desk, admin: User, clock) -> None:  # type: ignore[no-untyped-def]
    clock.advance(days=-3)
    _card_viewed(client, session, desk)
    clock.advance(days=3)
    signed_in_client(client, admin)
    by_agent = client.get(f"/admin/audit?person={desk.agent.id}")
    rows = _rows(by_agent.text)
    assert rows and all("An Agent" in row for row in rows)
    assert f'<option value="{desk.agent.id}" selected>' in by_agent.text

    viewed = client.get("/admin/audit?action=customer.viewed")
    rows = _rows(viewed.text)
    assert len(rows) == 1 and "Customer details viewed" in rows[0]
    assert '<option value="customer.viewed" selected>' in viewed.text

    about = client.get(f"/admin/audit?customer={desk.customer.id}")
    words = {label for row in _rows(about.text) for label in ("Customer details viewed",
                                                              "Callback authorisation granted", "Signed in")
             if label in row}
    assert words == {"Customer details viewed", "Callback authorisation granted"}
    assert f'name="customer" inputmode="numeric" value="{desk.customer.id}"' in about.text
    assert _rows(client.get("/admin/audit?customer=999999").text) == []

    today = clock.now().date()
    earlier = (today - timedelta(days=3)).isoformat()
    then = client.get(f"/admin/audit?since={earlier}&until={earlier}")
    assert any("Customer details viewed" in row for row in _rows(then.text))
    assert not any("Ada Admin" in row for row in _rows(then.text))  # signed in today
    assert f'value="{earlier}"' in then.text
    now = client.get(f"/admin/audit?since={today.isoformat()}")
    assert not any("Customer details viewed" in row for row in _rows(now.text))

    wrong = client.get("/admin/audit?customer=abc&since=yesterday")
    assert wrong.status_code == 200 and _rows(wrong.text) == []
    assert "A customer number is a whole number." in wrong.text and "Write the day as YYYY-MM-DD." in wrong.text


def test_pages_of_fifty_with_next_and_previous(client: TestClient, session: Session, admin: User) -> None:
    for number in range(60):
        audit.record(session, action="customer.viewed", actor_id=admin.id, actor_name=admin.username,
                     object_type="customer", object_id=number + 1)
        session.commit()
    signed_in_client(client, admin)
    first = client.get("/admin/audit?action=customer.viewed")
    seqs = _seqs(first.text)
    assert len(seqs) == 50 and 'rel="next"' in first.text and 'rel="prev"' not in first.text
    assert 'href="/admin/audit?action=customer.viewed&amp;page=2"' in first.text
    second = client.get("/admin/audit?action=customer.viewed&page=2")
    more = _seqs(second.text)
    assert len(more) == 10 and max(more) < min(seqs) and 'rel="prev"' in second.text and 'rel="next"' not in second.text


@pytest.mark.parametrize("role", [Role.agent, Role.team_leader, Role.supervisor, Role.qa_inspector])
def test_refused_to_other_roles(client: TestClient, session: Session, role: Role) -> None:
    signed_in_client(client, make_user(session, role=role))
    page = client.get("/admin/audit")
    assert page.status_code == 403
    assert audit.entries_for(fresh(session), action_prefix="audit.viewed") == []


def test_a_center_head_reads_it_from_the_navigation(client: TestClient, session: Session) -> None:
    head = make_user(session, role=Role.center_head, display_name="Hu Head")
    signed_in_client(client, head)
    home = client.get("/")
    assert 'href="/admin/audit"' in home.text
    page = client.get("/admin/audit")
    assert page.status_code == 200 and 'href="/admin/people"' not in page.text  # not an administrator's pages


def test_in_chinese_every_action_reads_in_words(client: TestClient, session: Session, desk: Desk,
                                                admin: User) -> None:
    _card_viewed(client, session, desk)
    users.set_locale(session, user_id=admin.id, locale="zh_Hans")
    session.commit()
    signed_in_client(client, admin)
    page = client.get("/admin/audit")
    assert '<html lang="zh-Hans">' in page.text and "审计记录" in page.text
    text = _visible(page.text)
    assert "查看客户详情" in text and "授予回访授权" in text
    assert not re.search(r"[a-z_]+\.[a-z_]+", text.replace("www.", ""))
    for english in ("Customer details viewed", "Callback authorisation granted", "Signed in", "Audit trail"):
        assert english not in text


def test_the_check_runs_on_demand_and_names_the_first_problem(
        client: TestClient, session: Session, admin: User) -> None:
    signed_in_client(client, admin)
    plain = client.get("/admin/audit")
    assert 'id="audit-chain-state"' not in plain.text and 'id="audit-check"' in plain.text
    intact = client.get("/admin/audit?check=1")
    assert "The audit trail is intact" in intact.text
    # An entry slipped in without the server's key (INSERT is the one change the triggers allow).
    last = fresh(session).scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    session.add(AuditEntry(seq=last.seq + 1, at=last.at, actor_id=None, actor_name="system", action="user.created",
                           prev_hash=last.hash, hash="f" * 64))
    session.commit()
    broken = client.get("/admin/audit?check=1")
    assert f"entry {last.seq + 1} was altered, removed or inserted" in broken.text
    assert audit.entries_for(fresh(session), action_prefix="audit.viewed")[0].details_dict["checked"] is True


def test_every_action_the_hub_writes_has_words_of_its_own() -> None:
    """The literal action codes of the product's sources (f-strings aside: their codes fall back
    to the words of their area) each have a label, not the fallback."""
    root = Path(__file__).resolve().parents[2]
    code = r'(?:action=|audited\(session, \w+, |_audit\(session, \w+, )"([a-z_]+(?:\.[a-z_.]+)?)"'
    written: set[str] = set()
    for package in ("core", "tickets", "telephony", "qa", "scheduling", "agent_ui", "hotline"):
        for source in (root / package).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            written |= set(re.findall(code, text))
    assert written, "the pattern finds the codes"
    unworded = sorted(action for action in written if action not in dict(labels.audit_action))
    assert not unworded, f"add words to agent_ui/labels.py audit_action for {unworded}"
