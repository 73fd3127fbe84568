"""A token bucket kept in the database, so every worker on every host draws from the same one:
outbound calls are paced at Twilio's 1 call per second per account (TWILIO.md). The bucket's
row is read under a row lock (PostgreSQL) or inside SQLite's serialised writer, so two workers
can never both spend the last token."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import clock
from core.db import begin_write
from telephony.models.controls import RateBucket

__all__ = ["OUTBOUND_CALLS", "take"]

OUTBOUND_CALLS = "twilio-calls"


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(RateBucket)
    return sqlite.insert(RateBucket)


def take(session: Session, *, name: str = OUTBOUND_CALLS, per_second: float = 1.0, capacity: float = 1.0) -> float:
    """Spend one token: 0.0 when one was there (the caller may go ahead), otherwise the seconds
    until the next one is due (nothing spent). The lock is held until the caller's commit, so
    the dial that spends the token and the spending commit together."""
    begin_write(session)
    now = clock.now()
    session.execute(_insert(session).values(name=name, tokens=capacity, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["name"]))
    bucket = session.scalars(select(RateBucket).where(RateBucket.name == name).with_for_update()
                             .execution_options(populate_existing=True)).one()
    elapsed = max(0.0, (now - bucket.updated_at).total_seconds()) if bucket.updated_at else 0.0
    tokens = min(capacity, bucket.tokens + elapsed * per_second)
    bucket.updated_at = max(now, bucket.updated_at) if bucket.updated_at else now
    if tokens >= 1.0:
        bucket.tokens = tokens - 1.0
        session.flush()
        return 0.0
    bucket.tokens = tokens
    session.flush()
    return (1.0 - tokens) / per_second
