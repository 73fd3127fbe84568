"""The customer figures the seeds name, for one calendar month of a site (or the whole center):
member development and spending (seed 002), complaint and churn rates, satisfaction (CSAT) per
agent and team, first-contact resolution, and the department's weekly totals of cases taken,
supervised, answered and followed up (seed 003). Counts, sums and shares only: no customer."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from core.config import get_settings
from core.organisation import site_timezone
from tickets.complaints import month_bounds
from tickets.models.customers import CareFollowUp, Customer, CustomerActivity
from tickets.models.tickets import Ticket, TicketCall
from tickets.workflow import TIERS, Category

SATISFIED = 4  # a score of 4 or 5 counts as satisfied (CSAT)


@dataclass
class Satisfaction:
    """Follow-up calls done in the month: how many reached a score, the mean and the CSAT share."""

    calls: int = 0
    scored: int = 0
    total: int = 0
    satisfied: int = 0

    def add(self, score: int | None) -> None:
        self.calls += 1
        if score is not None:
            self.scored += 1
            self.total += score
            self.satisfied += score >= SATISFIED

    @property
    def average(self) -> float | None:
        return round(self.total / self.scored, 2) if self.scored else None

    @property
    def csat(self) -> float | None:
        return round(self.satisfied / self.scored, 4) if self.scored else None


@dataclass
class Week:
    start: date
    taken: int = 0  # tickets opened
    supervised: int = 0  # of those, handled above the agent (escalated)
    answered: int = 0  # first responses given
    followed_up: int = 0  # satisfaction and key-customer phone follow-ups made


@dataclass
class CustomerFigures:
    site_id: int | None
    month: str
    customers: int = 0
    new_customers: int = 0
    by_tier: dict[str, int] = field(default_factory=dict)
    purchases: int = 0
    spend_cents: int = 0
    buyers: int = 0
    complaints: int = 0
    complaint_rate: float | None = None
    active_before: int = 0
    churned: int = 0
    churn_rate: float | None = None
    resolved: int = 0
    resolved_first_contact: int = 0
    first_contact_resolution: float | None = None
    satisfaction: Satisfaction = field(default_factory=Satisfaction)
    satisfaction_by_agent: dict[int, Satisfaction] = field(default_factory=dict)
    satisfaction_by_team: dict[int, Satisfaction] = field(default_factory=dict)
    weeks: list[Week] = field(default_factory=list)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def month_figures(session: Session, *, site_id: int | None, month: str | date) -> CustomerFigures:
    """Every figure of the month in the site's time zone (ValidationFailed for a bad month)."""
    zone = ZoneInfo(site_timezone(session, site_id) if site_id is not None else get_settings().timezone)
    first, start, end = month_bounds(month, zone)
    out = CustomerFigures(site_id=site_id, month=first.strftime("%Y-%m"))
    in_site = [Customer.site_id == site_id] if site_id is not None else []
    live = [Customer.erased_at.is_(None), *in_site]

    # Members and spending (seed 002).
    out.customers = int(session.scalar(select(func.count()).select_from(Customer)
                                       .where(*live, Customer.created_at < end)) or 0)
    out.new_customers = int(session.scalar(select(func.count()).select_from(Customer).where(
        *live, Customer.created_at >= start, Customer.created_at < end)) or 0)
    out.by_tier = dict.fromkeys(TIERS, 0) | {tier: int(n) for tier, n in session.execute(
        select(Customer.tier, func.count()).where(*live, Customer.created_at < end).group_by(Customer.tier))}
    bought = (select(func.count(), func.coalesce(func.sum(CustomerActivity.amount_cents), 0),
                     func.count(func.distinct(CustomerActivity.customer_id)))
              .join(Customer, Customer.id == CustomerActivity.customer_id)
              .where(CustomerActivity.kind == "purchase", CustomerActivity.at >= start, CustomerActivity.at < end,
                     *in_site))
    purchases, spend, buyers = session.execute(bought).one()
    out.purchases, out.spend_cents, out.buyers = int(purchases), int(spend), int(buyers)

    # Churn: customers with a contact or purchase before the month and none in it.
    def active(since: datetime | None, until: datetime) -> Any:
        where = [CustomerActivity.at < until, CustomerActivity.kind.in_(("contact", "outreach", "purchase"))]
        if since is not None:
            where.append(CustomerActivity.at >= since)
        return select(CustomerActivity.customer_id).where(*where).distinct()

    before = select(Customer.id).where(*live, Customer.id.in_(active(None, start)))
    out.active_before = int(session.scalar(select(func.count()).select_from(before.subquery())) or 0)
    churned = before.where(Customer.id.not_in(active(start, end)))
    out.churned = int(session.scalar(select(func.count()).select_from(churned.subquery())) or 0)
    out.churn_rate = _share(out.churned, out.active_before)

    # Tickets of the month.
    scope = [Ticket.site_id == site_id] if site_id is not None else []
    out.complaints = int(session.scalar(select(func.count()).select_from(Ticket).where(
        *scope, Ticket.category == Category.complaint.value, Ticket.created_at >= start,
        Ticket.created_at < end)) or 0)
    out.complaint_rate = _share(out.complaints, out.customers)
    calls = (select(TicketCall.ticket_id, func.count().label("n")).where(TicketCall.direction == "inbound")
             .group_by(TicketCall.ticket_id).subquery())
    resolved = session.execute(
        select(func.count(), func.sum(case((func.coalesce(calls.c.n, 0) <= 1, 1), else_=0)))
        .select_from(Ticket).outerjoin(calls, calls.c.ticket_id == Ticket.id)
        .where(*scope, Ticket.resolved_at >= start, Ticket.resolved_at < end)).one()
    out.resolved, out.resolved_first_contact = int(resolved[0] or 0), int(resolved[1] or 0)
    out.first_contact_resolution = _share(out.resolved_first_contact, out.resolved)

    # Satisfaction follow-ups made in the month, per agent and team.
    done = session.execute(
        select(CareFollowUp.satisfaction, CareFollowUp.done_by_id, Ticket.team_id)
        .join(Ticket, Ticket.id == CareFollowUp.ticket_id)
        .where(*scope, CareFollowUp.status == "done", CareFollowUp.done_at >= start, CareFollowUp.done_at < end))
    by_agent: dict[int, Satisfaction] = defaultdict(Satisfaction)
    by_team: dict[int, Satisfaction] = defaultdict(Satisfaction)
    for score, agent_id, team_id in done:
        out.satisfaction.add(score)
        if agent_id is not None:
            by_agent[agent_id].add(score)
        if team_id is not None:
            by_team[team_id].add(score)
    out.satisfaction_by_agent, out.satisfaction_by_team = dict(by_agent), dict(by_team)
    out.weeks = _weeks(session, scope=scope, first=first, end=end, zone=zone)
    return out


