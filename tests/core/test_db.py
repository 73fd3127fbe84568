"""The data layer: UTC timestamps on both databases, after-commit work, the naming convention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Integer, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core import db
from core.clock import FrozenClock
from core.db import Base, UTCDateTime


class _TestBase(DeclarativeBase):
    """Test-only tables stay out of the hub's metadata."""

    type_annotation_map = {datetime: UTCDateTime()}


class _Stamp(_TestBase):
    __tablename__ = "test_stamps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]


@pytest.fixture
def stamps(engine):  # type: ignore[no-untyped-def]
    _Stamp.__table__.create(engine, checkfirst=True)
    yield
    _Stamp.__table__.drop(engine)


@pytest.mark.usefixtures("stamps")
def test_timestamps_round_trip_in_utc(session: Session) -> None:
    shanghai = timezone(timedelta(hours=8))
    session.add(_Stamp(id=1, at=datetime(2026, 3, 1, 8, 30, tzinfo=shanghai)))
    session.commit()
    session.expunge_all()
    loaded = session.scalars(select(_Stamp)).one()
    assert loaded.at == datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    assert loaded.at.tzinfo is not None


@pytest.mark.usefixtures("stamps")
def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(_Stamp(id=2, at=datetime(2026, 3, 1, 8, 30)))
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()


def test_on_commit_runs_after_commit_only(session: Session) -> None:
    ran: list[str] = []
    db.on_commit(session, lambda: ran.append("committed"))
    assert ran == []
    session.commit()
    assert ran == ["committed"]
    db.on_commit(session, lambda: ran.append("rolled back"))
    session.rollback()
    session.commit()
    assert ran == ["committed"]


def test_on_commit_waits_for_the_transaction_not_a_savepoint(session: Session) -> None:
    """A released SAVEPOINT (begin_nested) commits nothing yet: work queued for after the commit
    (a credential's bookkeeping write in a transaction of its own) must wait for the real commit,
    or it waits on the very lock the request still holds."""
    from sqlalchemy import text

    ran: list[str] = []
    session.execute(text("SELECT 1"))
    db.on_commit(session, lambda: ran.append("committed"))
    with session.begin_nested():
        session.execute(text("SELECT 2"))
    assert ran == []
    session.commit()
    assert ran == ["committed"]


def test_naming_convention_names_constraints() -> None:
    assert Base.metadata.naming_convention["fk"].startswith("fk_")
    assert isinstance(_Stamp.__table__.c.at.type, UTCDateTime)


def test_frozen_clock_moves_only_when_told(clock: FrozenClock) -> None:
    from core import clock as clock_module

    start = clock_module.now()
    assert clock_module.now() == start
    clock.advance(minutes=5)
    assert clock_module.now() - start == timedelta(minutes=5)
    with pytest.raises(ValueError):
        FrozenClock(datetime(2026, 1, 1))
