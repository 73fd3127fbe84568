"""The demo's history, made on its first start so every page has something to show: a week of
calls played through the carrier simulator on the injected clock (in-process, in a minute or
two rather than a week), then shift templates, a published roster for the coming two weeks
that keeps everyone within the weekly hours, and the month's QA sampling plan."""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from core import clock, config
from telephony.simulator.carrier import Simulator

log = logging.getLogger("hotline.demo")

# Early and Late cover the day; Evening is the night shift's (its lead accepts the day's handover).
TEMPLATES = (("Early", "08:00", "day"), ("Late", "14:00", "day"), ("Evening", "16:00", "night"))
SHIFT_MINUTES = 480


def has_calls() -> bool:
    """True once any call was made: the history is played on the first start only."""
    from core.db import session_scope
    from telephony import calls

    with session_scope(reader=True) as session:
        return calls.any_call(session)


def play_week(settings: config.Settings, *, agents: dict[str, int], bots: Sequence[str], numbers: Sequence[str],
              hotline_number: str, zone: str, days: int = 7, calls_per_day: int = 12, seed: int = 7,
              progress: Callable[[int, int], None] | None = None) -> int:
    """Play `days` days of calls, `calls_per_day` each between 09:00 and 18:00 local time,
    through the real app and the simulator, with the simulated agents answering; time is a
    FrozenClock moved from call to call. Returns the calls placed."""
    with warnings.catch_warnings():  # Starlette's note about its test client's httpx, not for the demo's terminal
        warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
        from fastapi.testclient import TestClient

    from core.worker import celery_app
    from hotline.app import create_app
    from telephony.gateway import install_gateway
    from telephony.simulator import build, install_simulator
    from telephony.simulator.transport import httpx_transport

    rng = random.Random(seed)
    local = ZoneInfo(zone)
    today = clock.now().astimezone(local).date()
    first = today - timedelta(days=days)
    frozen = clock.FrozenClock(datetime.combine(first, time(8, 30), local))
    previous_clock = clock.get_clock()
    eager = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    clock.install(frozen)
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    placed, total = 0, days * calls_per_day
    try:
        app = create_app(settings, start_background=False)
        with TestClient(app, base_url=settings.public_url) as client:
            sim = build(settings, httpx_transport(client), in_process=True, hotline_number=hotline_number)
            for offset in range(days):
                day = first + timedelta(days=offset)
                _staff_in(agents, bots, available=True)
                moments = sorted(datetime.combine(day, time(9), local) + timedelta(seconds=rng.uniform(0, 9 * 3600))
                                 for _ in range(calls_per_day))
                for moment in moments:
                    if moment > frozen.now():
                        sim.advance((moment - frozen.now()).total_seconds())
                    _one_call(sim, rng, agents, bots, numbers, hotline_number)
                    placed += 1
                    if progress is not None:
                        progress(placed, total)
                sim.advance(3600)
                _sweep()
                _staff_in(agents, bots, available=False)
            install_simulator(None)
            install_gateway(None)
    finally:
        clock.install(previous_clock)
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = eager
    return placed


def _staff_in(agents: dict[str, int], bots: Sequence[str], *, available: bool) -> None:
    from core.db import session_scope
    from core.errors import DomainError
    from telephony import presence

    for username in bots:
        try:
            with session_scope() as session:
                state = presence.get_presence(session, user_id=agents[username]).state
                target = presence.AVAILABLE if available else presence.OFFLINE
                if state != target and state not in (presence.ON_CALL, presence.OFFERED, presence.WRAP_UP):
                    presence.set_presence(session, user_id=agents[username], state=target)
        except DomainError as exc:
            log.debug("simulated agent %s stays as they are: %s", username, exc.code)


