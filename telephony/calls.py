"""Call records: opened idempotently by CallSid, moved forward only (a late or repeated status
never turns a finished call back), and the log of every webhook with personal fields removed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause

from core import clock
from core.crypto import InvalidPhoneNumber, phone_index
from core.db import add_as_loaded, table_of
from telephony import call_states
from telephony.models import Call, CallEvent
from tickets.customers import caller_match, identify_by_index

__all__ = ["PERSONAL_PARAMS", "SIMPLE_STATUSES", "advance_status", "agent_legs", "apply_simple_status",
           "caller_index", "caller_values", "find_and_log", "get", "get_by_sid", "legs_to_hang_up", "log_event",
           "log_event_for", "move_to_ticket", "open_inbound", "sanitize"]

log = logging.getLogger("hotline.telephony.calls")

# Parameters that can carry a phone number, a name, a place or what the caller said.
PERSONAL_PARAMS = ("From", "To", "Caller", "Called", "ForwardedFrom", "CallerName", "SpeechResult",
                   "UnstableSpeechResult", "StirPassportToken", "Body")
_PERSONAL_PREFIXES = ("From", "To", "Caller", "Called")


def sanitize(params: Mapping[str, Any]) -> dict[str, str]:
    """The parameters worth keeping for an investigation, without personal data."""
    kept: dict[str, str] = {}
    for key, value in params.items():
        if key in PERSONAL_PARAMS or key.startswith(_PERSONAL_PREFIXES):
            continue
        kept[key] = str(value)[:200]
    return kept


def caller_index(number: str | None) -> str | None:
    """The blind index of a caller's number, or None for a withheld or malformed one."""
    if not number or number.startswith("client:"):
        return None
    try:
        return phone_index(number, default_region=None if number.startswith("+") else "CN")
    except (InvalidPhoneNumber, ValueError):
        return None


def get(session: Session, *, call_id: int) -> Call | None:
    return session.get(Call, call_id)


def get_by_sid(session: Session, *, call_sid: str | None) -> Call | None:
    if not call_sid:
        return None
    return session.scalar(select(Call).where(Call.call_sid == call_sid))


def move_to_ticket(session: Session, *, call_sid: str, ticket_id: int) -> None:
    """A repeat call was attached to the customer's open ticket (tickets.repeat_calls): the call
    and its legs now belong to that ticket."""
    call = get_by_sid(session, call_sid=call_sid)
    if call is not None:
        call.ticket_id = ticket_id
        for leg in agent_legs(session, call_id=call.id):
            leg.ticket_id = ticket_id


def agent_legs(session: Session, *, call_id: int) -> list[Call]:
    return list(session.scalars(select(Call).where(Call.parent_call_id == call_id).order_by(Call.id)))


def legs_to_hang_up(session: Session, *, caller: Call) -> list[int]:
    """The legs of a caller who has just ended (bridge.caller_ended) that the hub must hang up:
    every leg still live here but an agent's leg in the conference the caller joined after that
    leg answered (the caller's participant-join, logged with the caller's CallSid, came after
    the agent answered). The caller joins with endConferenceOnExit, so their leaving ends that
    conference, the agent's `<Dial>` with it and then the agent's call (nothing follows the
    `<Dial>`): Twilio ends the leg by itself and its status callback ends it here, as a REST
    hang-up would only find it ended (21220). A leg still ringing, or answered while the caller
    never reached its conference (they hung up during the "connecting" sentence), is hung up.
    Should the leg's end not arrive, the repair sweep hangs it up (carrier_effects.lost_leg_ends)
    once the caller has been over for GRACE. One statement."""
    joined = select(CallEvent.id).where(CallEvent.call_id == caller.id, CallEvent.kind == "conference",
                                        CallEvent.status == "participant-join", CallEvent.call_sid == caller.call_sid,
                                        CallEvent.received_at >= Call.answered_at)
    in_conference = (Call.leg == "agent") & Call.answered_at.is_not(None) & joined.exists()
    live = Call.status.not_in(tuple(call_states.TERMINAL))
    return list(session.scalars(select(Call.id).where(Call.parent_call_id == caller.id, live, ~in_conference)))


def log_event(session: Session, *, kind: str, params: Mapping[str, Any], call: Call | None) -> None:
    """Append to the webhook log (a plain INSERT: this runs on every webhook)."""
    session.execute(_EVENT_INSERT, _event_values(kind, params, call))


