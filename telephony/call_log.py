"""The call log and its figures: one row per customer call (the caller's inbound call, or a
callback the server dialled), read within the viewer's scope, with its outcome, waiting, talk and
hold times, ticket and recording; and the period figures the reports draw (calls, service level,
abandonment, handle time, per day or week and per team). Plain rows: never a phone number."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, and_, case, cast, false, func, or_, select
from sqlalchemy.orm import Session

from core import directory, listening, organisation, permissions
from core.errors import NOT_ALLOWED_VALUE, PermissionDenied, ValidationFailed
from core.models import Role, User
from telephony import controls
from telephony.figures import SERVICE_LEVEL_SECONDS
from telephony.models import TERMINAL_STATUSES, Call, Offer, QueueEntry, Recording
from tickets import service as ticket_service

__all__ = ["DIRECTIONS", "MAX_DAYS", "OUTCOMES", "CallPage", "CallRow", "PeriodFigures", "Report", "TeamFigures",
           "agents_in_scope", "call_log", "period_report", "report_site", "visibility"]

# A caller's outcome, then a callback's (the customer did not pick up, was busy, or a machine answered).
OUTCOMES = ("answered", "abandoned", "voicemail", "callback_requested", "no_answer", "busy", "failed",
            "in_progress")
DIRECTIONS = ("inbound", "callback")
MAX_DAYS = 366  # the longest period one page or report reads
CALL_ROLES = (Role.agent.value, Role.team_leader.value)  # who takes calls at the desktop
_LOG_LEGS = ("caller", "customer")  # agents' legs are part of these calls, not calls of their own
_TERMINAL = tuple(sorted(TERMINAL_STATUSES))

# One rule for the outcome, used to show it, filter by it and count it.
OUTCOME = case(
    (and_(Call.leg == "caller", Call.agent_id.is_not(None)), "answered"),
    (and_(Call.leg == "caller", Call.after_queue == "callback"), "callback_requested"),
    (and_(Call.leg == "caller", Call.after_queue == "voicemail"), "voicemail"),
    (and_(Call.leg == "caller", Call.status.in_(_TERMINAL)), "abandoned"),
    (Call.leg == "caller", "in_progress"),
    # A callback: a person answered and joined the conference; a machine answered and was hung up on.
    (Call.bridged_at.is_not(None), "answered"),
    (and_(Call.answered_at.is_not(None), Call.status.in_(_TERMINAL)), "voicemail"),
    (Call.status == "no-answer", "no_answer"),
    (Call.status == "busy", "busy"),
    (Call.status.in_(("failed", "canceled")), "failed"),
    else_="in_progress",
)


# Who sees which calls -------------------------------------------------------------------------

def _ids(users: Iterable[User]) -> list[int]:
    return [u.id for u in users]


def visibility(session: Session, viewer: User) -> ColumnElement[bool] | None:
    """A filter on calls for what `viewer` may read; None when they read every call. An agent
    reads the calls they took, a team leader their team's, a supervisor or QA inspector their
    site's (calls of the site's customers and calls its staff took), the center head and admin all.
    Past members count: a deactivated agent's calls stay in the team's log."""
    role = viewer.role
    if role in (Role.center_head.value, Role.admin.value):
        return None
    if role in (Role.supervisor.value, Role.qa_inspector.value):
        if viewer.site_id is None:
            return None  # a manager of the whole center, as on the floor
        staff = _ids(directory.list_users(session, site_id=viewer.site_id, active_only=False))
        return or_(Call.site_id == viewer.site_id, Call.agent_id.in_(staff)) if staff else \
            Call.site_id == viewer.site_id
    if role == Role.team_leader.value:
        team = _ids(directory.list_users(session, team_id=viewer.team_id, active_only=False)) \
            if viewer.team_id is not None else []
        return Call.agent_id.in_(sorted(set(team) | {viewer.id}))
    if role == Role.agent.value:
        return Call.agent_id == viewer.id
    return false()


def agents_in_scope(session: Session, *, viewer: User) -> list[User]:
    """The people whose calls `viewer` may filter by (those who take calls), by name."""
    role = viewer.role
    if role == Role.agent.value:
        return [viewer]
    if role == Role.team_leader.value:
        people = directory.list_users(session, team_id=viewer.team_id, active_only=False) \
            if viewer.team_id is not None else [viewer]
    elif role in (Role.supervisor.value, Role.qa_inspector.value) and viewer.site_id is not None:
        people = directory.list_users(session, site_id=viewer.site_id, active_only=False)
    elif permissions.allowed(role, permissions.SUPERVISORS) or role == Role.qa_inspector.value:
        people = directory.list_users(session, active_only=False)
    else:
        return []
    return [p for p in people if p.role in CALL_ROLES or p.id == viewer.id]


# The log --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallRow:
    call_id: int
    started_at: datetime
    direction: str  # inbound | callback
    queue: str | None  # the skill code the caller chose
    agent_id: int | None
    agent_name: str | None
    outcome: str
    wait_seconds: int | None  # from joining the queue to an agent's answer (or leaving the queue)
    talk_seconds: int | None  # connected time less hold, once the call has ended
    hold_seconds: int | None
    ticket_id: int | None
    ticket_number: str | None
    ticket_visible: bool  # the viewer may open the ticket (else its number is shown, not linked)
    recording_kind: str | None  # call | voicemail, when the call has a completed recording
    recording_id: int | None  # set when the recording is stored and the viewer may listen


@dataclass(frozen=True)
class CallPage:
    rows: list[CallRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _check(session: Session, viewer: User, *, start: datetime, end: datetime, agent_id: int | None,
           queue: str | None, outcome: str | None, direction: str | None) -> None:
    errors: list[dict[str, Any]] = []
    if end <= start:
        errors.append({"loc": ["to"], "msg": "The period ends before it starts."})
    elif end - start > timedelta(days=MAX_DAYS + 1):
        errors.append({"loc": ["to"], "msg": "Choose a period of at most %(days)s days.", "params": {"days": MAX_DAYS}})
    if outcome is not None and outcome not in OUTCOMES:
        errors.append({"loc": ["outcome"], "msg": NOT_ALLOWED_VALUE,
                       "params": {"value": outcome, "known": list(OUTCOMES)}})
    if direction is not None and direction not in DIRECTIONS:
        errors.append({"loc": ["direction"], "msg": "Direction is inbound or callback."})
    if queue is not None and not (queue.replace("_", "").isalnum() and len(queue) <= 40):
        errors.append({"loc": ["queue"], "msg": "Unknown queue."})
    if agent_id is not None and agent_id not in {p.id for p in agents_in_scope(session, viewer=viewer)}:
        # The same answer for "no such person" and "not yours to read": nobody learns who exists.
        errors.append({"loc": ["agent"], "msg": "Choose an agent from the list."})
    if errors:
        raise ValidationFailed(errors)


def _where(session: Session, viewer: User, *, start: datetime, end: datetime, agent_id: int | None = None,
           queue: str | None = None, outcome: str | None = None, direction: str | None = None,
           legs: tuple[str, ...] = _LOG_LEGS) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Call.started_at >= start, Call.started_at < end]
    where.append(Call.leg.in_(legs) if len(legs) > 1 else Call.leg == legs[0])
    seen = visibility(session, viewer)
    if seen is not None:
        where.append(seen)
    if agent_id is not None:
        where.append(Call.agent_id == agent_id)
    if queue is not None:
        where.append(Call.skill_code == queue)
    if direction is not None:
        where.append(Call.leg == ("caller" if direction == "inbound" else "customer"))
    if outcome is not None:
        where.append(OUTCOME == outcome)
    return where


def call_log(session: Session, *, viewer: User, start: datetime, end: datetime, agent_id: int | None = None,
             queue: str | None = None, outcome: str | None = None, direction: str | None = None, page: int = 1,
             page_size: int = 50) -> CallPage:
    """One page of the calls `viewer` may read that started in [start, end), newest first, with
    every given filter. A filter naming an agent outside the viewer's scope is refused
    (ValidationFailed, loc "agent"), as are unknown outcomes, directions and a reversed period."""
    _check(session, viewer, start=start, end=end, agent_id=agent_id, queue=queue, outcome=outcome,
           direction=direction)
    page_size = max(1, min(page_size, 200))
    where = _where(session, viewer, start=start, end=end, agent_id=agent_id, queue=queue, outcome=outcome,
                   direction=direction)
    total = int(session.scalar(select(func.count()).select_from(Call).where(*where)) or 0)
    pages = max(1, -(-total // page_size))
    page = max(1, min(page, pages))
    found = session.execute(
        select(Call.id, Call.started_at, Call.leg, Call.skill_code, Call.agent_id, Call.enqueued_at, Call.ended_at,
               Call.bridged_at, Call.ticket_id, Call.site_id, OUTCOME.label("outcome"))
        .where(*where).order_by(Call.started_at.desc(), Call.id.desc())
        .offset((page - 1) * page_size).limit(page_size)).all()
    return CallPage(rows=_rows(session, viewer, found), total=total, page=page, page_size=page_size)


def _rows(session: Session, viewer: User, found: Sequence[Any]) -> list[CallRow]:
    """The page's calls with what lives beside them, read in a handful of indexed lookups."""
    if not found:
        return []
    ids = [r.id for r in found]
    entries = {e.call_id: e for e in session.execute(
        select(QueueEntry.id, QueueEntry.call_id, QueueEntry.ended_at).where(QueueEntry.call_id.in_(ids)))}
    answers = dict(session.execute(
        select(Offer.entry_id, func.min(Offer.resolved_at))
        .where(Offer.entry_id.in_([e.id for e in entries.values()]), Offer.state == "accepted")
        .group_by(Offer.entry_id)).all()) if entries else {}
    holds = controls.hold_totals(session, call_ids=ids)
    recordings: dict[int | None, tuple[str, int, bool, int | None]] = {}
    for rec_id, call_id, kind, stored, rec_ticket in session.execute(
            select(Recording.id, Recording.call_id, Recording.kind, Recording.media_key.is_not(None),
                   Recording.ticket_id)
            .where(Recording.call_id.in_(ids), Recording.status == "completed").order_by(Recording.id)):
        recordings.setdefault(call_id, (kind, rec_id, bool(stored), rec_ticket))
    ticket_ids = {r.ticket_id for r in found if r.ticket_id}
    numbers = ticket_service.numbers_of(session, ticket_ids=ticket_ids)
    visible = ticket_service.visible_of(session, ticket_ids=ticket_ids, user=viewer)
    names = directory.staff_names(session, {r.agent_id for r in found if r.agent_id})
    rows = []
    for r in found:
        entry = entries.get(r.id)
        answered_at = answers.get(entry.id) if entry is not None else None
        if r.leg == "customer":
            answered_at = r.bridged_at
        wait = None
        if r.enqueued_at is not None:
            left = answered_at or (entry.ended_at if entry is not None else None) or r.ended_at
            wait = _seconds(r.enqueued_at, left) if left is not None else None
        hold = holds.get(r.id)
        talk = None
        if answered_at is not None and r.ended_at is not None:
            talk = max(0, _seconds(answered_at, r.ended_at) - (hold or 0))
        recording = recordings.get(r.id)
        # The link is offered only where the one listening rule lets this viewer play it.
        may_listen = recording is not None and recording[2] and listening.may_hear(
            session, user=viewer, recorded=listening.Recorded(recording[1], agent_id=r.agent_id, site_id=r.site_id,
                                                              ticket_id=recording[3]))
        rows.append(CallRow(
            call_id=r.id, started_at=r.started_at, direction="inbound" if r.leg == "caller" else "callback",
            queue=r.skill_code, agent_id=r.agent_id, agent_name=names[r.agent_id].display_name
            if r.agent_id in names else None, outcome=r.outcome, wait_seconds=wait, talk_seconds=talk,
            hold_seconds=hold, ticket_id=r.ticket_id, ticket_number=numbers.get(r.ticket_id) if r.ticket_id else None,
            ticket_visible=r.ticket_id in visible,
            recording_kind=recording[0] if recording else None,
            recording_id=recording[1] if recording and recording[2] and may_listen else None))
    return rows


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


