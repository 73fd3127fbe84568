"""Writing a new ticket on PostgreSQL in one round trip: its number from the year's counter row,
the ticket row, the call it came from and the "opened" line of its timeline, in one statement.
Opening a ticket from a call happens on every call that reaches the queue, so its database time
counts (benchmarks/bench_tickets.py). SQLite keeps the step-by-step path in tickets.service."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, cast, func, inspect, literal, literal_column, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, make_transient_to_detached

from core.config import get_settings
from core.db import table_of
from core.errors import Conflict
from tickets.models.tickets import Ticket, TicketCall, TicketEvent, TicketNumberCounter

__all__ = ["CallAlreadyHasTicket", "in_one_statement", "insert_opened", "number_year"]

_TICKETS = table_of(Ticket)
_CALLS = table_of(TicketCall)
_EVENTS = table_of(TicketEvent)
_COUNTERS = table_of(TicketNumberCounter)


class CallAlreadyHasTicket(Conflict):
    """The call already has its ticket (a retried webhook, or two racing); nothing was written."""

    default_msgid = "This call already has a ticket."

    code = "call_has_ticket"


def in_one_statement(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def number_year(at: datetime) -> int:
    """The year in a ticket's number: the year of `at` in the hotline's time zone."""
    return at.astimezone(ZoneInfo(get_settings().timezone)).year


def insert_opened(session: Session, ticket: Ticket, *, call_sid: str | None, actor_id: int | None,
                  source: str, at: datetime) -> None:
    """Insert the transient `ticket` (deadlines already set) and make it the session's persistent,
    loaded object, with no SELECT back. With a `call_sid` the whole statement is conditional on
    linking the call (`ON CONFLICT DO NOTHING` on the unique CallSid): when the call already has a
    ticket nothing at all is written, the counter included, and CallAlreadyHasTicket is raised.
    The counter row's lock is held until commit, so numbers are never shared and have no gaps."""
    session.flush()  # the statement writes the tables directly: pending ORM changes go first
    year = number_year(at)
    row = _column_values(ticket)
    new_id = select(func.nextval(func.pg_get_serial_sequence("tickets", "id")).label("id")).cte("new_id")
    source_ids: Any = new_id
    if call_sid is not None:
        source_ids = (pg_insert(_CALLS)
                      .from_select(["ticket_id", "call_sid", "direction", "created_at"],
                                   select(new_id.c.id, bindparam("call_sid", call_sid), literal("inbound"),
                                          bindparam("linked_at", at, type_=_CALLS.c.created_at.type)))
                      .on_conflict_do_nothing(index_elements=["call_sid"])
                      .returning(_CALLS.c.ticket_id.label("id")).cte("linked"))
    counter = (pg_insert(_COUNTERS)
               .from_select(["year", "last"], select(literal(year), literal(1)).select_from(source_ids))
               .on_conflict_do_update(index_elements=["year"], set_={"last": _COUNTERS.c.last + 1})
               .returning(_COUNTERS.c.last).cte("counter"))
    digits = cast(counter.c.last, String)
    # HL-<year>-<at least 6 digits>, as allocate_number writes it (lpad alone would cut a 7th digit).
    number = literal(f"HL-{year}-").concat(func.lpad(digits, func.greatest(6, func.length(digits)), "0"))
    names = list(row)
    inserted = (_TICKETS.insert()
                .from_select(["id", "number", *names],
                             select(source_ids.c.id, number,
                                    *[bindparam(f"v_{name}", row[name], type_=_TICKETS.c[name].type) for name in names])
                             .select_from(source_ids).join(counter, true()))
                .returning(_TICKETS.c.id, _TICKETS.c.number).cte("inserted"))
    opened = (_EVENTS.insert()
              .from_select(["ticket_id", "at", "actor_id", "kind", "field", "to_value"],
                           select(inserted.c.id, bindparam("opened_at", at, type_=_EVENTS.c.at.type),
                                  bindparam("actor_id", actor_id, type_=_EVENTS.c.actor_id.type),
                                  literal_column("'opened'"), literal_column("'source'"),
                                  bindparam("source", source[:100], type_=_EVENTS.c.to_value.type)))
              .cte("opened"))
    result = session.execute(select(inserted.c.id, inserted.c.number).add_cte(opened)).first()
    if result is None:
        raise CallAlreadyHasTicket("This call already has a ticket.", field="call_sid", params={"call_sid": call_sid})
    ticket.id, ticket.number = result.id, result.number
    for name, value in row.items():
        setattr(ticket, name, value)  # defaults the row took, so every column is loaded
    make_transient_to_detached(ticket)  # what was inserted is its loaded state
    session.add(ticket)


def _column_values(ticket: Ticket) -> dict[str, Any]:
    """Every column but id and number, as the ORM would insert them (Python-side defaults)."""
    values: dict[str, Any] = {}
    for attr in inspect(Ticket).column_attrs:
        column = attr.columns[0]
        if column.key in ("id", "number"):
            continue
        value = ticket.__dict__.get(attr.key)
        if value is None and column.default is not None:
            default = column.default
            value = default.arg if default.is_scalar else default.arg({})
        values[attr.key] = value
    return values
