"""Care: birthday and holiday greetings and tier notices queued as SMS for telephony's gateway,
satisfaction follow-ups after complaints, and the list of customers who have gone quiet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock, organisation
from core.audit import record
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from tickets import access, activity, escalation, sla
from tickets.models.customers import (
    CareFollowUp,
    CareRun,
    Customer,
    CustomerActivity,
    CustomerPhone,
    GreetingDay,
    OutboundMessage,
)
from tickets.models.tickets import Ticket
from tickets.workflow import KEY_TIERS

GREETING_HOUR = 9  # local time at the customer's site: nobody gets a greeting at midnight
MAX_ATTEMPTS = 3
CLAIM_TIMEOUT = timedelta(minutes=15)
TIER_NAMES_ZH = {"normal": "普通", "silver": "银卡", "gold": "金卡", "platinum": "白金", "diamond": "钻石"}
# Bodies carry no personal data: the same text for everyone of a kind (and tier).
TEMPLATES = {
    "birthday": "【客服热线】祝您生日快乐！Happy birthday from your service hotline.",
    "tier_upgrade": "【客服热线】恭喜您升级为{tier_zh}会员。Your membership is now {tier}.",
    "tier_downgrade": "【客服热线】您的会员等级已调整为{tier_zh}。Your membership is now {tier}.",
}


@dataclass(frozen=True)
class QueuedMessage:
    """One SMS for telephony to send: the number is the customer's primary phone, in E.164."""

    message_id: int
    customer_id: int
    kind: str
    to: str
    body: str


# The outbound queue -----------------------------------------------------------------------


