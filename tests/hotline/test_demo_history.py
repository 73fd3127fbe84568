"""The demo's history: a first start plays days of calls through the simulator on the injected
clock, so the call log, tickets, recordings and QA have data; shift templates, a published
roster within the weekly hours (with room for a swap) and the month's QA sampling plan exist."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import config
from hotline import demo, demo_history
from tests.factories import cheap_password_hashing, fresh, signed_in_client  # noqa: F401 - autouse fixture


def test_a_first_start_has_a_history_a_roster_and_a_sampling_plan(settings: config.Settings, session: Session,
                                                                  clock) -> None:  # type: ignore[no-untyped-def]
    from qa.models import SamplingPlan
    from scheduling import roster
    from scheduling.models import Roster, Shift
    from scheduling.rules.shifts import weekly_minutes
    from scheduling import shifts as shift_service
    from scheduling.settings import policy
    from telephony.models import Call, Recording
    from tickets.models import Ticket

    agents = demo.seed()
    assert "head" in agents
    started = clock.now()
    assert not demo_history.has_calls()
    placed = demo_history.play_week(settings, agents=agents, bots=demo.BOTS, numbers=[c[1] for c in demo.CUSTOMERS],
                                    hotline_number=demo.HOTLINE_NUMBER, zone="Asia/Shanghai", days=2,
                                    calls_per_day=3)
    assert placed == 6 and demo_history.has_calls()
    assert clock.now() == started  # the history's own clock is put back
    fresh(session)
    answered = session.scalar(select(func.count()).select_from(Call).where(Call.leg == "agent",
                                                                          Call.status == "completed"))
    assert answered and answered >= 3
    first = session.scalar(select(func.min(Call.created_at)))
    assert first is not None and first < started
    assert session.scalar(select(func.count()).select_from(Recording).where(Recording.copied_at.is_not(None))) >= 3
    tickets = session.scalars(select(Ticket)).all()
    assert len(tickets) >= 3
    # The simulated agents wrote up what they answered: a subject on each, most resolved, so the
    # floor's escalations and backlog show a working hotline rather than every ticket breached.
    answered_tickets = [t for t in tickets if t.assignee_id in {agents[b] for b in demo.BOTS}]
    assert answered_tickets and all(t.subject for t in answered_tickets)
    assert all(t.status != "new" for t in answered_tickets)
    assert any(t.status == "resolved" and t.resolution for t in answered_tickets)

    agent_ids = [agents[u] for u, r, _ in demo.STAFF if r == "agent"]
    assert demo_history.ensure_schedule(site_id=agents["site"], lead_id=agents["lead"], agent_ids=agent_ids) == "done"
    assert demo_history.ensure_schedule(site_id=agents["site"], lead_id=agents["lead"], agent_ids=agent_ids) == "kept"
    fresh(session)
    plan = session.scalars(select(Roster)).one()
    assert plan.status == "published"
    made = roster.shifts_of_roster(session, roster_id=plan.id)
    assert made
    limit = policy(session).max_weekly_minutes
    for agent_id in agent_ids:
        own = [shift_service.facts(s) for s in made if s.user_id == agent_id]
        assert all(m + demo_history.SHIFT_MINUTES <= limit for m in weekly_minutes(own).values())
    assert session.scalar(select(func.count()).select_from(Shift)) == len(made)

    demo_history.build_sampling()
    fresh(session)
    month = clock.now().strftime("%Y-%m")
    assert session.scalar(select(func.count()).select_from(SamplingPlan).where(SamplingPlan.month == month)) >= 1


def test_a_simulated_agent_leaves_wrap_up_once_the_ticket_is_written(settings: config.Settings,
                                                                   session: Session) -> None:
    """As a person clicks "Ready" after writing up the call, the simulated agent does not sit out
    the whole wrap-up time (with it, three simulated agents could not keep up with the demo's
    calls: the queue grew to five and the service level fell below 60 %)."""
    from telephony import presence

    agents = demo.seed()
    bot = agents[demo.BOTS[0]]
    record = presence.lock_presence(session, user_id=bot)
    presence.move(session, record, presence.AVAILABLE, by=presence.AGENT)
    presence.move(session, record, presence.OFFERED, by=presence.ROUTER)
    presence.move(session, record, presence.ON_CALL, by=presence.ROUTER)
    presence.move(session, record, presence.WRAP_UP, by=presence.ROUTER)
    session.commit()
    traffic = demo.Traffic(calls_per_minute=0, agents=agents)
    traffic.bots_ready()
    fresh(session)
    assert presence.get_presence(session, user_id=bot).state == presence.AVAILABLE


def test_two_team_leaders_hand_over_between_their_shifts(settings: config.Settings, session: Session) -> None:
    """The demo had one team leader, so no handover could be written by one lead and accepted by
    another: the day lead and the evening lead each have today's shift, the day's handover goes
    from one to the other through the handover service, and a second start adds nothing."""
    from scheduling import dutylog, handover
    from scheduling.models import Shift

    agents = demo.seed()
    agent_ids = [agents[u] for u, r, _ in demo.STAFF if r == "agent"]
    assert demo_history.ensure_schedule(site_id=agents["site"], lead_id=agents["lead"], agent_ids=agent_ids,
                                        days=3) == "done"
    leads = [(agents[u], template) for u, template in demo.LEAD_SHIFTS.items()]
    made = demo_history.ensure_lead_shifts(site_id=agents["site"], leads=leads, days=3)
    assert made >= 4  # today's, if not begun yet, and the next two days' for each
    assert demo_history.ensure_lead_shifts(site_id=agents["site"], leads=leads, days=3) == 0
    fresh(session)
    kinds = {(s.user_id, s.kind) for s in session.scalars(select(Shift).where(
        Shift.user_id.in_([agents["lead"], agents["lead2"]])))}
    assert kinds == {(agents["lead"], "day"), (agents["lead2"], "night")}

    from core.users import get as get_user
    lead, lead2 = get_user(session, user_id=agents["lead"]), get_user(session, user_id=agents["lead2"])
    day_shift = session.scalars(select(Shift).where(Shift.user_id == lead.id).order_by(Shift.day)).first()
    assert day_shift is not None
    log = dutylog.open_log(session, site_id=agents["site"], day=day_shift.day, shift_kind="day", by=lead)
    written = handover.write(session, duty_log_id=log.id, by=lead, equipment_status="Headset 2 crackles",
                             nothing_to_report=[f for f in handover.FIELDS if f != "equipment_status"])
    assert written.next_start == day_shift.end_at  # the day lead's own shift ends: the evening lead's begins
    handover.submit(session, handover_id=written.id, by=lead)
    assert [h.id for h in handover.waiting_for(session, viewer=lead2)] == [written.id]
    assert handover.accept(session, handover_id=written.id, by=lead2).incoming_leader_id == lead2.id
    session.commit()


def test_the_seed_language_follows_the_operator() -> None:
    env = dict(os.environ)
    try:
        for name in ("HOTLINE_DEMO_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
            os.environ.pop(name, None)
        assert demo.seed_language() == "en"
        os.environ["LANG"] = "zh_CN.UTF-8"
        assert demo.seed_language() == "zh-CN"
        assert demo.seed_language("en") == "en"  # asked for: wins over the terminal's
        os.environ["HOTLINE_DEMO_LANGUAGE"] = "en"
        assert demo.seed_language() == "en"
        os.environ["LANG"], os.environ["HOTLINE_DEMO_LANGUAGE"] = "C.UTF-8", ""
        assert demo.seed_language() == "en"
    finally:
        os.environ.clear()
        os.environ.update(env)


def test_a_chinese_demo_shows_no_english_data_on_chinese_pages(settings: config.Settings, session: Session,
                                                               client: TestClient) -> None:
    """The finding: on Chinese pages the demo showed "You (agent1)", "Early" and "Late" (seed data
    in English) beside translated words. A demo seeded in Chinese names its people, store, team
    and shift templates in Chinese; no display name carries a UI word; built-in skills are
    translated by the pages; and a later start in English makes no second set of templates."""
    from core.models import Site, User
    from core.users import get as get_user
    from scheduling.models import ShiftTemplate

    agents = demo.seed("zh-CN")
    agent_ids = [agents[u] for u, r, _ in demo.STAFF if r == "agent"]
    names = {n: demo.seed_name(n, "zh-CN") for n, _s, _k in demo_history.TEMPLATES}
    assert demo_history.ensure_schedule(site_id=agents["site"], lead_id=agents["lead"], agent_ids=agent_ids,
                                        days=2, names=names) == "done"
    demo.seed("en")  # a second start in English renames nothing and makes nothing twice
    assert demo_history.ensure_schedule(site_id=agents["site"], lead_id=agents["lead"], agent_ids=agent_ids,
                                        days=2) == "kept"
    fresh(session)
    people = {u.username: u.display_name for u in session.scalars(select(User))}
    assert people["agent1"] == "赵敏" and people["lead2"] == "马林"
    assert not any("You" in name for name in people.values())
    assert session.scalars(select(Site)).one().name == "演示门店"
    assert sorted(t.name for t in session.scalars(select(ShiftTemplate))) == sorted(["早班", "中班", "晚班"])

    lead = get_user(session, user_id=agents["lead"])
    signed_in_client(client, lead, password=demo.DEMO_PASSWORD)
    page = client.get("/shifts/templates", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    for english in ("Early", "Late", "Evening", "You (agent1)", "Li Lead"):
        assert english not in page.text
    assert "早班" in page.text
    desk = client.get("/floor", headers={"Accept-Language": "zh-CN"}).text
    assert "You (" not in desk and "Bot " not in desk

    admin = get_user(session, user_id=agents["admin"])
    signed_in_client(client, admin, password=demo.DEMO_PASSWORD)
    person = client.get(f"/admin/people/{agents['agent1']}", headers={"Accept-Language": "zh-CN"}).text
    assert "咨询" in person and ">Inquiries<" not in person
