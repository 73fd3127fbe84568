"""Handovers: written by the outgoing lead, every part either written or explicitly "nothing to
report" (open escalations, what falls due in the next shift and the staffing changes from leave,
swaps and roll call are listed automatically), accepted or returned with questions by the
incoming lead, and locked once accepted: later notes are appended and marked, never edited in."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, clock, directory
from core.errors import NotFound, ValidationFailed
from core.events import publish
from core.models import Role, User
from scheduling import access, dutylog, handover_sources, rollcall
from scheduling import staffing as staffing_source
from scheduling.errors import HandoverIncomplete, HandoverLocked, NotYourTurn
from scheduling.models import DutyLog, Handover, HandoverAddition, Shift
from scheduling.rules import violation
from scheduling.settings import policy
from scheduling.texts import check_length
from tickets import escalation

# The parts the handover meeting covers; each is written or explicitly "nothing to report".
FIELDS = ("equipment_status", "difficult_issues", "unresolved_issues", "staffing_changes", "notices",
          "superiors_instructions", "customer_feedback")


def get(session: Session, *, handover_id: int) -> Handover:
    handover = session.get(Handover, handover_id)
    if handover is None:
        raise NotFound("No such handover.")
    return handover


def for_duty_log(session: Session, *, duty_log_id: int) -> Handover | None:
    """The handover of a duty log's shift, if one was started."""
    return session.scalar(select(Handover).where(Handover.duty_log_id == duty_log_id))


def waiting_for(session: Session, *, viewer: User) -> list[Handover]:
    """Submitted handovers at the viewer's site that the viewer, as an incoming lead, may answer
    (everyone's but their own), oldest first."""
    return list(session.scalars(select(Handover).where(Handover.site_id == viewer.site_id,
                                                       Handover.status == "submitted",
                                                       Handover.outgoing_leader_id != viewer.id)
                                .order_by(Handover.submitted_at)))


def additions(session: Session, *, handover_id: int) -> list[HandoverAddition]:
    return list(session.scalars(select(HandoverAddition).where(HandoverAddition.handover_id == handover_id)
                                .order_by(HandoverAddition.at, HandoverAddition.id)))


def write(session: Session, *, duty_log_id: int, by: User, nothing_to_report: list[str] | None = None,
          **fields: str) -> Handover:
    """Create or edit the draft (or a returned handover) of a duty log's shift. `nothing_to_report`
    names the parts the lead chose to leave empty (given, it replaces the earlier choice)."""
    log = dutylog.get(session, log_id=duty_log_id)
    access.require_role(by, Role.team_leader, "write handovers")
    access.require_site(by, log.site_id, "write handovers")
    unknown = (set(fields) | set(nothing_to_report or ())) - set(FIELDS)
    if unknown:
        raise ValidationFailed("Some fields are not part of the handover.",
                               field="nothing_to_report" if set(nothing_to_report or ()) & unknown else None,
                               params={"unknown": sorted(unknown)})
    for name, value in fields.items():
        check_length(name, str(value))
    handover = session.scalar(select(Handover).where(Handover.duty_log_id == log.id))
    if handover is None:
        start, end = dutylog.window(session, log)
        handover = Handover(duty_log_id=log.id, site_id=log.site_id, outgoing_leader_id=by.id, next_start=end,
                            next_end=end + (end - start))
        session.add(handover)
    elif handover.status in ("accepted", "submitted"):
        raise HandoverLocked("The handover is accepted; append an addition instead." if handover.status == "accepted"
                             else "The handover is submitted; wait for the incoming lead's answer.")
    for name, value in fields.items():
        setattr(handover, name, str(value))
    if nothing_to_report is not None:
        handover.nothing_to_report = [name for name in FIELDS if name in nothing_to_report]
    session.flush()
    return handover


def _window(session: Session, handover: Handover) -> tuple[datetime, datetime]:
    """From the start of the outgoing shift to the end of the next one."""
    start, _end = dutylog.window(session, dutylog.get(session, log_id=handover.duty_log_id))
    return start, handover.next_end