# What a simulated agent writes in wrap-up, by the ticket's category, in the caller's language:
# (subject, how it ended) in English and in Simplified Chinese.
SUBJECTS = {
    "inquiry": ((("Where is my order?", "Gave the courier's tracking number; arrives tomorrow."),
                 ("订单到哪里了？", "已告知快递单号，明天送达。")),
                (("Store opening hours on the holiday", "Told the holiday hours of the Demo Store."),
                 ("节假日门店营业时间", "已告知门店节假日营业时间。")),
                (("How to use a gift card online", "Walked the customer through paying with the card."),
                 ("礼品卡如何在网上使用", "已一步步指导客户用礼品卡付款。")),
                (("Price of the winter coat in size L", "Quoted the price and the stock at the store."),
                 ("L 码冬季大衣的价格", "已告知价格和门店库存。"))),
    "complaint": ((("Parcel arrived damaged", "Replacement sent; the courier's claim filed."),
                   ("包裹送达时已损坏", "已补发新品，并向快递公司提出索赔。")),
                  (("Charged twice for one order", "Second charge refunded; the bank shows it in 3 days."),
                   ("一笔订单被扣款两次", "重复扣款已退回，三天内到账。")),
                  (("Rude answer at the store's counter", "Apologised; the store manager will call back."),
                   ("门店柜台服务态度差", "已致歉，门店经理将回电。"))),
    "membership": ((("Points missing after a purchase", "Points added by hand; receipt checked."),
                    ("购物后积分未到账", "已核对小票并手动补积分。")),
                   (("Upgrade to the gold tier", "Explained the tier rules; upgrade applies next month."),
                    ("升级为金卡会员", "已说明等级规则，下月起升级。"))),
}


def work_ticket(agent_id: int, rng: random.Random, *, since: datetime) -> str | None:
    """The simulated agent's wrap-up: the newest untouched ticket assigned to them since `since`
    gets a subject; most are resolved at once (a complaint's reply recorded first, a key
    customer's follow-up call made), some wait on the customer, a few stay open to be worked
    later. Goes through the same services the ticket page does. Returns the new status."""
    from sqlalchemy import select

    from core import users
    from core.db import session_scope
    from core.errors import DomainError
    from tickets import complaints
    from tickets import service as tickets
    from tickets.models.tickets import Ticket

    try:
        with session_scope() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.assignee_id == agent_id, Ticket.status == "new",
                                                         Ticket.created_at >= since)
                                    .order_by(Ticket.id.desc()).limit(1))
            if ticket is None:
                return None
            agent = users.get(session, user_id=agent_id)
            english, chinese = rng.choice(SUBJECTS.get(ticket.category, SUBJECTS["inquiry"]))
            subject, resolution = english if (ticket.language or "").startswith("en") else chinese
            ticket = tickets.update(session, ticket_id=ticket.id, by=agent, version=ticket.version,
                                    changes={"subject": subject})
            roll = rng.random()
            if ticket.category == "complaint" and roll < 0.85:
                ticket = complaints.record_reply(session, ticket_id=ticket.id, by=agent, version=ticket.version)
            if ticket.phone_followup_due_at is not None and roll < 0.8:
                ticket = complaints.record_phone_followup(session, ticket_id=ticket.id, by=agent,
                                                          version=ticket.version)
            status = "resolved" if roll < 0.75 else "waiting_on_customer" if roll < 0.88 else "open"
            tickets.transition(session, ticket_id=ticket.id, by=agent, to=status, version=ticket.version,
                               resolution=resolution if status == "resolved" else None)
            return status
    except DomainError as exc:  # the ticket moved meanwhile (a team leader took it, say)
        log.debug("simulated agent %s left ticket as it was: %s", agent_id, exc.code)
        return None


def _sweep() -> None:
    from telephony import tasks as telephony_tasks

    telephony_tasks.routing_sweep()


def _one_call(sim: Simulator, rng: random.Random, agents: dict[str, int], bots: Sequence[str],
              numbers: Sequence[str], hotline_number: str) -> None:
    from telephony import bridge

    number = rng.choice(list(numbers) + [f"+86139{rng.randrange(10**8):08d}"])
    sid = sim.place_call(number, hotline_number)
    sim.advance(rng.uniform(3, 8))
    if not sim.listening(sid):
        sim.hangup(sid)
        sim.pump()
        return
    sim.press(sid, rng.choice("1111222330"))
    sim.advance(1)
    patience = rng.uniform(40, 240)
    waited, answered_by = 0.0, None
    while waited < patience and sim.call(sid).alive and answered_by is None:
        for username in bots:
            phone = sim.phone(bridge.agent_identity(agents[username]))
            if phone.ringing():
                sim.advance(rng.uniform(2, 6))
                if phone.ringing():
                    phone.answer()
                    answered_by = username
                break
        if answered_by is None:
            sim.advance(5)
            waited += 5
            _sweep()
    if answered_by is None:
        if sim.call(sid).alive:
            sim.hangup(sid)  # the caller gave up
        sim.pump()
        return
    answered_at = clock.now()
    sim.advance(rng.uniform(60, 360))
    if sim.call(sid).alive:
        sim.hangup(sid)  # the caller says goodbye
    sim.pump()
    sim.advance(rng.uniform(30, 90))  # wrap-up
    work_ticket(agents[answered_by], rng, since=answered_at - timedelta(minutes=5))
    _sweep()


