"""Optimistic concurrency for tickets: a change names the version it read, and is written in one
UPDATE guarded by that version, so a concurrent write makes it a Conflict, never a lost update."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.errors import Conflict
from tickets.models.tickets import Ticket


class StaleTicket(Conflict):
    """The ticket changed since you read it; reload it and apply your change again."""

    code = "stale_version"


def check_version(ticket: Ticket, version: int | None) -> None:
    """Refuse at once when the caller read an older version than the one stored."""
    if version is not None and version != ticket.version:
        raise StaleTicket(f"Ticket {ticket.number} was changed by someone else (you have version {version}, "
                          f"it is now at {ticket.version}); reload it and apply your change again.", field="version")


def _stale(ticket: Ticket) -> StaleTicket:
    return StaleTicket(f"Ticket {ticket.number} was changed by someone else while you edited it; "
                       "reload it and apply your change again.", field="version")


@contextmanager
def changing(session: Session, ticket: Ticket, version: int | None = None) -> Iterator[Ticket]:
    """Check the version, make every change inside the block without automatic flushes (one
    change, one UPDATE guarded by the version read), then write it. A write that finds the row
    at another version, in the block or at the end, raises StaleTicket."""
    check_version(ticket, version)
    try:
        with session.no_autoflush:
            yield ticket
        session.flush()
    except StaleDataError:
        raise _stale(ticket) from None