# Figures for the reports ----------------------------------------------------------------------

@dataclass
class _Times:
    """Answered calls' waiting and handle times, as sums, so that lines add up."""

    answered: int = 0
    within_target: int = 0
    answer_total: float = 0
    handle_total: float = 0
    handled: int = 0  # answered calls that have ended

    @property
    def average_answer_seconds(self) -> int | None:
        return round(self.answer_total / self.answered) if self.answered else None

    @property
    def average_handle_seconds(self) -> int | None:
        return round(self.handle_total / self.handled) if self.handled else None

    def add_times(self, other: _Times) -> None:
        self.answered += other.answered
        self.within_target += other.within_target
        self.answer_total += other.answer_total
        self.handle_total += other.handle_total
        self.handled += other.handled


@dataclass
class PeriodFigures(_Times):
    """Inbound calls of one day or week (local), counted as the floor counts them: offered are the
    calls that joined the queue; service level = answered within the target / (answered + abandoned)."""

    start: date = date.min
    calls: int = 0  # every inbound call, including those that ended in the menu
    offered: int = 0
    abandoned: int = 0
    left_message: int = 0  # voicemail or a callback request
    callbacks: int = 0  # callbacks dialled

    @property
    def service_level(self) -> float | None:
        counted = self.answered + self.abandoned
        return self.within_target / counted if counted else None

    @property
    def abandonment_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None

    def add(self, other: PeriodFigures) -> None:
        self.add_times(other)
        for name in ("calls", "offered", "abandoned", "left_message", "callbacks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class TeamFigures(_Times):
    """Calls the team's agents answered: how fast and how long."""

    team_id: int | None = None
    name: str = ""

    @property
    def answered_within_target(self) -> float | None:
        return self.within_target / self.answered if self.answered else None


@dataclass(frozen=True)
class Report:
    first_day: date
    last_day: date
    zone: str
    by: str  # day | week
    site_id: int | None
    target_seconds: int
    periods: list[PeriodFigures]
    total: PeriodFigures
    teams: list[TeamFigures]


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


# Seconds since 1970 of a stored time, in SQL: the figures are summed by the database, not row by
# row here (a quarter of a large center is a hundred thousand calls).
_UNIX_JULIAN_DAY = 2440587.5


def _epoch(dialect: str, column: Any) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - _UNIX_JULIAN_DAY) * 86400.0


