"""Optimistic concurrency for tickets: a change names the version it read, and is written in one
UPDATE guarded by that version, so a concurrent write makes it a Conflict, never a lost update
(nor a server error): the refusal names the version the ticket is at now."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.errors import Conflict
from tickets.models.tickets import Ticket


class StaleTicket(Conflict):
    """The ticket changed since you read it; reload it and apply your change again."""

    code = "stale_version"


# The values (the ticket's number, the version read and the current one) are in `params`.
STALE = "Someone else changed this ticket while you were writing. Reload it to see their change, then add yours again."


def check_version(ticket: Ticket, version: int | None) -> None:
    """Refuse at once when the caller read an older version than the one stored."""
    if version is not None and version != ticket.version:
        raise StaleTicket(STALE, field="version",
                          params={"number": ticket.number, "version": version, "current_version": ticket.version})


def _current_version(session: Session, ticket_id: int) -> int | None:
    """The version committed now, read on a connection of its own: the session's transaction
    failed and can read nothing more (on SQLite a plain reader, not a second serialised writer)."""
    engine = session.get_bind().engine.execution_options(sqlite_immediate=False)
    with engine.connect() as connection:
        return connection.scalar(select(Ticket.version).where(Ticket.id == ticket_id))


def _stale(number: str, version: int, current: int | None) -> StaleTicket:
    return StaleTicket(STALE, field="version",
                       params={"number": number, "version": version, "current_version": current})


@contextmanager
def changing(session: Session, ticket: Ticket, version: int | None = None) -> Iterator[Ticket]:
    """Check the version, make every change inside the block without automatic flushes (one
    change, one UPDATE guarded by the version read), then write it. A write that finds the row
    at another version, in the block or at the end, raises StaleTicket; so does a row the block
    inserts that a concurrent writer of the ticket inserted first (a tag), once the ticket moved on."""
    check_version(ticket, version)
    ticket_id, number, read = ticket.id, ticket.number, ticket.version  # a failed flush leaves nothing to load
    try:
        with session.no_autoflush:
            yield ticket
        session.flush()
    except StaleDataError:
        raise _stale(number, read, _current_version(session, ticket_id)) from None
    except IntegrityError:
        current = _current_version(session, ticket_id)
        if current == read:
            raise
        raise _stale(number, read, current) from None
