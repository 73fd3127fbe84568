"""A repeat caller (the finding: one customer had five open tickets, all "New"): the desktop
offers the customer's open ticket of the same kind, and attaching the call moves it (and its
recordings) there, closes the new ticket as a duplicate, and the desktop then shows the open
ticket. Through the real app, the carrier simulator and the browser's forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from telephony.models import Call
from tests.agent_ui.desk import Desk, desk, ring_agent, set_presence
from tests.factories import cheap_password_hashing, fresh, signed_in_client
from tests.telephony.hub import eager_tasks, sim
from tickets import repeat_calls
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing", "desk", "eager_tasks", "sim"]


def test_a_repeat_call_is_attached_to_the_open_ticket(client: TestClient, session: Session, desk: Desk,
                                                      sim) -> None:  # type: ignore[no-untyped-def]
    earlier = ticket_service.open_ticket(session, category="inquiry", by=desk.agent, customer_id=desk.customer.id)
    complaint = ticket_service.open_ticket(session, category="complaint", by=desk.agent,
                                           customer_id=desk.customer.id)
    session.commit()
    set_presence(desk.agent, "available")
    sid = ring_agent(sim, desk.agent, key="1")  # an inquiry again
    signed_in_client(client, desk.agent)
    assert client.post("/desktop/phone/answer", follow_redirects=False).status_code == 303
    sim.pump()
    page = client.get("/desktop").text
    new_id = int(re.search(r'action="/desktop/tickets/(\d+)"', page).group(1))
    assert new_id != earlier.id
    assert f'id="attach-to-{earlier.id}"' in page and f'id="attach-to-{complaint.id}"' not in page
    refused = client.post(f"/desktop/tickets/{new_id}/attach", data={"to_ticket_id": str(complaint.id)},
                          follow_redirects=False)
    assert refused.status_code == 422 and "same customer and category" in refused.text
    done = client.post(f"/desktop/tickets/{new_id}/attach", data={"to_ticket_id": str(earlier.id)},
                       follow_redirects=False)
    assert done.status_code == 303
    fresh(session)
    assert ticket_service.get(session, ticket_id=new_id, user=None).status == "closed"
    assert [c.call_sid for c in ticket_service.calls_of(session, ticket_id=earlier.id)] == [sid]
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call.ticket_id == earlier.id  # telephony follows, through the hook
    page = client.get("/desktop").text
    assert f'action="/desktop/tickets/{earlier.id}"' in page and 'id="repeat-call"' not in page
    assert repeat_calls.open_of_same_kind(session, ticket=earlier, viewer=desk.agent) == []