def queue_message(session: Session, *, customer_id: int, kind: str, params: dict[str, str] | None = None,
                  body: str | None = None, dedupe_key: str | None = None) -> OutboundMessage | None:
    """Queue an SMS (from TEMPLATES[kind] with `params`, or `body`). Returns None when the
    customer is erased or has no phone, or when `dedupe_key` was queued before."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.is_erased or customer.primary_phone is None:
        return None
    if dedupe_key is not None and session.scalar(
            select(OutboundMessage.id).where(OutboundMessage.dedupe_key == dedupe_key)) is not None:
        return None
    if body is None:
        values = dict(params or {})
        if "tier" in values:
            values.setdefault("tier_zh", TIER_NAMES_ZH.get(values["tier"], values["tier"]))
        body = TEMPLATES[kind].format(**values)
    message = OutboundMessage(customer_id=customer_id, kind=kind, template=kind, body=body, status="queued",
                              dedupe_key=dedupe_key, created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return None  # the same dedupe key was queued concurrently
    return message


def queue_tier_notice(session: Session, *, customer: Customer, upgrade: bool, tier: str,
                      dedupe_key: str) -> OutboundMessage | None:
    """Tell the customer of a real tier change, only if they agreed to care SMS."""
    if "care_sms" not in (customer.consent_purposes or []):
        return None
    return queue_message(session, customer_id=customer.id, kind="tier_upgrade" if upgrade else "tier_downgrade",
                         params={"tier": tier}, dedupe_key=dedupe_key)


def next_queued_messages(session: Session, *, limit: int = 50) -> list[QueuedMessage]:
    """Claim up to `limit` messages for sending (oldest first; ones claimed but not reported for
    15 minutes are offered again, at most 3 attempts). Commit, send each, then report with
    `mark_message_sent` or `mark_message_failed`. Concurrent callers never get the same row on
    PostgreSQL (SKIP LOCKED); on SQLite start the session with `core.db.write_locked`."""
    now = clock.now()
    query = (select(OutboundMessage)
             .where(or_(OutboundMessage.status == "queued",
                        and_(OutboundMessage.status == "sending", OutboundMessage.claimed_at < now - CLAIM_TIMEOUT)))
             .order_by(OutboundMessage.created_at, OutboundMessage.id).limit(max(1, limit)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[QueuedMessage] = []
    for message in session.scalars(query):
        customer = session.get(Customer, message.customer_id)
        phone = customer.primary_phone if customer is not None and not customer.is_erased else None
        if phone is None or message.body is None:
            message.status, message.error = "cancelled", "no phone number"
            continue
        if message.attempts >= MAX_ATTEMPTS:
            message.status, message.error = "failed", "not reported after several attempts"
            continue
        message.status, message.claimed_at, message.attempts = "sending", now, message.attempts + 1
        claimed.append(QueuedMessage(message.id, message.customer_id, message.kind, phone.number, message.body))
    session.flush()
    return claimed


def _message(session: Session, message_id: int) -> OutboundMessage:
    message = session.get(OutboundMessage, message_id)
    if message is None:
        raise NotFound("No such outbound message.")
    return message


def mark_message_sent(session: Session, *, message_id: int, provider_ref: str | None = None) -> OutboundMessage:
    """The gateway accepted the message (idempotent)."""
    message = _message(session, message_id)
    if message.status != "sent":
        message.status, message.sent_at, message.provider_ref, message.error = "sent", clock.now(), provider_ref, None
        session.flush()
        activity.add(session, customer_id=message.customer_id, kind="outreach", at=None, amount_cents=0,
                     ref=f"sms:{message.id}")
    return message


def mark_message_failed(session: Session, *, message_id: int, error: str, retry: bool = False) -> OutboundMessage:
    """The gateway refused it. `error` is a short code or reason, never the number or the body.
    With `retry` it is queued again while attempts remain."""
    message = _message(session, message_id)
    if message.status == "sent":
        return message
    again = retry and message.attempts < MAX_ATTEMPTS
    message.status, message.error = ("queued" if again else "failed"), error[:200]
    session.flush()
    return message


# Greetings --------------------------------------------------------------------------------


def add_greeting_day(session: Session, *, on_date: date, name: str, body: str, by: User | None) -> GreetingDay:
    """An administrator adds a holiday; consenting customers get `body` (no names in it) on its
    eve (seed 000), at the greeting hour of their site."""
    if by is not None and by.role != Role.admin.value:
        raise PermissionDenied("Only an administrator can add greeting days.")
    problems: list[dict[str, object]] = []
    if not name.strip() or len(name.strip()) > 100:
        problems.append({"loc": ["name"], "msg": "Name the holiday, up to 100 characters."})
    if not body.strip() or len(body.strip()) > 300:
        problems.append({"loc": ["body"], "msg": "Write the greeting, up to 300 characters."})
    if on_date <= clock.now().date():
        problems.append({"loc": ["on_date"], "msg": "Choose a day after today: the greeting goes out on its eve."})
    if problems:
        raise ValidationFailed(problems)
    if session.scalar(select(GreetingDay.id).where(GreetingDay.on_date == on_date)) is not None:
        raise GreetingDayTaken("That day has a greeting already; remove it first.", field="on_date")
    day = GreetingDay(on_date=on_date, name=name.strip(), body=body.strip())
    session.add(day)
    session.flush()
    record(session, action="care.greeting_day_added", actor_id=by.id if by else None,
           actor_name=by.username if by else "system", object_type="greeting_day", object_id=day.id,
           details={"on_date": on_date.isoformat()})
    return day


class GreetingDayTaken(Conflict):
    """That day has a greeting already."""

    code = "greeting_day_taken"


def list_greeting_days(session: Session, *, since: date | None = None) -> list[GreetingDay]:
    query = select(GreetingDay).order_by(GreetingDay.on_date)
    if since is not None:
        query = query.where(GreetingDay.on_date >= since)
    return list(session.scalars(query))


def remove_greeting_day(session: Session, *, greeting_day_id: int, by: User) -> None:
    """Take a holiday off the list (a greeting already queued for it still goes)."""
    if by.role != Role.admin.value:
        raise PermissionDenied("Only an administrator can remove greeting days.")
    day = session.get(GreetingDay, greeting_day_id)
    if day is None:
        raise NotFound("No such greeting day.")
    session.delete(day)
    session.flush()
    record(session, action="care.greeting_day_removed", actor_id=by.id, actor_name=by.username,
           object_type="greeting_day", object_id=greeting_day_id, details={"on_date": day.on_date.isoformat()})


def _mark_run(session: Session, *, kind: str, site_id: int, on: date, queued: int) -> bool:
    """Claim the round; False if it was done already (by this or a concurrent run)."""
    try:
        with session.begin_nested():
            session.add(CareRun(kind=kind, site_id=site_id, on_date=on, queued=queued))
    except IntegrityError:
        return False
    return True


def _done(session: Session, *, kind: str, site_id: int, on: date) -> bool:
    return session.scalar(select(CareRun.id).where(CareRun.kind == kind, CareRun.site_id == site_id,
                                                   CareRun.on_date == on)) is not None


def _consenting(session: Session, site_id: int) -> list[tuple[int, str | None]]:
    """(id, birthday) of the site's customers with a phone who agreed to care SMS. Decrypts the
    birthdays: there is deliberately no index on them."""
    has_phone = select(CustomerPhone.id).where(CustomerPhone.customer_id == Customer.id).exists()
    rows = session.execute(select(Customer.id, Customer.birthday, Customer.consent_purposes)
                           .where(Customer.site_id == site_id, Customer.erased_at.is_(None), has_phone)
                           .execution_options(yield_per=2000))
    return [(cid, birthday) for cid, birthday, purposes in rows if "care_sms" in (purposes or [])]


def _is_birthday(birthday: str | None, today: date) -> bool:
    if not birthday:
        return False
    born = date.fromisoformat(birthday)
    if (born.month, born.day) == (today.month, today.day):
        return True
    # Born on 29 February: greeted on the 28th in other years.
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    return (born.month, born.day) == (2, 29) and not leap and (today.month, today.day) == (2, 28)


def queue_greetings(session: Session, *, now: datetime | None = None) -> int:
    """Queue today's birthday greetings and the greetings of tomorrow's holidays (sent on the eve,
    seed 000) for every site where it is past the greeting hour. Each round runs once per site
    and day; returns how many messages were queued."""
    now = now or clock.now()
    total = 0
    for site_id, zone in sorted((s.id, s.timezone) for s in organisation.list_sites(session)):
        local = clock.to_zone(now, zone)
        if local.hour < GREETING_HOUR:
            continue
        today = local.date()
        holidays = list(session.scalars(select(GreetingDay).where(GreetingDay.on_date == today + timedelta(days=1))))
        rounds = [("birthday", None)] + [(f"holiday:{day.id}", day) for day in holidays]
        pending = [(kind, day) for kind, day in rounds if not _done(session, kind=kind, site_id=site_id, on=today)]
        if not pending:
            continue
        customers = _consenting(session, site_id)
        for kind, day in pending:
            chosen = [cid for cid, birthday in customers if day is not None or _is_birthday(birthday, today)]
            if not _mark_run(session, kind=kind, site_id=site_id, on=today, queued=len(chosen)):
                continue
            body = TEMPLATES["birthday"] if day is None else day.body
            # One round per site and day (the CareRun row, in this transaction) keeps the keys new.
            session.add_all(OutboundMessage(customer_id=cid, kind="birthday" if day is None else "holiday",
                                            template="birthday" if day is None else "holiday", body=body,
                                            status="queued", dedupe_key=f"{kind}:{today.isoformat()}:{cid}",
                                            created_at=now) for cid in chosen)
            session.flush()
            total += len(chosen)
    session.flush()
    return total


# Satisfaction follow-ups ------------------------------------------------------------------


def schedule_satisfaction_followup(session: Session, *, ticket_id: int, customer_id: int,
                                   due_at: datetime) -> CareFollowUp | None:
    """The satisfaction call due after a complaint is resolved (called by the tickets service).
    Scheduling the same ticket again moves the due time; None for an erased customer."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.is_erased:
        return None
    existing = session.scalars(select(CareFollowUp).where(CareFollowUp.ticket_id == ticket_id,
                                                          CareFollowUp.kind == "satisfaction")).first()
    if existing is not None:
        if existing.status == "due":
            existing.due_at, existing.reminded_at = due_at, None
            session.flush()
        return existing
    followup = CareFollowUp(customer_id=customer_id, ticket_id=ticket_id, kind="satisfaction", due_at=due_at)
    session.add(followup)
    session.flush()
    return followup