def _whole(dialect: str, value: Any) -> Any:
    """The whole part of a non-negative number (SQLite may lack floor(); PostgreSQL's cast rounds)."""
    return func.floor(value) if dialect == "postgresql" else cast(value, Integer)


SLOT_SECONDS = 900  # every time zone's offset is a whole number of quarter hours


def period_report(session: Session, *, viewer: User, first_day: date, last_day: date, zone: str,
                  site_id: int | None, by: str = "day", target_seconds: int = SERVICE_LEVEL_SECONDS) -> Report:
    """Figures of the calls of one site (or the whole center) from `first_day` to `last_day`
    inclusive, local days in `zone`, per day or per ISO week, and per team of the answering
    agent. Counts and seconds only. `site_id` is the site asked for (None: the viewer's own, see
    `report_site`); team leaders get their own team's line, other readers every team's. The
    database sums per quarter hour and per agent; the quarter hours are put in local days here,
    so days stay right across a daylight-saving change on any database."""
    errors: list[dict[str, Any]] = []
    if by not in ("day", "week"):
        errors.append({"loc": ["by"], "msg": "Group by day or week."})
    if last_day < first_day:
        errors.append({"loc": ["to"], "msg": "The period ends before it starts."})
    elif (last_day - first_day).days >= MAX_DAYS:
        errors.append({"loc": ["to"], "msg": "Choose a period of at most %(days)s days.", "params": {"days": MAX_DAYS}})
    if errors:
        raise ValidationFailed(errors)
    site_id = report_site(viewer, site_id)
    tz = ZoneInfo(zone)
    start, end = _local_midnight(first_day, tz), _local_midnight(last_day + timedelta(days=1), tz)

    def bucket_of(day: date) -> date:
        return day - timedelta(days=day.weekday()) if by == "week" else day

    periods: dict[date, PeriodFigures] = {}
    day = first_day
    while day <= last_day:
        periods.setdefault(bucket_of(day), PeriodFigures(start=bucket_of(day)))
        day += timedelta(days=1)
    ordered = [periods[k] for k in sorted(periods)]
    edges = [_local_midnight(p.start, tz).astimezone(UTC) for p in ordered]  # a slot's bucket by bisection

    dialect = session.get_bind().dialect.name
    first_answer = (select(Offer.entry_id, func.min(Offer.resolved_at).label("answered_at"))
                    .where(Offer.state == "accepted", Offer.offered_at >= start)
                    .group_by(Offer.entry_id).subquery())
    answered_at = first_answer.c.answered_at
    caller, queued = Call.leg == "caller", and_(Call.leg == "caller", Call.enqueued_at.is_not(None))
    answered = and_(queued, answered_at.is_not(None))
    ended = and_(answered, Call.ended_at.is_not(None))
    wait = func.round(_epoch(dialect, answered_at) - _epoch(dialect, Call.enqueued_at))
    handle = func.round(_epoch(dialect, Call.ended_at) - _epoch(dialect, answered_at))

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def total(condition: Any, value: Any) -> Any:
        return func.coalesce(func.sum(case((condition, value), else_=None)), 0)

    times = (count(answered).label("answered"), count(and_(answered, wait <= target_seconds)).label("within"),
             total(answered, wait).label("answer_total"), total(ended, handle).label("handle_total"),
             count(ended).label("handled"))
    slot = _whole(dialect, (_epoch(dialect, Call.started_at) - start.timestamp()) / SLOT_SECONDS).label("slot")
    base = (select().select_from(Call)
            .outerjoin(QueueEntry, QueueEntry.call_id == Call.id)
            .outerjoin(first_answer, first_answer.c.entry_id == QueueEntry.id)
            .where(Call.started_at >= start, Call.started_at < end, Call.leg.in_(_LOG_LEGS)))
    if site_id is not None:
        base = base.where(Call.site_id == site_id)
    by_slot = base.add_columns(
        slot, count(caller).label("calls"), count(Call.leg == "customer").label("callbacks"),
        count(queued).label("offered"),
        count(and_(queued, answered_at.is_(None), QueueEntry.state == "abandoned")).label("abandoned"),
        count(and_(queued, answered_at.is_(None), QueueEntry.state.in_(("voicemail", "callback")))).label("left"),
        *times).group_by(slot)
    for row in session.execute(by_slot):
        at = start.astimezone(UTC) + timedelta(seconds=int(row.slot) * SLOT_SECONDS)
        figures = ordered[max(0, bisect_right(edges, at) - 1)]
        figures.add(PeriodFigures(
            calls=int(row.calls), callbacks=int(row.callbacks), offered=int(row.offered),
            abandoned=int(row.abandoned), left_message=int(row.left), **_times_of(row)))
    team_of = {u.id: u.team_id for u in directory.list_users(session, site_id=None, active_only=False)}
    teams: dict[int | None, TeamFigures] = {}
    for row in session.execute(base.add_columns(Call.agent_id, *times).where(answered).group_by(Call.agent_id)):
        team_id = team_of.get(row.agent_id) if row.agent_id is not None else None
        teams.setdefault(team_id, TeamFigures(team_id=team_id)).add_times(_Times(**_times_of(row)))
    total_figures = PeriodFigures(start=first_day)
    for figures in ordered:
        total_figures.add(figures)
    return Report(first_day=first_day, last_day=last_day, zone=zone, by=by, site_id=site_id,
                  target_seconds=target_seconds, periods=ordered, total=total_figures,
                  teams=_named_teams(session, viewer, teams, site_id))


