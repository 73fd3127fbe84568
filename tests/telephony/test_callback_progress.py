"""Callbacks step by step, as the agent's desktop shows them: dialling, the customer's phone
ringing, answered with the agent's own phone ringing, connected, ended; no answer or busy with
the next attempt's time. The simulated customers answer some callbacks and miss others."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from core import clock
from core.config import get_settings
from core.db import session_scope
from telephony import control_tasks
from telephony.callback_progress import progress_of
from telephony.simulator.customers import Customers
from tests.factories import fresh
from tests.telephony.controls_helpers import bearer
from tests.telephony.hub import Hub
from tests.telephony.test_callbacks import _customer_leg, _ticket, caller_id  # noqa: F401 - a fixture

__all__ = ["caller_id"]


def _step(session, hub: Hub, ticket_id: int):  # type: ignore[no-untyped-def]
    fresh(session)
    with session_scope() as own:
        return progress_of(own, agent_id=hub.agent.id)[ticket_id]


def _ask(client, session, hub: Hub):  # type: ignore[no-untyped-def]
    ticket, _customer, number = _ticket(session, hub)
    response = client.post(f"/api/v1/tickets/{ticket.id}/callback", headers=bearer(session, hub.agent))
    assert response.status_code == 202, response.text
    return ticket, number


def test_each_step_of_an_answered_callback(client, sim, hub: Hub, session, caller_id) -> None:  # noqa: F811
    ticket, number = _ask(client, session, hub)
    sim.pump()
    progress = _step(session, hub, ticket.id)
    assert (progress.step, progress.number, progress.of) == ("ringing", 1, get_settings().callback_max_attempts)
    sim.answer_as(_customer_leg(sim, number), "human")
    sim.pump()
    assert _step(session, hub, ticket.id).step == "your_phone"
    phone = sim.phone(f"agent_{hub.agent.id}")
    phone.answer()
    sim.advance(3)
    assert _step(session, hub, ticket.id).step == "connected"
    phone.hangup()
    sim.pump()
    assert _step(session, hub, ticket.id).step == "ended"


def test_no_answer_shows_when_the_next_attempt_is_dialled(client, sim, hub: Hub, session, caller_id) -> None:  # noqa: F811
    ticket, number = _ask(client, session, hub)
    sim.pump()
    sim.advance(35)  # the customer's phone rings out
    progress = _step(session, hub, ticket.id)
    assert progress.step == "no_answer" and progress.number == 1
    assert progress.next_at is not None
    assert abs(progress.next_at - (clock.now() + timedelta(minutes=get_settings().callback_retry_minutes))) \
        < timedelta(seconds=40)


def test_a_busy_line_is_a_step_too(client, sim, hub: Hub, session, caller_id) -> None:  # noqa: F811
    ticket, number = _ask(client, session, hub)
    sim.pump()
    sim.decline(_customer_leg(sim, number))
    sim.pump()
    progress = _step(session, hub, ticket.id)
    assert progress.step == "busy" and progress.next_at is not None


def test_the_desktop_panel_shows_the_step_and_an_answer_button(client, sim, hub: Hub, session,
                                                                caller_id) -> None:  # noqa: F811
    from tests.factories import signed_in_client

    ticket, number = _ask(client, session, hub)
    sim.pump()
    sim.answer_as(_customer_leg(sim, number), "human")
    sim.pump()
    page = signed_in_client(client, hub.agent).get("/desktop")
    assert "The customer answered: your phone is ringing" in page.text
    assert f'id="callback-answer-{ticket.id}"' in page.text and "Attempt 1 of" in page.text


# The simulated customers ------------------------------------------------------------------------

def test_customers_answer_some_callbacks_and_miss_others() -> None:
    customers = Customers(answer=0.6, busy=0.15, rng=random.Random(3))
    outcomes = [customers.decide(f"CA{n}", 0.0)[0] for n in range(400)]
    shares = {what: outcomes.count(what) / len(outcomes) for what in ("answer", "busy", "ring_out")}
    assert 0.5 < shares["answer"] < 0.7 and 0.08 < shares["busy"] < 0.22 and 0.15 < shares["ring_out"] < 0.35
    again = Customers(answer=0.6, busy=0.15, rng=random.Random(3))
    assert [again.decide(f"CA{n}", 0.0)[0] for n in range(400)] == outcomes


def test_customers_pick_up_after_a_few_rings_and_leave_agents_phones_alone(client, sim, hub: Hub, session,
                                                                            caller_id) -> None:  # noqa: F811
    ticket, number = _ask(client, session, hub)
    sim.pump()
    customers = Customers(answer=1.0, busy=0.0, pick_up_after=(4.0, 4.0))
    customer_sid = _customer_leg(sim, number)
    customers.tick(sim, 100.0)
    assert sim.call(customer_sid).waiting == "ringing"
    customers.tick(sim, 104.0)
    assert sim.call(customer_sid).status == "in-progress"
    sim.pump()
    [agent_leg] = sim.phone(f"agent_{hub.agent.id}").ringing()
    customers.tick(sim, 200.0)
    assert sim.call(agent_leg).waiting == "ringing"  # an agent's phone is not a customer's


def test_customer_shares_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(ValueError, match="add up to at most 1"):
        Customers(answer=0.8, busy=0.3)


def test_the_paced_dialler_is_what_dials_again(client, sim, hub: Hub, session, caller_id) -> None:  # noqa: F811
    ticket, number = _ask(client, session, hub)
    sim.pump()
    sim.decline(_customer_leg(sim, number))
    sim.pump()
    sim.advance(get_settings().callback_retry_minutes * 60 + 1)
    control_tasks.dial_due()
    sim.pump()
    progress = _step(session, hub, ticket.id)
    assert progress.number == 2 and progress.step in ("dialling", "ringing")
