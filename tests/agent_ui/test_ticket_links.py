"""The desktop during a call and ticket numbers everywhere: a ticket number is a link on the
floor, in the handover, the duty log and the desktop; the ticket list shows the customer (masked),
the assignee and the subject; the caller's card follows the ticket being written."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agent_ui.templating import env
from tests.agent_ui.desk import Desk, desk
from tests.factories import cheap_password_hashing, signed_in_client
from tests.scheduling.conftest import World, world
from tickets import escalation
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing", "desk", "world"]


def _ticket(session: Session, desk: Desk, **fields: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {"category": "inquiry", "by": desk.agent, "customer_id": desk.customer.id}
    values.update(fields)
    ticket = ticket_service.open_ticket(session, **values)  # type: ignore[arg-type]
    session.commit()
    return ticket


def test_the_ticket_list_shows_subject_masked_customer_and_assignee(client: TestClient, session: Session,
                                                                   desk: Desk) -> None:
    ticket = _ticket(session, desk, subject="Parcel arrived late")
    signed_in_client(client, desk.team_leader)
    page = client.get("/tickets").text
    row = page.split(f'href="/tickets/{ticket.id}"')[1].split("</tr>")[0]
    assert "Parcel arrived late" in row and "An Agent" in row
    assert "W. F." in row or "WF" in row or re.search(r"W\W*F", row), row  # initials, never the name
    assert "Wang Fang" not in page and "+8613800138000" not in page and "138****8000" in row
    client.cookies.set("hotline_locale", "zh_Hans")
    assert "处理人" in client.get("/tickets").text


def test_a_ticket_number_opens_the_ticket_one_may_see(client: TestClient, session: Session, desk: Desk) -> None:
    ticket = _ticket(session, desk)
    signed_in_client(client, desk.agent)
    opened = client.get(f"/tickets/by-number/{ticket.number}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/tickets/{ticket.id}"
    signed_in_client(client, desk.other_agent)
    assert client.get(f"/tickets/by-number/{ticket.number}").status_code == 404
    assert client.get("/tickets/by-number/HL-2026-999999").status_code == 404


def test_free_text_links_ticket_numbers_and_escapes_the_rest() -> None:
    text = env.from_string("{{ t|ticket_links }}").render(t="<b>See HL-2026-000012</b> and HL-2026-0000123.")
    assert text == ('&lt;b&gt;See <a class="ticket-number" href="/tickets/by-number/HL-2026-000012">HL-2026-000012</a>'
                    '&lt;/b&gt; and <a class="ticket-number" href="/tickets/by-number/HL-2026-0000123">'
                    'HL-2026-0000123</a>.')


def test_floor_and_desktop_link_their_ticket_numbers(client: TestClient, session: Session, desk: Desk) -> None:
    ticket = _ticket(session, desk)
    escalation.escalate(session, ticket_id=ticket.id, by=desk.agent, reason="angry caller")
    session.commit()
    signed_in_client(client, desk.team_leader)
    floor = client.get("/floor").text
    assert f'<a class="ticket-number" href="/tickets/{ticket.id}">{ticket.number}</a>' in floor
    signed_in_client(client, desk.agent)
    other = _ticket(session, desk, assignee_id=desk.agent.id)
    desktop = client.get("/desktop").text
    assert f'href="/tickets/{other.id}">{other.number}</a>' in desktop


def test_duty_log_and_handover_link_ticket_numbers(client: TestClient, session: Session, world: World) -> None:
    signed_in_client(client, world.leader)
    page = client.get("/duty")
    log_id = int(re.search(r'action="/duty/logs/(\d+)\?', page.text).group(1))
    client.post(f"/duty/logs/{log_id}", data={"inquiry_count": "0", "lookup_count": "0", "proactive_count": "0",
                                             "difficult_issues": "Caller of HL-2026-000042 rang three times",
                                             "back": "/duty"})
    duty = client.get("/duty").text
    assert '<a class="ticket-number" href="/tickets/by-number/HL-2026-000042">HL-2026-000042</a>' in duty
    assert 'href="/tickets/by-number/HL-2026-000042"' in client.get("/duty/weekly").text


def test_the_callers_card_follows_the_category_but_not_each_keystroke(client: TestClient, session: Session,
                                                                      desk: Desk) -> None:
    ticket = _ticket(session, desk, assignee_id=desk.agent.id)
    signed_in_client(client, desk.agent)
    hx = {"HX-Request": "true"}
    typed = client.post(f"/desktop/tickets/{ticket.id}", headers=hx,
                        data={"version": ticket.version, "category": "inquiry", "notes": "Late parcel"})
    assert typed.status_code == 200 and "Saved at" in typed.text and 'id="call-panel"' not in typed.text
    version = int(re.search(r'id="ticket-version" value="(\d+)"', typed.text).group(1))
    changed = client.post(f"/desktop/tickets/{ticket.id}", headers=hx,
                          data={"version": version, "category": "complaint", "notes": "Late parcel"})
    assert changed.status_code == 200 and "Saved at" in changed.text
    assert re.search(r'id="call-panel"[^>]*hx-swap-oob="true"', changed.text)
