"""The complaint flow: the team leader told at once, the reply due within the complaint response
time (and a phone follow-up for key customers), the satisfaction follow-up after resolution, and
the monthly complaint analysis."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.config import get_settings
from core.errors import ValidationFailed
from core.models import User
from core.organisation import site_timezone
from tickets import access, activity, sla, timeline
from tickets.escalation import escalate, level_users, notify
from tickets.models.tickets import Ticket, TicketEvent
from tickets.versioning import changing
from tickets.workflow import KEY_TIERS, Category, Level

__all__ = ["REPLY_CHANNELS", "check_deadlines", "complaint_analysis", "complaints_due", "on_opened", "on_resolved",
           "overdue_for_sweep", "record_phone_followup", "record_reply", "set_deadlines"]

# The hub's own reason for escalating an unanswered complaint (a msgid, translated in the timeline).
REPLY_OVERDUE_REASON = "The complaint reply deadline passed."
REPLY_CHANNELS = ("phone", "sms", "email", "letter", "in_person")


def set_deadlines(session: Session, ticket: Ticket) -> None:
    """The reply deadline (wall clock, complaint response time) and, for key customers, the phone
    follow-up deadline, counted from the opening."""
    start = ticket.created_at or clock.now()
    ticket.reply_due_at = start + timedelta(minutes=sla.get_setting(session, "complaint_response_minutes"))
    if ticket.tier in KEY_TIERS:
        minutes = sla.get_setting(session, "key_customer_followup_minutes")
        ticket.phone_followup_due_at = start + timedelta(minutes=minutes)


def on_opened(session: Session, ticket: Ticket, *, by: User | None = None) -> None:
    """A ticket became a complaint: its deadlines are set and the team leaders are told now."""
    if ticket.reply_due_at is None:
        set_deadlines(session, ticket)
    assert ticket.reply_due_at is not None
    timeline.record(session, ticket, kind="complaint_registered", actor=by, field="reply_due_at",
                    to_value=ticket.reply_due_at.isoformat())
    notify(session, users=level_users(session, ticket=ticket, level=Level.team_leader), kind="complaint_opened",
           ticket=ticket)
    timeline.announce(session, "ticket.complaint_opened", ticket, reply_due_at=ticket.reply_due_at.isoformat(),
                      phone_followup_due_at=ticket.phone_followup_due_at.isoformat()
                      if ticket.phone_followup_due_at else None)


def record_reply(session: Session, *, ticket_id: int, by: User, channel: str = "phone",
                 version: int | None = None) -> Ticket:
    """The customer has had the hotline's reply to their complaint (the first one counts)."""
    access.require_worker(by)
    ticket = access.get_visible(session, ticket_id=ticket_id, user=by)
    if ticket.category != Category.complaint.value:
        raise ValidationFailed("This ticket is not a complaint.", field="category", params={"number": ticket.number})
    if channel not in REPLY_CHANNELS:
        raise ValidationFailed("Choose how the customer was answered.", field="channel",
                               params={"known": list(REPLY_CHANNELS)})
    now = clock.now()
    with changing(session, ticket, version):
        if ticket.replied_at is None:
            ticket.replied_at = now
            late = ticket.reply_due_at is not None and now > ticket.reply_due_at
            timeline.record(session, ticket, kind="complaint_replied", actor=by, field="channel", to_value=channel,
                            from_value="late" if late else "on_time")
            if ticket.customer_id is not None:
                activity.add(session, customer_id=ticket.customer_id, kind="outreach", at=now, amount_cents=0,
                             ref=f"reply:{ticket.id}")
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            timeline.record(session, ticket, kind="first_response", actor=by)
            sla.refresh(session, ticket, now=now)
    return ticket


def record_phone_followup(session: Session, *, ticket_id: int, by: User, version: int | None = None) -> Ticket:
    """The key customer's phone follow-up was made (seed: within 24 hours). Once; a contact."""
    access.require_worker(by)
    ticket = access.get_visible(session, ticket_id=ticket_id, user=by)
    if ticket.phone_followup_due_at is None:
        raise ValidationFailed("This ticket has no phone follow-up due.", field="phone_followup",
                               params={"number": ticket.number})
    now = clock.now()
    with changing(session, ticket, version):
        if ticket.phone_followup_done_at is None:
            ticket.phone_followup_done_at = now
            late = now > ticket.phone_followup_due_at
            timeline.record(session, ticket, kind="phone_followup_done", actor=by, field="phone_followup_done_at",
                            from_value="late" if late else "on_time", to_value=now.isoformat())
            if ticket.customer_id is not None:
                activity.add(session, customer_id=ticket.customer_id, kind="outreach", at=now, amount_cents=0,
                             ref=f"phone-followup:{ticket.id}")
    return ticket