FOLLOWUP_OUTCOMES = ("reached", "no_answer", "refused", "wrong_number")


def complete_followup(session: Session, *, followup_id: int, by: User, satisfaction: int | None,
                      outcome: str = "reached", note: str | None = None) -> CareFollowUp:
    """Record the follow-up call's result: the outcome, and when the customer was reached their
    satisfaction from 1 (very unhappy) to 5. A reached customer counts as a contact. Recording a
    done follow-up again changes nothing."""
    followup = session.get(CareFollowUp, followup_id)
    if followup is None:
        raise NotFound("No such follow-up.")
    if outcome not in FOLLOWUP_OUTCOMES:
        raise ValidationFailed("Choose an outcome from the list.", field="outcome",
                               params={"known": list(FOLLOWUP_OUTCOMES)})
    if outcome == "reached" and (satisfaction is None or not 1 <= satisfaction <= 5):
        raise ValidationFailed("Satisfaction is from 1 to 5.", field="satisfaction")
    if outcome != "reached":
        satisfaction = None
    if followup.status != "due":
        return followup
    now = clock.now()
    followup.status, followup.done_at, followup.done_by_id = "done", now, by.id
    followup.satisfaction, followup.outcome, followup.note = satisfaction, outcome, (note or None)
    session.flush()
    record(session, action="care.followup_done", actor_id=by.id, actor_name=by.username, object_type="care_followup",
           object_id=followup.id, details={"ticket_id": followup.ticket_id, "satisfaction": satisfaction,
                                           "outcome": outcome})
    if outcome == "reached":
        activity.add(session, customer_id=followup.customer_id, kind="outreach", at=now, amount_cents=0,
                     ref=f"followup:{followup.id}")
    return followup


