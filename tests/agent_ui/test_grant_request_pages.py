"""Asking for a callback authorisation from the pages: the form beside a ticket and a customer's
masked card, refusals said beside it in the page's language (a blank reason, another site's
customer, a second request), the answer forms on the requests page (a decline needs a reason,
a duration that is not a number is refused), and who sees the requests page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.agent_ui.desk import Desk, callback_ticket, desk
from tests.factories import cheap_password_hashing, fresh, signed_in_client
from tickets.customers import create_customer
from tickets.models.customers import CallbackGrantRequest

__all__ = ["cheap_password_hashing", "desk"]

ZH = {"Accept-Language": "zh-CN"}


def _requests(session: Session) -> list[CallbackGrantRequest]:
    fresh(session)
    return list(session.scalars(select(CallbackGrantRequest).order_by(CallbackGrantRequest.id)))


def test_ask_from_a_ticket_with_refusals_beside_the_form(client: TestClient, session: Session, desk: Desk) -> None:
    ticket_id = callback_ticket(session, desk)
    signed_in_client(client, desk.agent)
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="ask-grant-form"' in page.text
    blank = client.post(f"/tickets/{ticket_id}/grant-request", data={"reason": "  "}, headers=ZH)
    assert blank.status_code == 422 and "请说明为什么需要回访这位顾客。" in blank.text
    assert _requests(session) == []
    asked = client.post(f"/tickets/{ticket_id}/grant-request", data={"reason": "Promised a call"},
                        follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == f"/tickets/{ticket_id}"
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="ask-grant-pending"' in page.text and 'id="ask-grant-form"' not in page.text
    again = client.post(f"/tickets/{ticket_id}/grant-request", data={"reason": "Again"})
    assert again.status_code == 409 and "wait for the answer" in again.text
    assert [r.status for r in _requests(session)] == ["pending"]


def test_ask_from_a_masked_card_and_another_sites_customer(client: TestClient, session: Session,
                                                           desk: Desk) -> None:
    far = create_customer(session, by=None, audit=False, data={
        "name": "Far Customer", "phones": ["+8613900139000"], "site_id": desk.other_site.id,
        "consent_purposes": ["service"], "consent_method": "phone"})
    session.commit()
    signed_in_client(client, desk.teammate)
    card = client.get(f"/customers/{desk.customer.id}")
    assert "Wang Fang" not in card.text and 'id="ask-grant-form"' in card.text
    refused = client.post(f"/customers/{far.id}/grant-request", data={"reason": "Call back"}, headers=ZH)
    assert refused.status_code == 403 and "只有顾客所属门店的员工才能获得回访授权。" in refused.text
    asked = client.post(f"/customers/{desk.customer.id}/grant-request", data={"reason": "Call back"},
                        follow_redirects=False)
    assert asked.status_code == 303
    assert [(r.agent_id, r.customer_id) for r in _requests(session)] == [(desk.teammate.id, desk.customer.id)]


def test_answer_forms_refuse_bad_input_and_strangers(client: TestClient, session: Session, desk: Desk) -> None:
    ticket_id = callback_ticket(session, desk)
    signed_in_client(client, desk.agent)
    client.post(f"/tickets/{ticket_id}/grant-request", data={"reason": "Promised a call"})
    request = _requests(session)[0]
    mine = client.get("/authorisations/requests")
    assert mine.status_code == 200 and f'id="mine-{request.id}"' in mine.text
    assert f'id="request-{request.id}"' not in mine.text  # nobody answers their own
    assert client.post(f"/authorisations/requests/{request.id}/grant", data={}).status_code == 403

    signed_in_client(client, desk.supervisor)
    page = client.get("/authorisations/requests")
    assert f'id="request-{request.id}"' in page.text and "Promised a call" in page.text
    assert "+8613800138000" not in page.text
    no_reason = client.post(f"/authorisations/requests/{request.id}/decline", data={"decline_reason": ""})
    assert no_reason.status_code == 422 and f'id="decline-reason-{request.id}-error"' in no_reason.text
    bad = client.post(f"/authorisations/requests/{request.id}/grant", data={"duration_minutes": "soon"})
    assert bad.status_code == 422 and f'id="grant-duration-{request.id}-error"' in bad.text
    missing = client.post("/authorisations/requests/999999/grant", data={})
    assert missing.status_code == 404
    granted = client.post(f"/authorisations/requests/{request.id}/grant", data={"duration_minutes": "30"},
                          follow_redirects=False)
    assert granted.status_code == 303
    assert _requests(session)[0].status == "granted"

    signed_in_client(client, desk.qa)
    assert client.get("/authorisations/requests").status_code == 403