def log_event_for(session: Session, *, kind: str, params: Mapping[str, Any], call_id: int | None,
                  then: Any = None, alone: bool = False, **values: Any) -> Any:
    """log_event for a call known only by its id, without loading it: the line names the call
    if a call has that id (as log_event with no call otherwise). `then`, a Core statement built
    once (its parameters: `values`, and `ref_id` the call's id), runs after it, on PostgreSQL in
    the same statement (the log line's INSERT a CTE of it); its result is returned. With `alone`
    (the unit of work writes nothing else), that one statement commits on its own on PostgreSQL
    when the session has not begun (see `_autocommitting`)."""
    event = _event_values(kind, params, None)
    postgres = session.get_bind().dialect.name == "postgresql"
    if then is None or not postgres:
        event["ref_id"] = call_id
        if alone and postgres and then is None:
            _autocommitting(session)[0].execute(_EVENT_INSERT_BY_ID, event)
            return None
        session.execute(_EVENT_INSERT_BY_ID, event)
        return session.execute(then, {"ref_id": call_id, **values}) if then is not None else None
    if then not in _LOGGED_BY_ID:
        calls_table, events_table = table_of(Call), table_of(CallEvent)
        names = ["call_sid", "kind", "status", "sequence", "received_at", "params"]
        logged = (insert(events_table)
                  .from_select(["call_id", *names],
                               select(select(calls_table.c.id).where(calls_table.c.id == bindparam("ref_id"))
                                      .scalar_subquery(),
                                      *[bindparam(f"event_{name}", type_=events_table.c[name].type) for name in names]))
                  .cte("logged"))
        _LOGGED_BY_ID[then] = then.add_cte(logged)
    values.update({f"event_{k}": v for k, v in event.items() if k != "call_id"}, ref_id=call_id)
    connection = _autocommitting(session)[0] if alone else session.connection()
    return connection.execute(_LOGGED_BY_ID[then], values)


_LOGGED_BY_ID: dict[Any, Any] = {}  # a statement given to log_event_for -> it with the log line's INSERT


def find_and_log(session: Session, *, kind: str, params: Mapping[str, Any], call_sid: str | None = None,
                 call_id: int | None = None, lock: bool = False) -> Call | None:
    """The webhook's call, by CallSid or by id (under its row lock with `lock`, as
    call_states.lock_by_sid and lock_by_id), with the webhook logged for it (log_event): on
    PostgreSQL in one statement, the log line's INSERT a CTE of the read. None, and nothing
    logged, when there is no such call."""
    if call_sid is None and call_id is None:
        return None
    by_sid = call_id is None
    if session.get_bind().dialect.name != "postgresql":
        if lock:
            call = (call_states.lock_by_sid(session, call_sid=call_sid) if by_sid
                    else call_states.lock_by_id(session, call_id=call_id))  # type: ignore[arg-type]
        else:
            call = get_by_sid(session, call_sid=call_sid) if by_sid else session.get(Call, call_id)
        if call is not None:
            log_event(session, kind=kind, params=params, call=call)
        return call
    values = {f"event_{k}": v for k, v in _event_values(kind, params, None).items() if k != "call_id"}
    values["ref"] = call_sid if by_sid else call_id
    return session.scalars(_found_and_logged(by_sid, lock), values).one_or_none()


_FOUND_AND_LOGGED: dict[tuple[bool, bool], Any] = {}


def _found_and_logged(by_sid: bool, lock: bool) -> Any:
    """find_and_log's statement on PostgreSQL, built once per shape (SQLAlchemy compiles it once).
    The log line's INSERT reads the call's id in the statement's snapshot (an id never changes);
    its foreign key takes a KEY SHARE lock, which the row lock (`FOR NO KEY UPDATE`) does not
    wait for, so nothing here waits on itself."""
    shape = (by_sid, lock)
    if shape not in _FOUND_AND_LOGGED:
        calls_table, events_table = table_of(Call), table_of(CallEvent)
        key = calls_table.c.call_sid if by_sid else calls_table.c.id
        names = ["call_sid", "kind", "status", "sequence", "received_at", "params"]
        logged = (insert(events_table)
                  .from_select(["call_id", *names],
                               select(calls_table.c.id,
                                      *[bindparam(f"event_{name}", type_=events_table.c[name].type) for name in names])
                               .where(key == bindparam("ref", type_=key.type)))
                  .cte("logged"))
        statement = select(Call).where(key == bindparam("ref", type_=key.type)).add_cte(logged)
        if lock:
            statement = call_states.row_locked(statement)
        _FOUND_AND_LOGGED[shape] = statement
    return _FOUND_AND_LOGGED[shape]


