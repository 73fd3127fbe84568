"""The offer's state machine: an offer moves only along the transitions telephony.offer_states
lists, by a conditional UPDATE that checks the row's state rather than what the caller read,
so a process that read an offer before another settled it cannot settle it a second time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import clock as core_clock
from core.db import session_scope
from telephony import offer_states
from telephony.models.routing import Offer
from telephony.offer_states import ACCEPTED, ALLOWED_FROM, DECLINED, PENDING, STATES, WITHDRAWN
from tests.telephony.routing_factories import agent, call

PAIRS = [(start, target) for start in STATES for target in STATES if target != PENDING]


def _offer(session: Session, state: str = PENDING) -> Offer:
    entry = call(session)
    user = agent(session, f"agent-{entry.id}")
    now = core_clock.now()
    offer = Offer(entry_id=entry.id, call_id=entry.call_id, user_id=user.id, skill_code="inquiry", state=state,
                  offered_at=now, expires_at=now + timedelta(seconds=15))
    session.add(offer)
    session.commit()
    return offer


@pytest.mark.parametrize(("start", "target"), PAIRS)
def test_an_offer_moves_only_along_its_allowed_transitions(session: Session, start: str, target: str) -> None:
    offer = _offer(session, start)
    moved = offer_states.move(session, offer, target, reason="a test")
    session.commit()
    session.expire_all()
    row = session.get(Offer, offer.id)
    assert row is not None
    assert moved == (start in ALLOWED_FROM[target])
    assert row.state == (target if moved else start)
    assert row.reason == ("a test" if moved else None)


def test_nothing_returns_to_pending_and_no_final_state_is_left() -> None:
    assert PENDING not in ALLOWED_FROM
    assert all(not set(origins) & offer_states.FINAL for origins in ALLOWED_FROM.values())


def test_settling_stamps_when_and_declining_an_answered_offer_ends_it(session: Session, clock) -> None:  # noqa: ANN001
    offer = _offer(session)
    assert offer_states.move(session, offer, ACCEPTED)
    session.commit()
    answered = offer.resolved_at
    assert answered is not None and offer.ended_at is None
    clock.advance(seconds=3)
    # The agent hung up before the caller was moved in: the answered offer counts as declined.
    assert offer_states.move(session, offer, DECLINED, reason="the agent hung up before the caller joined")
    session.commit()
    session.expire_all()
    row = session.get(Offer, offer.id)
    assert row.state == DECLINED and row.resolved_at == answered
    assert row.ended_at == answered + timedelta(seconds=3)


def test_an_offer_read_before_another_process_settled_it_cannot_be_settled_again(session: Session) -> None:
    offer = _offer(session)
    offer_id = offer.id
    with session_scope() as other:  # the caller hangs up: another process withdraws the offer
        theirs = other.get(Offer, offer_id)
        assert theirs is not None and offer_states.move(other, theirs, WITHDRAWN, reason="the caller left")
    set_committed_value(offer, "state", PENDING)  # what this process read before that commit
    assert not offer_states.move(session, offer, ACCEPTED)
    assert offer.state == WITHDRAWN and offer.reason == "the caller left"
    session.commit()


def test_an_unknown_state_is_refused(session: Session) -> None:
    offer = _offer(session)
    with pytest.raises(ValueError):
        offer_states.move(session, offer, "ringing")