def record_followup(session: Session, *, followup_id: int, by: User, satisfaction: int | None,
                    outcome: str = "reached", note: str | None = None) -> CareFollowUp:
    """The desktop's and the API's way in: `by` must work and see the follow-up's ticket (a
    follow-up of a ticket they may not see reads as missing)."""
    access.require_worker(by)
    followup = session.get(CareFollowUp, followup_id)
    if followup is None or followup.ticket_id is None:
        raise NotFound("No such follow-up.")
    try:
        access.get_visible(session, ticket_id=followup.ticket_id, user=by)
    except NotFound:
        raise NotFound("No such follow-up.") from None
    return complete_followup(session, followup_id=followup_id, by=by, satisfaction=satisfaction, outcome=outcome,
                             note=note)


def followup_of_ticket(session: Session, *, ticket_id: int) -> CareFollowUp | None:
    """The ticket's satisfaction follow-up, if one is scheduled (shown on the ticket)."""
    return session.scalars(select(CareFollowUp).where(CareFollowUp.ticket_id == ticket_id,
                                                      CareFollowUp.kind == "satisfaction")).first()


def followups_for(session: Session, *, viewer: User, status: str = "due", due_now: bool = False,
                  limit: int = 50) -> list[CareFollowUp]:
    """Follow-ups of tickets `viewer` may see, the soonest due first (done ones: latest first);
    with `due_now` only those whose time has come."""
    query = select(CareFollowUp).join(Ticket, Ticket.id == CareFollowUp.ticket_id).where(CareFollowUp.status == status)
    if due_now:
        query = query.where(CareFollowUp.due_at <= clock.now())
    seen = access.visibility(viewer)
    if seen is not None:
        query = query.where(seen)
    order = CareFollowUp.due_at if status == "due" else CareFollowUp.done_at.desc()
    return list(session.scalars(query.order_by(order, CareFollowUp.id).limit(max(1, min(limit, 200)))))