def _event_values(kind: str, params: Mapping[str, Any], call: Call | None) -> dict[str, Any]:
    sequence = params.get("SequenceNumber")
    return {"call_id": call.id if call is not None else None, "call_sid": params.get("CallSid"), "kind": kind,
            "status": params.get("CallStatus") or params.get("RecordingStatus") or params.get("QueueResult")
            or params.get("StatusCallbackEvent"),
            "sequence": int(sequence) if sequence and str(sequence).isdigit() else None,
            "received_at": clock.now(), "params": sanitize(params)}


# Built once and given their values at execution, so SQLAlchemy compiles them once: these two
# statements run on every incoming call.
_EVENT_INSERT = insert(table_of(CallEvent))
_EVENT_INSERT_BY_ID = insert(table_of(CallEvent)).values(
    call_id=select(table_of(Call).c.id).where(table_of(Call).c.id == bindparam("ref_id")).scalar_subquery())
_CALL_INSERTS: dict[str, Any] = {}

# Statuses whose step changes the call's status and nothing else (telephony.bridge.on_status).
SIMPLE_STATUSES = ("queued", "initiated", "ringing")


_SIMPLE_STATUS_STATEMENT: list[Any] = []


def _simple_status_statement() -> Any:
    """Find the call by CallSid under its row lock (`FOR NO KEY UPDATE`, as call_states.lock),
    log the callback for it, and move it to the status if Twilio's order allows
    (call_states.ALLOWED_FROM): one statement, built once so SQLAlchemy compiles it once."""
    if not _SIMPLE_STATUS_STATEMENT:
        calls_table, events_table = table_of(Call), table_of(CallEvent)
        target = (select(calls_table.c.id, calls_table.c.status)
                  .where(calls_table.c.call_sid == bindparam("sid", type_=calls_table.c.call_sid.type))
                  .with_for_update(key_share=True).cte("target"))
        names = ["call_sid", "kind", "status", "sequence", "received_at", "params"]
        logged = (insert(events_table)
                  .from_select(["call_id", *names],
                               select(target.c.id, *[bindparam(f"event_{name}", type_=events_table.c[name].type)
                                                     for name in names]))
                  .cte("logged"))
        moved = (update(calls_table)
                 .where(calls_table.c.id == target.c.id, target.c.status.in_(bindparam("allowed", expanding=True)))
                 .values(status=bindparam("new_status", type_=calls_table.c.status.type),
                         updated_at=bindparam("now", type_=calls_table.c.updated_at.type))
                 .returning(calls_table.c.id).cte("moved"))
        _SIMPLE_STATUS_STATEMENT.append(select(target.c.id).add_cte(logged).add_cte(moved))
    return _SIMPLE_STATUS_STATEMENT[0]


def apply_simple_status(session: Session, *, kind: str, params: Mapping[str, str]) -> bool:
    """PostgreSQL: a status callback whose status changes nothing but the status
    (SIMPLE_STATUSES), whole in one statement: the call found by CallSid under its row lock, the
    callback logged (log_event), and the status applied forward only (call_states.advance). When
    the session has not begun, that statement commits on its own (see `_autocommitting`): one
    round trip in all. The session is not given the call (a session that may hold it takes
    call_states.advance instead). False, and nothing written, for an unknown CallSid."""
    sid = params.get("CallSid")
    status = params.get("CallStatus") or ""
    assert status in SIMPLE_STATUSES
    if not sid:
        return False
    connection, _alone = _autocommitting(session)
    values: dict[str, Any] = {f"event_{k}": v for k, v in _event_values(kind, params, None).items() if k != "call_id"}
    values.update(sid=sid, allowed=list(call_states.ALLOWED_FROM[status]), new_status=status, now=clock.now())
    return connection.execute(_simple_status_statement(), values).first() is not None


def _call_insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect not in _CALL_INSERTS:
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        calls_table = table_of(Call)
        _CALL_INSERTS[dialect] = (dialect_insert(calls_table)
                                  .on_conflict_do_nothing(index_elements=["call_sid"])
                                  .returning(calls_table.c.id))
    return _CALL_INSERTS[dialect]


