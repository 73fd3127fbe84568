"""The call log's service (`telephony.call_log`): who reads which calls, each call's outcome,
waiting, talk and hold times, its recording for those who may listen, the refusals, and the
period figures per local day or week and per team. Calls are built as rows here; the pages'
tests drive real calls through the carrier simulator."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from core.errors import PermissionDenied, ValidationFailed
from core.models import Role, Site, User
from telephony import call_log
from telephony.models import Call, CallControlEvent, Offer, QueueEntry, Recording
from tests.factories import cheap_password_hashing, make_site, make_team, make_user

__all__ = ["cheap_password_hashing"]

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DAY = (T0 - timedelta(days=1), T0 + timedelta(days=1))


@dataclass
class People:
    site: Site
    other_site: Site
    agent: User
    teammate: User
    leader: User
    far_agent: User
    supervisor: User
    far_supervisor: User
    qa: User
    head: User


@pytest.fixture
def people(session: Session) -> People:
    site, other_site = make_site(session, timezone="Asia/Shanghai"), make_site(session, timezone="Asia/Shanghai")
    team, other_team = make_team(session, site=site), make_team(session, site=other_site)
    return People(
        site=site, other_site=other_site, agent=make_user(session, team=team), teammate=make_user(session, team=team),
        leader=make_user(session, role=Role.team_leader, team=team), far_agent=make_user(session, team=other_team),
        supervisor=make_user(session, role=Role.supervisor, site=site),
        far_supervisor=make_user(session, role=Role.supervisor, site=other_site),
        qa=make_user(session, role=Role.qa_inspector, site=site), head=make_user(session, role=Role.center_head))


def inbound(session: Session, *, at: datetime, site: Site, agent: User | None = None, queued: bool = True,
            wait: int = 5, talk: int = 60, state: str | None = None, after_queue: str | None = None,
            status: str = "completed", skill: str = "inquiry", first_answer_after: int | None = None) -> Call:
    """A caller's call: 10 s in the menu, then `wait` s in the queue; answered by `agent` (talking
    `talk` s), or leaving the queue as `state`. `first_answer_after` adds an earlier answer (a
    transfer re-queued the call), which is the one that counts for the waiting time."""
    call = Call(call_sid=f"CA{uuid.uuid4().hex}", leg="caller", direction="inbound", status=status, started_at=at,
                site_id=site.id, skill_code=skill, agent_id=agent.id if agent else None, after_queue=after_queue,
                language="zh-CN")
    session.add(call)
    session.flush()
    if not queued:
        call.ended_at = at + timedelta(seconds=8) if status == "completed" else None
        return call
    enqueued = at + timedelta(seconds=10)
    call.enqueued_at = enqueued
    answered = enqueued + timedelta(seconds=wait)
    ended = answered + timedelta(seconds=talk)
    entry = QueueEntry(call_id=call.id, skill_code=skill, category="inquiry", enqueued_at=enqueued, queued_at=enqueued,
                       sort_key=enqueued, state="connected" if agent else (state or "abandoned"),
                       ended_at=ended if agent else answered)
    session.add(entry)
    session.flush()
    if agent is not None:
        session.add(Offer(entry_id=entry.id, call_id=call.id, user_id=agent.id, skill_code=skill, state="accepted",
                          offered_at=answered - timedelta(seconds=2), expires_at=answered + timedelta(seconds=13),
                          resolved_at=answered, ended_at=ended))
        if first_answer_after is not None:
            early = enqueued + timedelta(seconds=first_answer_after)
            session.add(Offer(entry_id=entry.id, call_id=call.id, user_id=agent.id, skill_code=skill,
                              state="accepted", offered_at=early - timedelta(seconds=1), expires_at=early,
                              resolved_at=early, ended_at=early + timedelta(seconds=5)))
        call.bridged_at = answered
    call.ended_at = ended if status == "completed" else None
    session.flush()
    return call


def callback(session: Session, *, at: datetime, site: Site, agent: User, status: str, person: bool = False,
             machine: bool = False, talk: int = 90) -> Call:
    call = Call(call_sid=f"CA{uuid.uuid4().hex}", leg="customer", direction="outbound-api", status=status,
                started_at=at, site_id=site.id, agent_id=agent.id, language="zh-CN")
    if person or machine:
        call.answered_at = at + timedelta(seconds=8)
    if person:
        call.bridged_at = at + timedelta(seconds=8)
    if status in ("completed", "busy", "no-answer", "failed", "canceled"):
        call.ended_at = at + timedelta(seconds=8 + (talk if person else 2))
    session.add(call)
    session.flush()
    return call


def _log(session: Session, viewer: User, **filters: object) -> call_log.CallPage:
    return call_log.call_log(session, viewer=viewer, start=DAY[0], end=DAY[1], **filters)  # type: ignore[arg-type]


def _ids(page: call_log.CallPage) -> set[int]:
    return {r.call_id for r in page.rows}


def test_each_role_reads_its_own_scope(session: Session, people: People) -> None:
    p = people
    mine = inbound(session, at=T0, site=p.site, agent=p.agent)
    team = inbound(session, at=T0 + timedelta(minutes=1), site=p.site, agent=p.teammate)
    led = inbound(session, at=T0 + timedelta(minutes=2), site=p.site, agent=p.leader)
    far = inbound(session, at=T0 + timedelta(minutes=3), site=p.site, agent=p.far_agent)  # this site's caller
    far_site = inbound(session, at=T0 + timedelta(minutes=4), site=p.other_site, agent=p.far_agent)
    lost = inbound(session, at=T0 + timedelta(minutes=5), site=p.site)
    made = callback(session, at=T0 + timedelta(minutes=6), site=p.site, agent=p.agent, status="completed", person=True)
    everything = {mine.id, team.id, led.id, far.id, far_site.id, lost.id, made.id}

    assert _ids(_log(session, p.agent)) == {mine.id, made.id}
    assert _ids(_log(session, p.teammate)) == {team.id}
    assert _ids(_log(session, p.leader)) == {mine.id, team.id, led.id, made.id}
    assert _ids(_log(session, p.supervisor)) == everything - {far_site.id}
    assert _ids(_log(session, p.qa)) == everything - {far_site.id}
    assert _ids(_log(session, p.far_supervisor)) == {far.id, far_site.id}  # their staff's calls, their site's
    assert _ids(_log(session, p.head)) == everything
    # A teammate who has left: their calls stay in the team leader's log.
    p.teammate.is_active = False
    session.flush()
    assert team.id in _ids(_log(session, p.leader))


def test_an_agent_cannot_name_anyone_else(session: Session, people: People) -> None:
    inbound(session, at=T0, site=people.site, agent=people.teammate)
    with pytest.raises(ValidationFailed) as refused:
        _log(session, people.agent, agent_id=people.teammate.id)
    assert refused.value.errors[0]["loc"] == ["agent"]
    with pytest.raises(ValidationFailed):
        _log(session, people.leader, agent_id=people.far_agent.id)
    with pytest.raises(ValidationFailed):
        _log(session, people.leader, agent_id=10**9)
    assert _ids(_log(session, people.leader, agent_id=people.teammate.id))


@pytest.mark.parametrize("filters", [{"outcome": "lost"}, {"direction": "outbound"}, {"queue": "a b"}])
def test_unknown_filters_are_refused(session: Session, people: People, filters: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _log(session, people.head, **filters)
    assert refused.value.errors[0]["loc"] == [next(iter(filters))]


def test_a_reversed_or_too_long_period_is_refused(session: Session, people: People) -> None:
    with pytest.raises(ValidationFailed):
        call_log.call_log(session, viewer=people.head, start=T0, end=T0 - timedelta(days=1))
    with pytest.raises(ValidationFailed):
        call_log.call_log(session, viewer=people.head, start=T0 - timedelta(days=400), end=T0)


def test_outcomes_of_callers_and_callbacks(session: Session, people: People) -> None:
    p = people
    expected = {
        inbound(session, at=T0, site=p.site, agent=p.agent).id: "answered",
        inbound(session, at=T0, site=p.site, state="abandoned").id: "abandoned",
        inbound(session, at=T0, site=p.site, state="voicemail", after_queue="voicemail").id: "voicemail",
        inbound(session, at=T0, site=p.site, state="callback", after_queue="callback").id: "callback_requested",
        inbound(session, at=T0, site=p.site, queued=False).id: "abandoned",  # hung up in the menu
        inbound(session, at=T0, site=p.site, queued=False, status="in-progress").id: "in_progress",
        callback(session, at=T0, site=p.site, agent=p.agent, status="completed", person=True).id: "answered",
        callback(session, at=T0, site=p.site, agent=p.agent, status="completed", machine=True).id: "voicemail",
        callback(session, at=T0, site=p.site, agent=p.agent, status="no-answer").id: "no_answer",
        callback(session, at=T0, site=p.site, agent=p.agent, status="busy").id: "busy",
        callback(session, at=T0, site=p.site, agent=p.agent, status="failed").id: "failed",
        callback(session, at=T0, site=p.site, agent=p.agent, status="ringing").id: "in_progress",
    }
    rows = _log(session, p.head).rows
    assert {r.call_id: r.outcome for r in rows} == expected
    for outcome in set(expected.values()):  # the filter uses the same rule
        assert _ids(_log(session, p.head, outcome=outcome)) == {k for k, v in expected.items() if v == outcome}
    assert {r.direction for r in rows} == {"inbound", "callback"}
    assert _ids(_log(session, p.head, direction="callback")) == {r.call_id for r in rows if r.direction == "callback"}


def test_times_hold_and_recording(session: Session, people: People, clock) -> None:  # type: ignore[no-untyped-def]
    p = people
    call = inbound(session, at=T0, site=p.site, agent=p.agent, wait=30, talk=300, first_answer_after=12)
    session.add(CallControlEvent(call_id=call.id, kind="hold", actor_id=p.agent.id,
                                 started_at=T0 + timedelta(seconds=100), ended_at=T0 + timedelta(seconds=145)))
    session.add(CallControlEvent(call_id=call.id, kind="listen", actor_id=p.leader.id,
                                 started_at=T0 + timedelta(seconds=100), ended_at=T0 + timedelta(seconds=200)))
    session.add(Recording(recording_sid=f"RE{uuid.uuid4().hex}", call_id=call.id, kind="call", status="completed",
                          media_key="recordings/x.wav"))
    lost = inbound(session, at=T0 + timedelta(minutes=1), site=p.site, state="voicemail", after_queue="voicemail",
                   wait=70)
    session.add(Recording(recording_sid=f"RE{uuid.uuid4().hex}", call_id=lost.id, kind="voicemail",
                          status="completed", media_key="recordings/v.wav"))
    pending = inbound(session, at=T0 + timedelta(minutes=2), site=p.site, agent=p.agent)
    session.add(Recording(recording_sid=f"RE{uuid.uuid4().hex}", call_id=pending.id, kind="call", status="completed"))
    session.flush()
    rows = {r.call_id: r for r in _log(session, p.head).rows}
    row = rows[call.id]
    # The first answer counts for the wait; talk is the connected time less the hold.
    assert (row.wait_seconds, row.hold_seconds) == (12, 45)
    assert row.talk_seconds == (30 + 300 - 12) - 45
    assert row.recording_kind == "call" and row.recording_id is not None
    assert rows[lost.id].wait_seconds == 70 and rows[lost.id].talk_seconds is None
    assert rows[lost.id].recording_kind == "voicemail" and rows[lost.id].recording_id is not None
    assert rows[pending.id].recording_kind == "call" and rows[pending.id].recording_id is None  # not stored yet
    # The agent who took the call may listen to it.
    assert {r.call_id: r.recording_id is not None for r in _log(session, p.agent).rows}[call.id]


def test_newest_first_in_pages(session: Session, people: People) -> None:
    made = [inbound(session, at=T0 + timedelta(minutes=n), site=people.site, agent=people.agent).id for n in range(5)]
    first = call_log.call_log(session, viewer=people.agent, start=DAY[0], end=DAY[1], page_size=2)
    assert [r.call_id for r in first.rows] == made[:-3:-1] and (first.total, first.pages) == (5, 3)
    last = call_log.call_log(session, viewer=people.agent, start=DAY[0], end=DAY[1], page_size=2, page=9)
    assert last.page == 3 and [r.call_id for r in last.rows] == [made[0]]


def test_period_figures_per_local_day_and_team(session: Session, people: People) -> None:
    p = people
    # 5 January in Shanghai: two answered within 20 s, one after 45 s, one abandoned, one voicemail,
    # one ended in the menu, one callback dialled. 23:50 UTC on the 5th is the 6th in Shanghai.
    inbound(session, at=T0, site=p.site, agent=p.agent, wait=5, talk=100)
    inbound(session, at=T0, site=p.site, agent=p.teammate, wait=15, talk=200)
    inbound(session, at=T0, site=p.site, agent=p.far_agent, wait=45, talk=300)
    inbound(session, at=T0, site=p.site, state="abandoned", wait=50)
    inbound(session, at=T0, site=p.site, state="voicemail", after_queue="voicemail")
    inbound(session, at=T0, site=p.site, queued=False)
    callback(session, at=T0, site=p.site, agent=p.agent, status="no-answer")
    inbound(session, at=datetime(2026, 1, 5, 23, 50, tzinfo=UTC), site=p.site, agent=p.agent, wait=3, talk=60)
    inbound(session, at=T0, site=p.other_site, agent=p.far_agent)  # another site's caller
    session.flush()
    report = call_log.period_report(session, viewer=p.supervisor, first_day=date(2026, 1, 5),
                                    last_day=date(2026, 1, 7), zone="Asia/Shanghai", site_id=None)
    assert report.site_id == p.site.id
    fifth, sixth, seventh = report.periods
    assert (fifth.calls, fifth.offered, fifth.answered, fifth.abandoned, fifth.left_message, fifth.callbacks) == \
        (6, 5, 3, 1, 1, 1)
    assert fifth.within_target == 2 and fifth.service_level == pytest.approx(2 / 4)
    assert fifth.abandonment_rate == pytest.approx(1 / 5) and fifth.average_handle_seconds == 200
    assert fifth.average_answer_seconds == round((5 + 15 + 45) / 3)  # the average speed of answer
    assert (sixth.calls, sixth.answered, seventh.calls) == (1, 1, 0) and seventh.service_level is None
    assert report.total.answered == 4 and report.total.calls == 7
    lines = {t.name: t for t in report.teams}
    assert len(report.teams) == 2 and lines[""].answered == 1  # far_agent: not a team of this site
    own = next(t for t in report.teams if t.team_id == p.agent.team_id)
    assert own.answered == 3 and own.within_target == 3 and own.average_handle_seconds == round((100 + 200 + 60) / 3)

    weekly = call_log.period_report(session, viewer=p.leader, first_day=date(2026, 1, 1),
                                    last_day=date(2026, 1, 14), zone="Asia/Shanghai", site_id=None, by="week")
    assert [w.start for w in weekly.periods] == [date(2025, 12, 29), date(2026, 1, 5), date(2026, 1, 12)]
    assert weekly.periods[1].answered == 4
    assert [t.team_id for t in weekly.teams] == [p.leader.team_id]  # a team leader reads their own team


def test_who_reads_which_site_figures(session: Session, people: People) -> None:
    days = {"first_day": date(2026, 1, 5), "last_day": date(2026, 1, 5), "zone": "Asia/Shanghai"}
    with pytest.raises(PermissionDenied):
        call_log.period_report(session, viewer=people.supervisor, site_id=people.other_site.id, **days)
    assert call_log.period_report(session, viewer=people.head, site_id=people.other_site.id, **days).site_id == \
        people.other_site.id
    assert call_log.period_report(session, viewer=people.head, site_id=None, **days).site_id is None
    with pytest.raises(ValidationFailed):
        call_log.period_report(session, viewer=people.head, site_id=None, by="month", **days)
    with pytest.raises(ValidationFailed):
        call_log.period_report(session, viewer=people.head, site_id=None, first_day=date(2026, 1, 5),
                               last_day=date(2026, 1, 4), zone="Asia/Shanghai")