def staffing(session: Session, *, duty_log_id: int) -> list[dict[str, object]]:
    """The staffing changes of a duty log's shift and the next: approved leave, registered swaps
    and the roll call of the shifts begun so far (checked again now)."""
    log = dutylog.get(session, log_id=duty_log_id)
    start, end = dutylog.window(session, log)
    next_end = end + (end - start)
    now = clock.now()
    for shift in session.scalars(select(Shift).where(Shift.site_id == log.site_id, Shift.start_at >= start,
                                                     Shift.start_at < min(now, next_end))):
        rollcall.check_shift(session, shift=shift)
    return staffing_source.changes(session, site_id=log.site_id, team_id=log.team_id, start=start, end=next_end,
                                   now=now)


def missing(handover: Handover, filled_in: list[dict[str, object]]) -> list[str]:
    """The parts neither written nor marked "nothing to report" (staffing counts as written when
    the hub filled some in)."""
    chosen = set(handover.nothing_to_report or ())
    return [name for name in FIELDS if not (getattr(handover, name) or "").strip() and name not in chosen
            and not (name == "staffing_changes" and filled_in)]


def listed(session: Session, *, handover: Handover, viewer: User) -> dict[str, list[dict[str, object]]]:
    return {
        "open_escalations": handover_sources.open_escalations(session, site_id=handover.site_id, viewer=viewer),
        "complaints_due": handover_sources.complaints_due(session, site_id=handover.site_id, viewer=viewer,
                                                          until=handover.next_end),
        "tickets_due": handover_sources.tickets_due(session, site_id=handover.site_id, viewer=viewer,
                                                    until=handover.next_end),
    }


def submit(session: Session, *, handover_id: int, by: User) -> Handover:
    handover = get(session, handover_id=handover_id)
    if by.id != handover.outgoing_leader_id:
        raise NotYourTurn("Only the outgoing lead submits the handover.")
    if handover.status not in ("draft", "returned"):
        raise HandoverLocked()
    filled_in = staffing(session, duty_log_id=handover.duty_log_id)
    empty = missing(handover, filled_in)
    if empty:
        raise HandoverIncomplete([violation(f"handover.missing.{name}") for name in empty])
    handover.listed = {**listed(session, handover=handover, viewer=by), "staffing": filled_in}
    handover.status, handover.submitted_at = "submitted", clock.now()
    session.flush()
    publish(session, "handover.submitted", {"handover_id": handover.id}, site_id=handover.site_id)
    return handover


def remind_unaccepted(session: Session) -> int:
    """The sweep's work: the handover of a shift that changed `handover_accept_minutes` ago (or
    up to a day before) and is still not accepted (or not even written) is reminded to the
    outgoing lead, the site's other team leaders (the incoming lead among them) and its
    supervisors, once. A lead's rostered shift whose duty log nobody opened is reminded too (its
    log is opened for that lead). Returns how many shifts were reminded for the first time."""
    now = clock.now()
    minutes = policy(session).handover_accept_minutes
    _open_unlogged(session, now=now, minutes=minutes)
    reminded = 0
    for log in session.scalars(select(DutyLog).where(DutyLog.closed_at.is_(None),
                                                     DutyLog.day >= (now - timedelta(days=2)).date())
                               .order_by(DutyLog.id)):
        _start, change = dutylog.window(session, log)
        if not change + timedelta(minutes=minutes) <= now < change + timedelta(days=1):
            continue
        found = for_duty_log(session, duty_log_id=log.id)
        if found is not None and found.status == "accepted":
            continue
        leaders = directory.list_users(session, site_id=log.site_id, role=Role.team_leader)
        supervisors = directory.list_users(session, site_id=log.site_id, role=Role.supervisor)
        made = escalation.remind(session, user_ids=[log.leader_id, *(u.id for u in leaders + supervisors)],
                                 kind="handover.not_accepted", key=f"handover.not_accepted:{log.id}",
                                 params={"duty_log_id": log.id, "handover_id": found.id if found else None,
                                         "day": log.day.isoformat(), "shift_kind": log.shift_kind, "minutes": minutes,
                                         "changed_at": change.isoformat()})
        reminded += 1 if made else 0
    return reminded


