"""The embedded default under concurrent writers: every unit of work that may write starts as
SQLite's serialised writer and waits its turn in the process, so a read-then-write never fails
with "database is locked" (issue: a simulated agent's hang-up, the roster solver and a customer
POST failed that way at 3 calls a minute)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core import audit, db
from core.auth import request_session
from core.models import User
from telephony import presence
from tests.factories import make_site, make_team, make_user
from tickets import service as tickets

ROUNDS = 12


def _unit_of_work(work: Callable[[Session], object]) -> None:
    """As a task, the embedded beat or the demo's simulator does it: a plain session_scope."""
    with db.session_scope() as session:
        work(session)


def _web_request(method: str, work: Callable[[Session], object]) -> None:
    """As a web request does it: the request's own session dependency."""
    dependency = request_session(SimpleNamespace(method=method))  # type: ignore[arg-type]
    session = next(dependency)
    try:
        work(session)
    except BaseException as exc:
        dependency.throw(exc)
        raise
    with pytest.raises(StopIteration):
        next(dependency)


def test_twenty_concurrent_writers_of_different_kinds_see_no_error(session: Session) -> None:
    site = make_site(session)
    team = make_team(session, site=site)
    people = [make_user(session, team=team) for _ in range(4)]
    ids = [p.id for p in people]
    site_id = site.id
    session.rollback()

    def presence_toggle(n: int) -> None:  # the simulated agents and the router
        state = "available" if n % 2 == 0 else "away"
        _unit_of_work(lambda s: presence.set_presence(s, user_id=ids[n % 4], state=state))

    def read_then_audit(n: int) -> None:  # a task that reads, then appends to the audit trail
        def work(s: Session) -> None:
            user = s.get(User, ids[n % 4])
            s.execute(text("SELECT count(*) FROM audit_entries")).scalar()
            audit.record(s, action="test.read_then_write", actor_id=user.id if user else None)
        _unit_of_work(work)

    def open_ticket(n: int) -> None:  # reads the site and the person, then inserts
        def work(s: Session) -> None:
            by = s.get(User, ids[n % 4])
            tickets.open_ticket(s, category="inquiry", site_id=site_id, by=by, subject=f"load {n}")
        _unit_of_work(work)

    def rename(n: int) -> None:  # a web form post: read, change, flush
        def work(s: Session) -> None:
            user = s.scalars(select(User).where(User.id == ids[n % 4])).one()
            user.display_name = f"Person {n}"
            s.flush()
        _web_request("POST", work)

    def page_read(n: int) -> None:  # a page being looked at meanwhile
        _web_request("GET", lambda s: s.scalars(select(User).where(User.id.in_(ids))).all())

    kinds = [presence_toggle, read_then_audit, open_ticket, rename, page_read]
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def run(kind: Callable[[int], None]) -> None:
        start.wait()
        for n in range(ROUNDS):
            try:
                kind(n)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(kinds[i % len(kinds)],)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    with db.session_scope() as check:
        assert check.execute(text("SELECT count(*) FROM audit_entries WHERE action = 'test.read_then_write'")
                             ).scalar() == 4 * ROUNDS
        assert audit.verify(check).ok


def test_a_page_that_writes_on_first_look_waits_for_the_writer(session: Session, client, clock) -> None:  # type: ignore[no-untyped-def]
    """The team leader's duty page opens the day's duty log on first look (a GET that writes):
    it waited for nobody and failed with "database is locked" while a webhook was writing."""
    from tests.factories import signed_in_client

    site = make_site(session)
    lead = make_user(session, role="team_leader", site=site)
    signed_in_client(client, lead)
    gate = db.writer_gate(db.get_engine())
    if gate is None:
        pytest.skip("SQLite's single writer")
    holding, release, answers = threading.Event(), threading.Event(), []

    def writer() -> None:
        with db.session_scope() as other:
            other.execute(text("SELECT 1"))
            audit.record(other, action="test.holding")
            holding.set()
            release.wait(30)

    def page() -> None:
        answers.append(client.get("/duty").status_code)

    holder = threading.Thread(target=writer)
    holder.start()
    assert holding.wait(30)
    viewer = threading.Thread(target=page)
    viewer.start()
    while gate.waiting == 0 and viewer.is_alive():
        viewer.join(0.01)  # until the page queues behind the writer (or fails without waiting)
    release.set()
    holder.join(30)
    viewer.join(60)
    assert answers == [200]


def test_an_audited_view_in_a_reader_waits_for_the_writer(session: Session) -> None:
    """A page (a reader) that shows a customer's card audits the view after reading: it must wait
    its turn, not fail with "database is locked" because a webhook was writing."""
    gate = db.writer_gate(db.get_engine())
    if gate is None:
        pytest.skip("SQLite's single writer")
    holding, release, errors = threading.Event(), threading.Event(), []

    def writer() -> None:
        with db.session_scope() as other:
            audit.record(other, action="test.holding")
            holding.set()
            release.wait(30)

    def page() -> None:
        try:
            with db.session_scope(reader=True) as viewer:
                viewer.execute(text("SELECT count(*) FROM users")).scalar()
                audit.record(viewer, action="customer.viewed", object_type="customer", object_id=1)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    holder = threading.Thread(target=writer)
    holder.start()
    assert holding.wait(30)
    viewer = threading.Thread(target=page)
    viewer.start()
    while gate.waiting == 0 and viewer.is_alive():
        viewer.join(0.01)
    release.set()
    holder.join(30)
    viewer.join(60)
    assert errors == []
    with db.session_scope(reader=True) as check:
        assert check.execute(text("SELECT action FROM audit_entries ORDER BY seq")).scalars().all() == [
            "test.holding", "customer.viewed"]
        assert audit.verify(check).ok


def test_two_audited_views_in_one_reader_stay_one_unit_of_work(session: Session) -> None:
    with db.session_scope(reader=True) as viewer:
        viewer.execute(text("SELECT 1"))
        audit.record(viewer, action="customer.viewed", object_id=1)
        audit.record(viewer, action="customer.viewed", object_id=2)
        viewer.rollback()  # both go, or neither
    with db.session_scope(reader=True) as check:
        assert check.execute(text("SELECT count(*) FROM audit_entries")).scalar() == 0