def _times_of(row: Any) -> dict[str, Any]:
    return {"answered": int(row.answered), "within_target": int(row.within), "answer_total": float(row.answer_total),
            "handle_total": float(row.handle_total), "handled": int(row.handled)}


def _named_teams(session: Session, viewer: User, teams: dict[int | None, TeamFigures],
                 site_id: int | None) -> list[TeamFigures]:
    """Every team of the site (a line of zeros for a team that answered nothing), then one line
    for calls answered by people of no team here; a team leader reads only their own team."""
    names = {t.id: t.name for t in organisation.list_teams(session)}

    def named(team_id: int | None) -> TeamFigures:
        figures = teams.get(team_id) or TeamFigures(team_id=team_id)
        figures.name = names.get(team_id, "") if team_id is not None else ""
        return figures

    if viewer.role == Role.team_leader.value:
        return [named(viewer.team_id)] if viewer.team_id is not None else []
    here = [t.id for t in organisation.list_teams(session, site_id=site_id)] if site_id is not None else list(names)
    lines = [named(team_id) for team_id in here]
    others = [t for key, t in teams.items() if key not in set(here)]
    if others:
        merged = TeamFigures()
        for t in others:
            merged.add_times(t)
        lines.append(merged)
    return lines


def report_site(viewer: User, requested: int | None) -> int | None:
    """The site whose figures `viewer` reads: their own (None, the whole center, for managers of
    no site); the center head and admin choose any site, or the whole center."""
    if viewer.role in (Role.center_head.value, Role.admin.value) or viewer.site_id is None:
        return requested
    if requested is not None and requested != viewer.site_id:
        raise PermissionDenied("You can read the figures of your own site only.")
    return viewer.site_id