def _open_unlogged(session: Session, *, now: datetime, minutes: int) -> int:
    """A team leader's rostered shift that changed `handover_accept_minutes` ago (up to a day
    before) with no duty log of its site, day and kind (nobody opened the duty page) gets its log
    now, kept by that lead, so that its handover is reminded like any other. Returns how many."""
    leaders = {u.id: u for u in directory.list_users(session, role=Role.team_leader)}
    if not leaders:
        return 0
    opened = 0
    for shift in session.scalars(select(Shift).where(
            Shift.user_id.in_(leaders), Shift.end_at <= now - timedelta(minutes=minutes),
            Shift.end_at > now - timedelta(days=1)).order_by(Shift.end_at, Shift.id)):
        logged = session.scalar(select(DutyLog.id).where(DutyLog.site_id == shift.site_id, DutyLog.day == shift.day,
                                                         DutyLog.shift_kind == shift.kind).limit(1))
        lead = leaders[shift.user_id]
        if logged is None and lead.site_id == shift.site_id:
            dutylog.open_log(session, site_id=shift.site_id, day=shift.day, shift_kind=shift.kind, by=lead)
            opened += 1
    return opened


def _incoming(session: Session, handover: Handover, by: User) -> None:
    access.require_role(by, Role.team_leader, "take over a shift")
    access.require_site(by, handover.site_id, "take over a shift")
    if by.id == handover.outgoing_leader_id:
        raise NotYourTurn("The incoming lead, not the outgoing one, answers a handover.")
    if handover.status != "submitted":
        raise HandoverLocked("Only a submitted handover can be accepted or returned.")


def accept(session: Session, *, handover_id: int, by: User) -> Handover:
    """Accepting locks the handover and closes the outgoing shift."""
    handover = get(session, handover_id=handover_id)
    _incoming(session, handover, by)
    now = clock.now()
    handover.status, handover.accepted_at, handover.incoming_leader_id = "accepted", now, by.id
    session.flush()
    dutylog.close(session, log_id=handover.duty_log_id, by=by)
    escalation.settle(session, key_prefix=f"handover.not_accepted:{handover.duty_log_id}:")
    audit.record(session, action="handover.accepted", actor_id=by.id, object_type="handover", object_id=handover.id,
                 details={"outgoing_leader_id": handover.outgoing_leader_id})
    publish(session, "handover.accepted", {"handover_id": handover.id}, site_id=handover.site_id)
    return handover


def return_with_questions(session: Session, *, handover_id: int, by: User, questions: str) -> Handover:
    handover = get(session, handover_id=handover_id)
    _incoming(session, handover, by)
    if not questions.strip():
        raise ValidationFailed("Say what needs answering before you can accept.", field="questions")
    check_length("questions", questions.strip())
    handover.status, handover.returned_at = "returned", clock.now()
    handover.questions = ((handover.questions or "") + "\n" + questions.strip()).strip()
    handover.incoming_leader_id = by.id
    session.flush()
    publish(session, "handover.returned", {"handover_id": handover.id}, user_id=handover.outgoing_leader_id)
    return handover


def append(session: Session, *, handover_id: int, by: User, text: str) -> HandoverAddition:
    """After acceptance, either lead (or a leader above them) can add; nothing is edited."""
    handover = get(session, handover_id=handover_id)
    access.require_role(by, Role.team_leader, "add to handovers")
    access.require_site(by, handover.site_id, "add to handovers")
    if handover.status != "accepted":
        raise HandoverLocked("Until it is accepted, edit the handover itself.")
    if not text.strip():
        raise ValidationFailed("An addition needs a text.", field="text")
    check_length("text", text.strip())
    addition = HandoverAddition(handover_id=handover.id, author_id=by.id, at=clock.now(), text=text.strip())
    session.add(addition)
    session.flush()
    return addition