# Shifts, the roster, QA sampling -----------------------------------------------------------------

def _same_template(template: object, start: str, kind: str) -> bool:
    """A demo template is known by its time and kind, not its name (named in the seed's language)."""
    from scheduling import shifts

    found = (getattr(template, "start_minute", None), getattr(template, "kind", None))
    return found == (shifts.parse_hhmm(start), kind)


def ensure_schedule(*, site_id: int, lead_id: int, agent_ids: Sequence[int], skill_code: str | None = None,
                    days: int = 14, names: Mapping[str, str] | None = None) -> str:
    """Shift templates for the demo site, and a published roster from today for `days` days
    (generated by the solver in this thread, which keeps every agent a shift of room in each
    week). Returns the roster job's status, or "kept" when a roster already covers today."""
    from core.db import session_scope
    from core.users import get as get_user
    from scheduling import roster, shifts

    with session_scope() as session:
        # Those taken out of use count too: a template someone retired is not made again.
        existing = shifts.list_templates(session, site_id=site_id, include_inactive=True)
        for name, start, kind in TEMPLATES:
            if not any(_same_template(t, start, kind) for t in existing):
                shifts.create_template(session, site_id=site_id, name=(names or {}).get(name, name), start=start,
                                       length_minutes=SHIFT_MINUTES, kind=kind, skill_code=skill_code)
        zone = shifts.site_zone(session, site_id)
        today = clock.now().astimezone(zone).date()
        if any(r.site_id == site_id and r.first_day <= today <= r.last_day and r.status == "published"
               for r in roster.list_rosters(session, viewer=get_user(session, user_id=lead_id))):
            return "kept"
        lead = get_user(session, user_id=lead_id)
        plan = roster.create(session, site_id=site_id, first_day=today, last_day=today + timedelta(days=days - 1),
                             by=lead)
        job = roster.start_generation(session, roster_id=plan.id, demand={"": _demand(days, 60)}, slot_minutes=60,
                                      by=lead, time_limit_seconds=20, user_ids=list(agent_ids))
        plan_id, job_id = plan.id, job.id
    status = roster.run_job(job_id)
    if status == "done":
        with session_scope() as session:
            roster.publish_roster(session, roster_id=plan_id, by=get_user(session, user_id=lead_id))
    return status


def ensure_lead_shifts(*, site_id: int, leads: Sequence[tuple[int, str]], days: int = 14) -> int:
    """Each team leader's shifts of their template (a name in TEMPLATES) from today for `days`
    days, so the day lead hands over to the evening lead on the duty pages. Through the shift
    service: a shift that has begun, or a day that would break a rule (the weekly hours), is left
    free, so nobody shows absent for a shift planned after it started. Safe to run again: a day
    already given is refused as an overlap. Returns the shifts made."""
    from core.db import session_scope
    from core.users import get as get_user
    from scheduling import shifts
    from scheduling.errors import ShiftRuleViolated

    made = 0
    with session_scope() as session:
        active = shifts.list_templates(session, site_id=site_id)
        templates = {name: next((t for t in active if _same_template(t, start, kind)), None)
                     for name, start, kind in TEMPLATES}
        today = clock.now().astimezone(shifts.site_zone(session, site_id)).date()
        for lead_id, name in leads:
            template = templates.get(name)
            if template is None:
                continue
            lead = get_user(session, user_id=lead_id)
            for offset in range(days):
                try:
                    with session.begin_nested():
                        shifts.assign(session, user_id=lead_id, day=today + timedelta(days=offset),
                                      template_id=template.id, by=lead)
                    made += 1
                except ShiftRuleViolated:
                    continue
    return made


def _demand(days: int, slot: int) -> list[int]:
    """One agent from 08:00 to 22:00 local time, every day (the two templates cover it)."""
    per_day = 24 * 60 // slot
    needs = [0] * (per_day * days)
    for d in range(days):
        for k in range(8 * 60 // slot, 22 * 60 // slot):
            needs[d * per_day + k] = 1
    return needs


def build_sampling() -> int:
    """This month's QA sampling plan (and last month's), at once rather than at the next
    six-hourly sweep: the inspector's queue has the history's recordings from the start."""
    from qa import tasks as qa_tasks

    return qa_tasks.build_sampling()