def remind_due_followups(session: Session, *, limit: int = 500) -> int:
    """Announce follow-ups that became due (once each): a `care.followup_due` event."""
    now = clock.now()
    rows = list(session.execute(
        select(CareFollowUp, Customer.site_id).join(Customer, Customer.id == CareFollowUp.customer_id)
        .where(CareFollowUp.status == "due", CareFollowUp.due_at <= now, CareFollowUp.reminded_at.is_(None))
        .order_by(CareFollowUp.due_at).limit(limit)))
    for followup, site_id in rows:
        followup.reminded_at = now
        publish(session, "care.followup_due", {"followup_id": followup.id, "customer_id": followup.customer_id,
                                               "ticket_id": followup.ticket_id}, site_id=site_id)
    session.flush()
    return len(rows)


# Quiet customers --------------------------------------------------------------------------


def quiet_customers(session: Session, *, days: int | None = None, site_id: int | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[Customer], int]:
    """Customers with neither a contact nor a purchase in `days` days (the quiet_customer_days
    setting by default; or never, if they are older than that), the longest quiet first, for
    retention calls."""
    if days is None:
        days = quiet_days(session)
    if days < 1:
        raise ValidationFailed("Give a number of days, one or more.", field="days")
    since = clock.now() - timedelta(days=days)
    bought = (select(CustomerActivity.id).where(CustomerActivity.customer_id == Customer.id,
                                               CustomerActivity.kind == "purchase", CustomerActivity.at >= since)
              .exists())
    query = select(Customer).where(
        Customer.erased_at.is_(None), ~bought,
        or_(Customer.last_contact_at < since, and_(Customer.last_contact_at.is_(None), Customer.created_at < since)))
    if site_id is not None:
        query = query.where(Customer.site_id == site_id)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(func.coalesce(Customer.last_contact_at, Customer.created_at), Customer.id)
                           .limit(max(1, min(limit, 200))).offset(max(offset, 0)))
    return list(rows), count


def remind_regular_contacts(session: Session, *, limit: int = 500) -> int:
    """The key customers' regular-contact schedule (seed 000): a gold, platinum or diamond member
    not contacted for key_customer_contact_days is put on their own agent's reminders, once per
    lapse (a contact starts the count again). Returns how many reminders were made."""
    days = sla.get_setting(session, "key_customer_contact_days")
    since = clock.now() - timedelta(days=days)
    rows = session.execute(
        select(Customer.id, Customer.owning_agent_id, Customer.last_contact_at, Customer.created_at).where(
            Customer.erased_at.is_(None), Customer.tier.in_(sorted(KEY_TIERS)), Customer.owning_agent_id.is_not(None),
            or_(Customer.last_contact_at < since,
                and_(Customer.last_contact_at.is_(None), Customer.created_at < since)))
        .order_by(Customer.id).limit(limit))
    made = 0
    for customer_id, agent_id, last, created in rows:
        assert agent_id is not None  # the query takes owned customers only
        anchor = (last or created).date().isoformat()
        made += len(escalation.remind(session, user_ids=[agent_id], kind="care.regular_contact_due",
                                      key=f"care.regular:{customer_id}:{anchor}",
                                      params={"customer_id": customer_id, "days": days}))
    session.flush()
    return made


def quiet_days(session: Session) -> int:
    return sla.get_setting(session, "quiet_customer_days")
