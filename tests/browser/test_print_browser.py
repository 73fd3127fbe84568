"""Printing: customer data is not printed. Chromium prints a full customer card, the agent desktop
with the caller's card and a ticket to PDF (`page.pdf()`, the print style sheet); the PDF's text
has the masks and the notice, and no personal datum."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from sqlalchemy.orm import Session

from tests.agent_ui.desk import CALLER, Desk, callback_ticket, desk
from tests.browser.conftest import Browsing, LiveServer
from tests.factories import cheap_password_hashing
from tickets.customers import update_customer

__all__ = ["cheap_password_hashing", "desk"]

PERSONAL = ("Wang Fang", "wang.fang@example.com", "88 Huaihai Road", "110101199003071234", "needs a hearing loop",
            "13800138000", "0013 8000", "138 0013")


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_printed_customer_card_carries_masks_not_details(browsing: Browsing, live_server: LiveServer,
                                                           desk: Desk, session: Session) -> None:
    """The finding: the browser printed a full customer card."""
    from core import assignments

    assignments.assign_site_manager(session, site_id=desk.site.id, user_id=desk.supervisor.id, by=None)
    session.commit()
    update_customer(session, customer_id=desk.customer.id, by=desk.supervisor, requested_by_customer=True,
                    changes={"email": "wang.fang@example.com", "address": "88 Huaihai Road",
                             "id_number": "110101199003071234", "special_needs": "needs a hearing loop",
                             "owning_agent_id": desk.agent.id})
    session.commit()
    ticket_id = callback_ticket(session, desk)
    agent = browsing.signed_in("agent-a", path=f"/customers/{desk.customer.id}")
    assert "Wang Fang" in agent.content() and "wang.fang@example.com" in agent.content()  # on screen: full
    for path in (f"/customers/{desk.customer.id}", f"/tickets/{ticket_id}"):
        agent.goto(path)
        printed = _text(agent.pdf(format="A4"))
        assert "Customer data is not printed" in printed, path
        leaked = [datum for datum in PERSONAL if datum in printed or datum.replace(" ", "") in printed]
        assert leaked == [], (path, leaked)
        assert CALLER not in printed and not re.search(r"138\s*0013\s*8000", printed)
    agent.goto(f"/customers/{desk.customer.id}")
    card = _text(agent.pdf())
    assert "W. F." in card  # the name's mask
    assert "138****8000" in card.replace(" ", "")  # the number's mask