def _weeks(session: Session, *, scope: list[Any], first: date, end: datetime, zone: ZoneInfo) -> list[Week]:
    """The Monday-to-Sunday weeks that overlap the month (seed 003's weekly totals)."""
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while datetime.combine(monday, time.min, tzinfo=zone).astimezone(UTC) < end:
        week = Week(start=monday)
        lo = datetime.combine(monday, time.min, tzinfo=zone).astimezone(UTC)
        hi = lo + timedelta(days=7)

        def count(*where: Any, model: Any = Ticket) -> int:
            query = select(func.count()).select_from(model)
            if model is CareFollowUp:
                query = query.join(Ticket, Ticket.id == CareFollowUp.ticket_id)
            return int(session.scalar(query.where(*scope, *where)) or 0)

        week.taken = count(Ticket.created_at >= lo, Ticket.created_at < hi)
        week.supervised = count(Ticket.created_at >= lo, Ticket.created_at < hi, Ticket.escalation_level > 0)
        week.answered = count(Ticket.first_response_at >= lo, Ticket.first_response_at < hi)
        week.followed_up = (count(CareFollowUp.status == "done", CareFollowUp.done_at >= lo, CareFollowUp.done_at < hi,
                                  model=CareFollowUp)
                            + count(and_(Ticket.phone_followup_done_at >= lo, Ticket.phone_followup_done_at < hi)))
        weeks.append(week)
        monday += timedelta(days=7)
    return weeks