# Deadlines that act -------------------------------------------------------------------------

def _open(query: Any) -> Any:
    return query.where(Ticket.category == Category.complaint.value, Ticket.status.not_in(("resolved", "closed")))


def overdue_for_sweep(session: Session, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Complaints whose reply or key-customer phone follow-up is past due and not yet acted on."""
    now = now or clock.now()
    reply = _open(select(Ticket.id).where(Ticket.replied_at.is_(None), Ticket.reply_due_at <= now,
                                          Ticket.reply_overdue_at.is_(None)))
    phone = _open(select(Ticket.id).where(Ticket.phone_followup_done_at.is_(None),
                                          Ticket.phone_followup_due_at <= now,
                                          Ticket.phone_followup_overdue_at.is_(None)))
    return sorted(set(session.scalars(reply.limit(limit))) | set(session.scalars(phone.limit(limit))))[:limit]


def check_deadlines(session: Session, *, ticket_id: int, now: datetime | None = None) -> list[str]:
    """Act once on each missed complaint deadline of one ticket: a reply past due escalates one
    level (the center head is told at the top); a key customer's phone follow-up past due
    alerts the assignee and the team leaders. Returns what was done."""
    now = now or clock.now()
    ticket = session.get(Ticket, ticket_id)
    done: list[str] = []
    if ticket is None or ticket.category != Category.complaint.value or ticket.status in ("resolved", "closed"):
        return done
    with changing(session, ticket):
        if (ticket.replied_at is None and ticket.reply_due_at is not None and now >= ticket.reply_due_at
                and ticket.reply_overdue_at is None):
            ticket.reply_overdue_at = now
            timeline.record(session, ticket, kind="complaint_reply_overdue", field="reply_due_at",
                            to_value=ticket.reply_due_at.isoformat())
            # Another deadline that passed at the same time (the SLA sweep) may have raised it
            # already: the one lapse moves it one level, and this level is told.
            raised = session.scalar(select(TicketEvent.id).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "escalated",
                TicketEvent.at >= ticket.reply_due_at).limit(1)) is not None
            if ticket.escalation_level < Level.center_head and not raised:
                escalate(session, ticket_id=ticket.id, by=None, reason=REPLY_OVERDUE_REASON,
                         notify_kind="complaint_reply_overdue")
            else:
                level = Level(ticket.escalation_level)
                notify(session, users=level_users(session, ticket=ticket, level=level),
                       kind="complaint_reply_overdue", ticket=ticket)
            done.append("reply_overdue")
        if (ticket.phone_followup_done_at is None and ticket.phone_followup_due_at is not None
                and now >= ticket.phone_followup_due_at and ticket.phone_followup_overdue_at is None):
            ticket.phone_followup_overdue_at = now
            timeline.record(session, ticket, kind="phone_followup_overdue", field="phone_followup_due_at",
                            to_value=ticket.phone_followup_due_at.isoformat())
            assignee = access.staff_member(session, ticket.assignee_id) if ticket.assignee_id is not None else None
            users = [*([assignee] if assignee is not None else []),
                     *level_users(session, ticket=ticket, level=Level.team_leader)]
            notify(session, users=users, kind="phone_followup_overdue", ticket=ticket)
            done.append("phone_followup_overdue")
    for what in done:
        timeline.announce(session, f"ticket.complaint_{what}", ticket)
    return done


def complaints_due(session: Session, *, viewer: User, limit: int = 20) -> list[Ticket]:
    """Open complaints `viewer` may see whose reply is still owed, the soonest due first (the
    floor's "complaints due" list)."""
    query = select(Ticket).where(Ticket.category == Category.complaint.value, Ticket.replied_at.is_(None),
                                 Ticket.reply_due_at.is_not(None),
                                 Ticket.status.not_in(("resolved", "closed")))
    seen = access.visibility(viewer)
    if seen is not None:
        query = query.where(seen)
    return list(session.scalars(query.order_by(Ticket.reply_due_at, Ticket.id).limit(max(1, min(limit, 200)))))


def on_resolved(session: Session, ticket: Ticket, *, by: User | None = None) -> None:
    """A complaint was resolved: the satisfaction follow-up call is due. It is kept on the ticket,
    and handed to the care reminders (`tickets.care`) when the customer is known."""
    resolved = ticket.resolved_at or clock.now()
    due = resolved + timedelta(minutes=sla.get_setting(session, "satisfaction_followup_minutes"))
    ticket.satisfaction_followup_due_at = due
    timeline.record(session, ticket, kind="satisfaction_followup_due", actor=by, field="satisfaction_followup_due_at",
                    to_value=due.isoformat())
    schedule = _care_scheduler()
    if schedule is not None and ticket.customer_id is not None:
        schedule(session, ticket_id=ticket.id, customer_id=ticket.customer_id, due_at=due)


def _care_scheduler() -> Any:
    try:
        from tickets import care
    except ModuleNotFoundError as exc:
        if exc.name != "tickets.care":
            raise
        return None
    return getattr(care, "schedule_satisfaction_followup", None)


# Monthly analysis ---------------------------------------------------------------------------

def month_bounds(month: str | date, zone: ZoneInfo) -> tuple[date, datetime, datetime]:
    if isinstance(month, str):
        try:
            first = datetime.strptime(month.strip(), "%Y-%m").date()
        except ValueError:
            raise ValidationFailed("Give the month like 2026-01.", field="month", params={"month": month}) from None
    else:
        first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(following, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    return first, start, end


def _customer_count(session: Session, site_id: int | None) -> int:
    from tickets.models.customers import Customer

    query = select(func.count()).select_from(Customer).where(Customer.erased_at.is_(None))
    if site_id is not None:
        query = query.where(Customer.site_id == site_id)
    return int(session.scalar(query) or 0)


def complaint_analysis(session: Session, *, site_id: int | None, month: str | date) -> dict[str, Any]:
    """Figures for one calendar month (in the site's time zone): tickets by category, complaints by
    cause, priority, status and escalation, reply punctuality, resolution times, and the complaint
    rate (complaints / customers). Counts and minutes only, never personal data."""
    zone = ZoneInfo(site_timezone(session, site_id) if site_id is not None else get_settings().timezone)
    first, start, end = month_bounds(month, zone)
    scope = [Ticket.created_at >= start, Ticket.created_at < end]
    if site_id is not None:
        scope.append(Ticket.site_id == site_id)

    def grouped(column: Any, *where: Any) -> dict[str, int]:
        rows = session.execute(select(column, func.count()).where(*scope, *where).group_by(column)).all()
        return {str(key) if key is not None else "unspecified": int(count) for key, count in rows}

    is_complaint = Ticket.category == Category.complaint.value
    by_category = {c.value: 0 for c in Category} | grouped(Ticket.category)
    complaints = by_category[Category.complaint.value]
    rows = session.execute(
        select(Ticket.created_at, Ticket.resolved_at, Ticket.reply_due_at, Ticket.replied_at,
               Ticket.escalation_level, Ticket.sla_state).where(*scope, is_complaint)
    ).all()
    minutes = sorted(int((r.resolved_at - r.created_at).total_seconds() // 60) for r in rows if r.resolved_at)
    buckets = {"within_24h": 0, "within_72h": 0, "over_72h": 0, "unresolved": 0}
    for row in rows:
        if row.resolved_at is None:
            buckets["unresolved"] += 1
        else:
            hours = (row.resolved_at - row.created_at).total_seconds() / 3600
            buckets["within_24h" if hours <= 24 else "within_72h" if hours <= 72 else "over_72h"] += 1
    replies = {"on_time": 0, "late": 0, "pending": 0}
    for row in rows:
        if row.replied_at is None:
            replies["pending"] += 1
        else:
            replies["on_time" if row.reply_due_at is None or row.replied_at <= row.reply_due_at else "late"] += 1
    customers = _customer_count(session, site_id)
    return {
        "site_id": site_id,
        "month": first.strftime("%Y-%m"),
        "tickets": sum(by_category.values()),
        "by_category": by_category,
        "complaints": complaints,
        "by_cause": grouped(Ticket.complaint_cause, is_complaint),
        "by_priority": grouped(Ticket.priority, is_complaint),
        "by_status": grouped(Ticket.status, is_complaint),
        "escalated": sum(1 for r in rows if r.escalation_level > 0),
        "sla_breached": sum(1 for r in rows if r.sla_state == "breached"),
        "replies": replies,
        "resolution": {
            "resolved": len(minutes),
            "average_minutes": round(statistics.fmean(minutes)) if minutes else None,
            "median_minutes": round(statistics.median(minutes)) if minutes else None,
            **buckets,
        },
        "customers": customers,
        "complaint_rate": round(complaints / customers, 6) if customers else None,
    }
