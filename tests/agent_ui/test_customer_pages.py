"""The customer card page: masked unless the rules allow the details (each full view audited),
aggregate figures for managers, no print or export, and Chinese."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import users
from core.audit import AuditEntry
from tests.agent_ui.desk import Desk, desk, grant_for
from tests.factories import cheap_password_hashing, fresh, signed_in_client

__all__ = ["cheap_password_hashing", "desk"]


def _views(session: Session, customer_id: int) -> int:
    return len(list(fresh(session).scalars(select(AuditEntry).where(
        AuditEntry.action == "customer.viewed", AuditEntry.object_id == str(customer_id)))))


def test_customer_card_needs_sign_in(client: TestClient, desk: Desk) -> None:
    page = client.get(f"/customers/{desk.customer.id}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == f"/signin?next=/customers/{desk.customer.id}"


def test_customer_card_is_refused_to_a_qa_inspector(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.qa)
    assert client.get(f"/customers/{desk.customer.id}").status_code == 403


def test_agent_sees_a_masked_card_without_authorisation(client: TestClient, session: Session, desk: Desk) -> None:
    signed_in_client(client, desk.agent)
    page = client.get(f"/customers/{desk.customer.id}")
    assert page.status_code == 200 and "Details are hidden" in page.text
    assert "Wang Fang" not in page.text and "+8613800138000" not in page.text and "138****8000" in page.text
    assert 'id="customer-figures"' not in page.text
    assert _views(session, desk.customer.id) == 0
    assert client.get("/customers/999999").status_code == 404


def test_agent_with_a_live_grant_sees_the_details_with_a_countdown(client: TestClient, session: Session,
                                                                   desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    grant_for(session, desk, minutes=60)
    signed_in_client(client, desk.agent)
    page = client.get(f"/customers/{desk.customer.id}")
    assert "Wang Fang" in page.text and "+8613800138000" in page.text
    assert 'id="customer-grant-countdown"' in page.text and "a callback authorisation" in page.text
    assert _views(session, desk.customer.id) == 1
    # No print, export or download control (the notice printed pages carry is not one).
    lower = re.sub(r'<p class="print-notice".*?</p>', "", page.text).lower()
    assert "print" not in lower and "export" not in lower and "download" not in lower
    clock.advance(minutes=61)
    after = client.get(f"/customers/{desk.customer.id}")
    assert "Wang Fang" not in after.text and "Details are hidden" in after.text


def test_manager_gets_aggregate_figures(client: TestClient, session: Session, desk: Desk) -> None:
    from core import assignments

    signed_in_client(client, desk.other_supervisor)  # another site: figures, never details
    page = client.get(f"/customers/{desk.customer.id}")
    assert page.status_code == 200 and 'id="customer-figures"' in page.text and "Wang Fang" not in page.text
    signed_in_client(client, desk.supervisor)  # own site, but not its named manager: figures only
    own = client.get(f"/customers/{desk.customer.id}")
    assert "Wang Fang" not in own.text and 'id="customer-figures"' in own.text
    assignments.assign_site_manager(session, site_id=desk.site.id, user_id=desk.supervisor.id, by=None)
    session.commit()
    named = client.get(f"/customers/{desk.customer.id}")  # the site's named manager: details too
    assert "Wang Fang" in named.text and "your site" in named.text and 'id="customer-figures"' in named.text


def test_customer_card_in_chinese(client: TestClient, session: Session, desk: Desk) -> None:
    users.set_locale(session, user_id=desk.agent.id, locale="zh_Hans")
    session.commit()
    signed_in_client(client, desk.agent)
    page = client.get(f"/customers/{desk.customer.id}")
    assert '<html lang="zh-Hans">' in page.text and "金卡" in page.text and "Details are hidden" not in page.text


# The list -------------------------------------------------------------------------------------------

def _own_customer(session: Session, desk: Desk, name: str, phone: str) -> int:
    from tickets.customers import create_customer

    customer = create_customer(session, by=None, audit=False, data={
        "name": name, "phones": [phone], "site_id": desk.site.id, "owning_agent_id": desk.agent.id,
        "consent_purposes": ["service"], "consent_method": "phone"})
    session.commit()
    return customer.id


def test_customer_list_needs_sign_in_and_is_refused_to_qa(client: TestClient, desk: Desk) -> None:
    assert client.get("/customers", follow_redirects=False).headers["location"] == "/signin?next=/customers"
    signed_in_client(client, desk.qa)
    assert client.get("/customers").status_code == 403


def test_agent_lists_own_customers_masked_without_export(client: TestClient, session: Session, desk: Desk) -> None:
    mine = _own_customer(session, desk, "Zhao Lei", "+8613900139001")
    signed_in_client(client, desk.agent)
    page = client.get("/customers")
    assert page.status_code == 200 and 'href="/customers" aria-current="page"' in page.text
    assert f'id="customer-row-{mine}"' in page.text and "Your customers" in page.text
    assert f'id="customer-row-{desk.customer.id}"' not in page.text  # not the agent's customer
    assert "Zhao Lei" not in page.text and "+8613900139001" not in page.text and "139****9001" in page.text
    assert 'id="customer-aggregates"' not in page.text
    # No print, export or download control (the notice printed pages carry is not one).
    lower = re.sub(r'<p class="print-notice".*?</p>', "", page.text).lower()
    assert "print" not in lower and "export" not in lower and "download" not in lower and ".csv" not in lower
    assert _views(session, mine) == 0  # a masked list is not a view of personal data


def test_manager_lists_the_site_masked_with_aggregates_and_filters(client: TestClient, session: Session,
                                                                  desk: Desk) -> None:
    mine = _own_customer(session, desk, "Zhao Lei", "+8613900139002")
    signed_in_client(client, desk.supervisor)
    page = client.get("/customers")
    assert f'id="customer-row-{mine}"' in page.text and f'id="customer-row-{desk.customer.id}"' in page.text
    assert "Wang Fang" not in page.text and 'id="customer-aggregates"' in page.text and "An Agent" in page.text
    gold = client.get("/customers", params={"tier": "gold"})
    assert f'id="customer-row-{desk.customer.id}"' in gold.text and f'id="customer-row-{mine}"' not in gold.text
    bad = client.get("/customers", params={"tier": "bronze"})
    assert bad.status_code == 422 and 'id="customer-tier-error"' in bad.text
    partial = client.get("/customers", params={"tier": "gold"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="customer-results"' in partial.text
    signed_in_client(client, desk.other_supervisor)  # another site's manager: not this site's customers
    assert f'id="customer-row-{desk.customer.id}"' not in client.get("/customers").text


def test_customer_found_by_phone_through_a_post_masked(client: TestClient, session: Session, desk: Desk) -> None:
    signed_in_client(client, desk.teammate)  # not their customer: found as unknown
    assert 'id="customer-not-found"' in client.post("/customers", data={"phone": "138 0013 8000"}).text
    signed_in_client(client, desk.team_leader)  # the site's team leader: masked
    found = client.post("/customers", data={"phone": "138 0013 8000"})
    assert found.status_code == 200 and f'id="customer-row-{desk.customer.id}"' in found.text
    assert "Wang Fang" not in found.text and "138****8000" in found.text
    assert "138 0013 8000" in found.text  # what was typed stays in the field, never in an address
    assert all("13800138000" not in url and "8000" not in url for url in re.findall(r'href="([^"]*)"', found.text))
    none = client.post("/customers", data={"phone": "+86 139 0000 0000"})
    assert none.status_code == 200 and 'id="customer-not-found"' in none.text
    bad = client.post("/customers", data={"phone": "call me"})
    assert bad.status_code == 422 and 'id="customer-phone-error"' in bad.text
    assert re.search(r'id="customer-phone"[^>]*aria-invalid="true"', bad.text)
    empty = client.post("/customers", data={"phone": " "})
    assert empty.status_code == 422 and 'id="customer-phone-error"' in empty.text


def test_admin_erases_a_customer_from_the_card(client: TestClient, session: Session, desk: Desk) -> None:
    from tests.factories import make_user
    from core.models import Role

    admin = make_user(session, role=Role.admin, username="root")
    signed_in_client(client, desk.supervisor)
    assert 'id="erase-form"' not in client.get(f"/customers/{desk.customer.id}").text
    assert client.post(f"/customers/{desk.customer.id}/erase",
                       data={"reason": "left", "confirm": "yes"}).status_code == 403
    signed_in_client(client, admin)
    card = client.get(f"/customers/{desk.customer.id}")
    assert 'id="erase-form"' in card.text and "Wang Fang" not in card.text
    unconfirmed = client.post(f"/customers/{desk.customer.id}/erase", data={"reason": "Member left"})
    assert unconfirmed.status_code == 422 and 'id="erase-confirm-error"' in unconfirmed.text
    assert 'value="Member left"' in unconfirmed.text
    no_reason = client.post(f"/customers/{desk.customer.id}/erase", data={"reason": " ", "confirm": "yes"})
    assert no_reason.status_code == 422 and 'id="erase-reason-error"' in no_reason.text
    done = client.post(f"/customers/{desk.customer.id}/erase", follow_redirects=False,
                       data={"reason": "Member left", "confirm": "yes", "requested_by_customer": "1"})
    assert done.status_code == 303 and done.headers["location"] == f"/customers/{desk.customer.id}"
    after = client.get(f"/customers/{desk.customer.id}")
    assert "This customer was erased" in after.text and 'id="erase-form"' not in after.text
    # Erased data does not come back from the phone search.
    assert 'id="customer-not-found"' in client.post("/customers", data={"phone": "138 0013 8000"}).text
    erased = list(fresh(session).scalars(select(AuditEntry).where(AuditEntry.action == "customer.erased")))
    assert len(erased) == 1 and erased[0].actor_id == admin.id


def test_team_leader_lists_customers_gone_quiet_for_retention_calls(client: TestClient, session: Session,
                                                                   desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    recent = _own_customer(session, desk, "Zhao Lei", "+8613900139003")
    clock.advance(days=100)
    from tickets.customers import get_customer

    get_customer(session, customer_id=recent).last_contact_at = clock.now()
    session.commit()
    signed_in_client(client, desk.agent)
    assert 'id="customer-quiet"' not in client.get("/customers").text
    signed_in_client(client, desk.team_leader)
    page = client.get("/customers", params={"quiet": "90"})
    assert page.status_code == 200 and "for retention calls" in page.text
    assert f'id="customer-row-{desk.customer.id}"' in page.text and f'id="customer-row-{recent}"' not in page.text
    assert "Never" in page.text and "Wang Fang" not in page.text
    for bad in ("0", "abc", "99999"):
        refused = client.get("/customers", params={"quiet": bad})
        assert refused.status_code == 422 and 'id="customer-quiet-error"' in refused.text


def test_full_card_shows_the_change_history_without_old_values(client: TestClient, session: Session,
                                                               desk: Desk) -> None:
    from tickets.customers import update_customer

    mine = _own_customer(session, desk, "Zhao Lei", "+8613900139004")
    update_customer(session, customer_id=mine, changes={"address": "9 New Road"}, by=desk.agent,
                    reason="Moved house")
    session.commit()
    signed_in_client(client, desk.agent)
    page = client.get(f"/customers/{mine}")
    assert 'id="customer-changes"' in page.text and "Moved house" in page.text and "9 New Road" in page.text
    signed_in_client(client, desk.teammate)  # masked card: no history
    assert 'id="customer-changes"' not in client.get(f"/customers/{mine}").text
