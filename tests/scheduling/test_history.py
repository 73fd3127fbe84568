"""The forecast from call history: real calls made through telephony's services (joined the queue,
offered, answered, hung up, or abandoned), aggregated by telephony.history per local weekday and
interval, then turned by scheduling into the profile, the patience and the staffing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from core.errors import ValidationFailed
from scheduling import erlang, history_source
from scheduling.forecast import Targets, forecast
from telephony import calls, offers, routing
from telephony.history import call_history
from telephony.presence import get_presence, set_presence
from tests.factories import make_site
from tests.scheduling.conftest import World
from tests.telephony.hub import voice_params

WRAP_UP = 30  # telephony's default wrap-up, counted into the handle time


def _call(session: Session, site_id: int) -> int:
    call, _ = calls.open_inbound(session, params=voice_params(), site_id=site_id)
    routing.enqueue(session, call_id=call.id, skill_code="hotline", category="inquiry", tier="normal")
    session.commit()
    return call.id


def _answer(session: Session, user_id: int) -> int:
    offer_id = get_presence(session, user_id=user_id).current_offer_id
    assert offer_id is not None
    return offers.answer(session, offer_id=offer_id).call_id


def _monday_morning(session: Session, clock: FrozenClock, world: World, start: datetime) -> None:
    """Two callers at 09:00 local: the first answered after 10 s and talked to for 200 s, the
    second hung up after waiting 50 s."""
    agent = world.agents[0]
    clock.set(start)
    set_presence(session, user_id=agent.id, state="available")
    session.commit()
    first = _call(session, world.site.id)
    clock.advance(seconds=5)
    second = _call(session, world.site.id)
    clock.advance(seconds=5)
    assert _answer(session, agent.id) == first
    clock.advance(seconds=45)
    routing.abandon(session, call_id=second, reason="caller hung up")
    clock.advance(seconds=155)
    routing.call_ended(session, call_id=first)
    session.commit()


def test_call_history_counts_handle_time_and_waiting(session: Session, world: World, clock: FrozenClock) -> None:
    _monday_morning(session, clock, world, datetime(2026, 1, 5, 8, 0, tzinfo=UTC))  # 09:00 in Berlin
    elsewhere = make_site(session, timezone="Europe/Berlin")
    clock.set(datetime(2026, 1, 6, 8, 0, tzinfo=UTC))
    _call(session, elsewhere.id)  # another site's caller, still waiting
    clock.set(datetime(2026, 1, 6, 8, 1, tzinfo=UTC))

    mine = call_history(session, zone="Europe/Berlin", first_day=date(2026, 1, 5), last_day=date(2026, 1, 11),
                        interval_minutes=30, site_id=world.site.id)
    assert mine.cells.keys() == {(0, 18)}  # Monday, 09:00-09:30 local
    cell = mine.cells[(0, 18)]
    assert (cell.offered, cell.answered) == (2, 1)
    assert cell.mean_handle_seconds == pytest.approx(200 + WRAP_UP)
    assert mine.weekdays == (1, 1, 1, 1, 1, 1, 1)
    assert (mine.offered, mine.answered, mine.abandoned) == (2, 1, 1)
    assert mine.waited_seconds == pytest.approx(10 + 50)
    assert mine.patience_seconds == pytest.approx(60)  # all waiting over the one abandon

    everyone = call_history(session, zone="Europe/Berlin", first_day=date(2026, 1, 5), last_day=date(2026, 1, 11))
    assert everyone.offered == 3 and everyone.cells[(1, 18)].offered == 1
    assert everyone.waited_seconds == pytest.approx(60 + 60)  # the waiting caller counts up to now
    assert everyone.patience_seconds == pytest.approx(120)


def test_the_forecast_profile_comes_from_the_history(session: Session, world: World, clock: FrozenClock) -> None:
    _monday_morning(session, clock, world, datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    clock.set(datetime(2026, 1, 12, 6, 0, tzinfo=UTC))
    basis = history_source.profile_for_site(session, site_id=world.site.id, today=date(2026, 1, 12), weeks=1)
    assert (basis.first_day, basis.last_day) == (date(2026, 1, 5), date(2026, 1, 11))
    assert basis.profile.at(0, 18) == (2.0, pytest.approx(230.0))
    assert basis.profile.at(1, 18) == (0.0, pytest.approx(230.0))  # no calls: the overall handle time
    assert basis.patience_seconds == pytest.approx(60) and basis.profile.patience_seconds == pytest.approx(60)

    rows = forecast(basis.profile, start=date(2026, 1, 12), days=1, targets=Targets(0.8, 20))
    busy = [r for r in rows if r.calls]
    assert len(rows) == 48 and len(busy) == 1
    assert busy[0].start == datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    assert busy[0].traffic == pytest.approx(2 * 230 / 1800)
    assert busy[0].agents == erlang.required_agents_c(2 * 230 / 1800, aht_seconds=230, target_level=0.8,
                                                      target_seconds=20).agents == 2
    with_abandons = forecast(basis.profile, start=date(2026, 1, 12), days=1,
                             targets=Targets(0.8, 20, patience_seconds=basis.patience_seconds))
    assert [r.abandon_probability is not None for r in with_abandons] == [True] * 48


def test_history_groups_by_local_time_across_the_spring_change(session: Session, world: World,
                                                                clock: FrozenClock) -> None:
    # 09:00 in Berlin is 08:00 UTC before 29 March 2026 and 07:00 UTC after it: one cell.
    _monday_morning(session, clock, world, datetime(2026, 3, 23, 8, 0, tzinfo=UTC))
    _monday_morning(session, clock, world, datetime(2026, 3, 30, 7, 0, tzinfo=UTC))
    history = call_history(session, zone="Europe/Berlin", first_day=date(2026, 3, 23), last_day=date(2026, 4, 5),
                           site_id=world.site.id)
    assert history.cells.keys() == {(0, 18)} and history.cells[(0, 18)].offered == 4
    assert history.weekdays == (2,) * 7
    basis = history_source.profile_for_site(session, site_id=world.site.id, today=date(2026, 4, 6), weeks=2)
    assert basis.profile.at(0, 18)[0] == 2.0


def test_bad_history_requests_are_refused(session: Session, world: World) -> None:
    with pytest.raises(ValidationFailed, match="Not one of the allowed values"):
        call_history(session, zone="UTC", first_day=date(2026, 1, 5), last_day=date(2026, 1, 6), interval_minutes=20)
    with pytest.raises(ValidationFailed, match="first day before last"):
        call_history(session, zone="UTC", first_day=date(2026, 1, 6), last_day=date(2026, 1, 5))
    with pytest.raises(ValidationFailed, match="first day before last"):
        call_history(session, zone="UTC", first_day=date(2025, 1, 1), last_day=date(2026, 1, 5))
    with pytest.raises(ValidationFailed, match="Unknown time zone"):
        call_history(session, zone="Mars/Olympus", first_day=date(2026, 1, 5), last_day=date(2026, 1, 6))
    for weeks in (0, 27):
        with pytest.raises(ValidationFailed, match="1 to 26 weeks"):
            history_source.profile_for_site(session, site_id=world.site.id, today=date(2026, 1, 12), weeks=weeks)
    empty = history_source.profile_for_site(session, site_id=world.site.id, today=date(2026, 1, 12))
    assert empty.offered == 0 and empty.patience_seconds is None and empty.profile.calls == {}