def open_inbound(session: Session, *, params: Mapping[str, str], degraded: bool = False, log_as: str | None = None,
                 identify: bool = False, autocommit: bool = False, **values: Any) -> tuple[Call, bool]:
    """The caller's call for this CallSid, created on first sight (with `values`); a retried
    webhook, or two racing, find the same row. The common case is one round trip: INSERT ...
    ON CONFLICT DO NOTHING RETURNING id, the row built from what was inserted. With `log_as`
    the webhook is also logged (log_event), on PostgreSQL in that same statement for a new
    call. With `identify` a new call is identified by caller ID (`from_index`; see
    `caller_values`), on PostgreSQL in that statement too. With `autocommit` too, when the
    session has not begun yet, that one statement commits on its own (see `_autocommitting`).
    Returns (call, created)."""
    if log_as is not None and session.get_bind().dialect.name == "postgresql":
        return _open_inbound_logged(session, params=params, degraded=degraded, kind=log_as, identify=identify,
                                    autocommit=autocommit, **values)
    if identify:
        values.update(caller_values(session, index=values.get("from_index")))
    call, created = _open_inbound(session, params=params, degraded=degraded, **values)
    if log_as is not None:
        log_event(session, kind=log_as, params=params, call=call)
    return call, created


def caller_values(session: Session, *, index: str | None) -> dict[str, Any]:
    """What a known caller sets on their call (customer, tier, site, own agent); empty for an
    unknown, withheld or malformed number."""
    match = identify_by_index(session, index=index)
    if match is None:
        return {}
    return {"customer_id": match.customer_id, "tier": match.tier, "site_id": match.site_id,
            "owning_agent_id": match.owning_agent_id}


def _inbound_row(params: Mapping[str, str], degraded: bool, values: Mapping[str, Any]) -> dict[str, Any]:
    number = params.get("From") or params.get("Caller")
    now = clock.now()
    row: dict[str, Any] = {column.key: None for column in Call.__table__.columns if column.key != "id"}
    row.update(call_sid=params["CallSid"], leg="caller", direction=params.get("Direction") or "inbound",
               from_index=values["from_index"] if "from_index" in values else caller_index(number),
               from_number=number or None, to_number=params.get("To"),
               status="ringing", started_at=now, created_at=now, updated_at=now, language="zh-CN",
               degraded=degraded)
    row.update(values)
    return row


_LOGGED_INSERT: dict[tuple[bool, frozenset[str], bool], Any] = {}
# Filled in from the caller's customer record when the statement identifies the caller.
_IDENTIFIED = ("customer_id", "tier", "site_id", "owning_agent_id")


def _logged_insert(identify: bool, given: frozenset[str], relaxed: bool = False) -> Any:
    """INSERT the call ... ON CONFLICT DO NOTHING RETURNING, and its first log line from the new
    id, in one statement; with `identify`, the caller-ID lookup too (tickets.customers.caller_match
    as a CTE: the customer's columns where the number is known, the given values otherwise).
    Only the `given` columns are bound (the others are NULL): a new call sets about half of
    them. With `relaxed`, the statement's own transaction commits without waiting for the WAL
    to reach the disk (see `_relaxes_commit`). Built once per shape (a handful occur), so
    SQLAlchemy compiles each once."""
    shape = (identify, given, relaxed)
    if shape not in _LOGGED_INSERT:
        from sqlalchemy import bindparam, func, literal_column, null, select
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        calls_table, events_table = table_of(Call), table_of(CallEvent)
        values: dict[str, Any] = {c.key: bindparam(f"call_{c.key}", type_=c.type)
                                  for c in calls_table.columns if c.key in given}
        if identify:
            match = caller_match(bindparam("call_from_index", type_=calls_table.c.from_index.type)).cte("caller")
            for key in _IDENTIFIED:
                values[key] = func.coalesce(select(match.c[key]).scalar_subquery(), values.get(key, null()))
        opened = (pg_insert(calls_table).values(values).on_conflict_do_nothing(index_elements=["call_sid"])
                  .returning(calls_table.c.id, *(calls_table.c[key] for key in _IDENTIFIED)).cte("opened"))
        names = ["call_sid", "kind", "status", "sequence", "received_at", "params"]
        logged = (insert(events_table)
                  .from_select(["call_id", *names], select(opened.c.id, *[bindparam(f"event_{name}",
                                                                                    type_=events_table.c[name].type)
                                                                          for name in names]))
                  .cte("logged"))
        statement = select(opened.c.id, *(opened.c[key] for key in _IDENTIFIED)).add_cte(logged)
        if relaxed:
            # set_config(..., is_local => true) lasts until this statement's transaction ends,
            # after its commit record is written; an uncorrelated subquery runs once.
            relax: ColumnClause[str] = literal_column("set_config('synchronous_commit', 'off', true)")
            statement = statement.where(select(relax).scalar_subquery().is_not(None))
        _LOGGED_INSERT[shape] = statement
    return _LOGGED_INSERT[shape]


