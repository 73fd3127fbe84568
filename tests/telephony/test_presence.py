"""Agent presence: transitions as data, refusals that explain, the log, the before-available hook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from core.errors import NotFound
from telephony import presence, routing
from telephony.models.routing import Offer
from telephony.presence import InvalidPresenceTransition, NotReadyForCalls, set_presence
from tests.telephony import routing_factories as make


def test_set_presence_logs_every_change(session: Session, clock: FrozenClock) -> None:
    ann = make.agent(session, "ann")
    start = clock.now()
    set_presence(session, user_id=ann.id, state="available")
    clock.advance(minutes=30)
    set_presence(session, user_id=ann.id, state="break", reason="lunch")
    clock.advance(minutes=15)
    row = set_presence(session, user_id=ann.id, state="available")
    session.commit()

    assert (row.state, row.since) == ("available", clock.now())
    log = presence.presence_log(session, user_id=ann.id, start=start, end=clock.now() + timedelta(seconds=1))
    assert [(e.from_state, e.to_state, e.reason) for e in log] == [
        ("offline", "available", None), ("available", "break", "lunch"), ("break", "available", None)]
    # A window starting mid-break begins with the change that was in force.
    later = presence.presence_log(session, user_id=ann.id, start=start + timedelta(minutes=40), end=clock.now())
    assert [e.to_state for e in later] == ["break"]


def test_set_same_presence_is_a_no_op(session: Session) -> None:
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="away")
    set_presence(session, user_id=ann.id, state="away")
    session.commit()
    log = presence.presence_log(session, user_id=ann.id, start=presence.get_presence(session, user_id=ann.id).since,
                                end=presence.get_presence(session, user_id=ann.id).since + timedelta(seconds=1))
    assert [e.to_state for e in log] == ["away"]


@pytest.mark.parametrize("state", ["offered", "on_call", "wrap_up"])
def test_set_presence_router_states_forbidden(session: Session, state: str) -> None:
    ann = make.agent(session, "ann")
    with pytest.raises(InvalidPresenceTransition, match="set by the router"):
        set_presence(session, user_id=ann.id, state=state)


def test_set_presence_unknown_state_refused(session: Session) -> None:
    ann = make.agent(session, "ann")
    with pytest.raises(InvalidPresenceTransition, match="Not one of the allowed values"):
        set_presence(session, user_id=ann.id, state="napping")


def test_set_presence_on_call_cannot_break_until_wrap_up(session: Session) -> None:
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    entry = make.call(session)
    offer = routing.offer_answered(session, offer_id=presence.get_presence(session, user_id=ann.id).current_offer_id)
    assert offer.state == "accepted"
    with pytest.raises(InvalidPresenceTransition, match="on a call") as refused:
        set_presence(session, user_id=ann.id, state="break")
    assert refused.value.current == "on_call" and refused.value.allowed == []
    routing.call_ended(session, call_id=entry.call_id)
    assert set_presence(session, user_id=ann.id, state="break").state == "break"


def test_set_presence_lists_what_is_allowed(session: Session) -> None:
    assert presence.allowed_targets("break") == ["available", "away", "offline"]
    assert presence.allowed_targets("on_call") == []
    assert "offered" in presence.allowed_targets("available", by=presence.ROUTER)


def test_set_presence_before_available_checks(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    ann = make.agent(session, "ann")
    unread = {ann.id}
    checks = [lambda s, user_id: "read today's 2 notices" if user_id in unread else None]
    monkeypatch.setattr(presence, "before_available", checks)
    with pytest.raises(NotReadyForCalls, match="read today's 2 notices") as refused:
        set_presence(session, user_id=ann.id, state="available")
    assert refused.value.reasons == ["read today's 2 notices"]
    assert set_presence(session, user_id=ann.id, state="break").state == "break"
    unread.clear()
    assert set_presence(session, user_id=ann.id, state="available").state == "available"


def test_set_presence_unknown_user_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        set_presence(session, user_id=424242, state="available")


def test_set_presence_offline_while_offered_withdraws_offer(session: Session) -> None:
    ann = make.agent(session, "ann")
    bob = make.agent(session, "bob")
    set_presence(session, user_id=ann.id, state="available")
    entry = make.call(session)
    first = presence.get_presence(session, user_id=ann.id).current_offer_id
    set_presence(session, user_id=bob.id, state="available")

    set_presence(session, user_id=ann.id, state="offline")
    session.commit()

    assert presence.get_presence(session, user_id=ann.id).state == "offline"
    assert session.get(Offer, first).state == "withdrawn"
    bob_row = presence.get_presence(session, user_id=bob.id)
    assert bob_row.state == "offered"
    assert session.get(Offer, bob_row.current_offer_id).call_id == entry.call_id


def test_set_presence_available_while_offered_refused(session: Session) -> None:
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    make.call(session)
    with pytest.raises(InvalidPresenceTransition):
        set_presence(session, user_id=ann.id, state="available")


def test_presence_changed_events_published_after_commit(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.events

    seen: list[core.events.Event] = []

    class Collect:
        def publish(self, event: core.events.Event) -> None:
            seen.append(event)

    monkeypatch.setattr(core.events, "get_bus", lambda: Collect())
    ann = make.agent(session, "ann")
    set_presence(session, user_id=ann.id, state="available")
    assert seen == []
    session.commit()
    assert [(e.topic, e.payload["from"], e.payload["to"], e.user_id) for e in seen] == [
        ("presence.changed", "offline", "available", ann.id)]
