"""Hooks between packages are wired by the composition root, not by imports: "acknowledge the
notices before going available" holds in a bare worker process (a fresh interpreter that only
starts the worker the way `hotline worker` does), and importing the module that owns the rule
registers nothing by itself."""

from __future__ import annotations

import multiprocessing
from datetime import datetime

from sqlalchemy.orm import Session

from core import config
from core.models import Role
from tests.factories import make_site, make_team, make_user

# This module is imported again by the spawned processes: it imports no package that owns a hook.


def _fresh_process(settings: config.Settings, start: datetime, user_id: int, *,
                   start_worker: bool) -> dict[str, object]:
    from core import clock as clock_module
    from core import db
    from core.clock import FrozenClock
    from hotline.models import load_all

    load_all()  # every table, as any process of the hub has (this imports the owners of the rules too)
    clock_module.install(FrozenClock(start))
    config.configure(settings.model_copy(update={"broker_url": None}))
    db.configure_engine(db.make_engine(settings.effective_database_url, pool_size=1, max_overflow=0))
    from scheduling import notices  # noqa: F401 - the module that owns the rule, imported
    from telephony import presence

    registered_by_imports = len(presence.before_available)
    if start_worker:
        from hotline import worker

        worker.configure(config.get_settings())  # what `hotline worker` and the embedded worker do first
    outcome = "available"
    if not start_worker:  # an unwired process cannot change presence at all (it has no router)
        db.get_engine().dispose()
        return {"registered_by_imports": registered_by_imports, "outcome": None}
    with db.new_session() as session:
        try:
            presence.set_presence(session, user_id=user_id, state="available")
            session.commit()
        except presence.NotReadyForCalls as refused:
            session.rollback()
            outcome = refused.message
    db.get_engine().dispose()
    return {"registered_by_imports": registered_by_imports, "outcome": outcome}


def _run(settings: config.Settings, start: datetime, user_id: int, *, start_worker: bool) -> dict[str, object]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_fresh_process, (settings, start, user_id), {"start_worker": start_worker})


def test_the_notices_rule_holds_in_a_bare_worker_process(settings: config.Settings, session: Session, clock) -> None:  # type: ignore[no-untyped-def]
    from scheduling import notices

    site = make_site(session)
    team = make_team(session, site=site)
    agent = make_user(session, role=Role.agent, team=team)
    leader = make_user(session, role=Role.team_leader, team=team)
    notices.publish_notice(session, title="New greeting", body="Use the new greeting from today.", by=leader,
                           team_id=team.id)
    session.commit()

    started = _run(settings, clock.now(), agent.id, start_worker=True)
    assert "New greeting" in str(started["outcome"])
    # Imports alone (every model, hence every package) register no rule: the wiring does.
    imported_only = _run(settings, clock.now(), agent.id, start_worker=False)
    assert imported_only["registered_by_imports"] == 0


def _offer_hooks_in_fresh_process(settings: config.Settings) -> dict[str, int]:
    from hotline.models import load_all

    load_all()
    config.configure(settings.model_copy(update={"broker_url": None}))
    from telephony import bridge, offers  # the module that opens the card, imported

    registered_by_imports = len(offers.on_offer)
    from hotline import hooks

    hooks.wire()
    hooks.wire()  # safe to call again
    return {"registered_by_imports": registered_by_imports, "wired": offers.on_offer.count(bridge.open_offer_access)}


def test_an_offer_opens_the_callers_card_because_the_composition_root_says_so(settings: config.Settings) -> None:
    # The running path (an offer shows the card on the desk) is in tests/agent_ui/test_desktop.py.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        outcome = pool.apply(_offer_hooks_in_fresh_process, (settings,))
    assert outcome == {"registered_by_imports": 0, "wired": 1}