def _relaxes_commit() -> bool:
    """Whether a new call's one-statement commit may skip waiting for the WAL flush: yes unless
    `HOTLINE_NEW_CALL_SYNCHRONOUS_COMMIT` is true (it defaults to false).

    A flush is a disk sync, and under load a sync on shared or network storage now and then
    takes 50-500 ms; every call committing meanwhile waits for it, which is the whole tail of
    the incoming-call webhook (benchmarks/bench_webhook.py). What the wait buys is small: only
    a crash of the database server itself (not of the hub) within about 0.6 s
    (3 x wal_writer_delay) can lose such a commit, and what it loses is a ringing call that
    Twilio still holds. Its next webhook (a menu choice, the wait URL) opens it again, identified
    (`open_inbound` on an unknown CallSid); only a caller who hangs up during the greeting would
    then be missing from the call log. Only this statement is relaxed: voicemails, callbacks,
    tickets and everything else a caller leaves commit durably."""
    from core.config import get_settings

    return not get_settings().new_call_synchronous_commit


def _autocommitting(session: Session) -> tuple[Any, bool]:
    """The session's connection in autocommit, when nothing has been read or written in it yet:
    a single statement is atomic by itself (its CTEs included), so a new call needs no BEGIN
    and COMMIT round trips, one round trip in all instead of three. The caller accepts that
    anything the unit of work writes afterwards commits statement by statement; the session's
    commit still runs its after-commit work (events). Otherwise the session's transaction.
    Returns the connection and whether it autocommits."""
    if session.in_transaction():
        return session.connection(), False
    return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"}), True


def _open_inbound_logged(session: Session, *, params: Mapping[str, str], degraded: bool, kind: str,
                         identify: bool = False, autocommit: bool = False, **values: Any) -> tuple[Call, bool]:
    # The call row and its first log line in one statement: the log's INSERT reads the new id
    # from the call's INSERT ... ON CONFLICT DO NOTHING RETURNING id, so a known call writes
    # nothing here and takes the two-step path.
    row = _inbound_row(params, degraded, values)
    event = _event_values(kind, params, None)
    # A Core statement on the session's connection: nothing in it reads the ORM's pending state.
    connection, alone = _autocommitting(session) if autocommit else (session.connection(), False)
    given = {f"call_{k}": v for k, v in row.items() if v is not None}
    given.update((f"event_{k}", v) for k, v in event.items() if k != "call_id")
    statement = _logged_insert(identify and row["from_index"] is not None,
                               frozenset(k for k, v in row.items() if v is not None),
                               relaxed=alone and _relaxes_commit())
    inserted = connection.execute(statement, given).first()
    if inserted is None:
        call, created = _open_inbound(session, params=params, degraded=degraded, **values)
        log_event(session, kind=kind, params=params, call=call)
        return call, created
    row.update(inserted._mapping)
    return add_as_loaded(session, Call, row), True


def _open_inbound(session: Session, *, params: Mapping[str, str], degraded: bool = False,
                  **values: Any) -> tuple[Call, bool]:
    sid = params["CallSid"]
    row = _inbound_row(params, degraded, values)
    new_id = session.execute(_call_insert(session), row).scalar()
    if new_id is None:
        existing = get_by_sid(session, call_sid=sid)
        assert existing is not None
        return existing, False
    return add_as_loaded(session, Call, {"id": new_id, **row}), True


def advance_status(call: Call, status: str | None, *, duration: str | None = None) -> bool:
    """Move the call to `status` if that is a step forward (telephony.call_states, under the
    call's row lock); returns whether anything changed."""
    return call_states.advance(None, call, status, duration=duration)


def any_call(session: Session) -> bool:
    """Whether the hub has ever had a call (the demo plays its history on a hub that has none)."""
    return session.scalar(select(Call.id).limit(1)) is not None


