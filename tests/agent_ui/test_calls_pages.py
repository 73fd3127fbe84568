"""The call log (`/calls`): calls made through the carrier simulator, read by each role within
its scope (an agent their own, a team leader the team's, a supervisor the site's), the filters
and their errors beside the fields, pages, the htmx partial, and never a caller's number."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agent_ui.pages import calls as calls_page
from core.db import session_scope
from core.models import Role
from telephony import calls as call_records
from tests.agent_ui.desk import CALLER, Desk, desk, set_presence
from tests.factories import cheap_password_hashing, make_user, signed_in_client
from tests.telephony.hub import eager_tasks, sim

__all__ = ["cheap_password_hashing", "desk", "eager_tasks", "sim"]

HX = {"HX-Request": "true"}
STRANGER = "+8613900139001"  # a caller the hotline does not know
QUIET = "+8613700137002"


@dataclass
class Made:
    mine: int  # answered by desk.agent (recorded)
    teammate: int  # answered by desk.teammate, same team
    far: int  # answered by desk.other_agent, another site's team
    abandoned: int  # the caller hung up while queued


def _call_id(sid: str) -> int:
    with session_scope() as own:
        call = call_records.get_by_sid(own, call_sid=sid)
        assert call is not None
        return call.id


def answered_call(sim: Any, clock: Any, user: Any, *, caller: str, queued: int = 0, wait: int = 5,
                  talk: int = 60) -> int:
    """A caller waits `queued` seconds with nobody free; then `user` goes available, answers
    after `wait` more seconds and talks for `talk`; then takes a break."""
    sid = sim.place_call(caller)
    sim.pump()
    assert sim.press(sid, "1")
    sim.pump()
    if queued:
        sim.advance(queued)
    set_presence(user, "available")
    sim.pump()
    assert sim.phone(f"agent_{user.id}").ringing(), sim.heard(sid)
    clock.advance(seconds=wait)
    sim.phone(f"agent_{user.id}").answer()
    sim.pump()
    sim.advance(talk)
    sim.hangup(sid)
    sim.pump()
    set_presence(user, "break")
    return _call_id(sid)


def abandoned_call(sim: Any, *, caller: str, wait: int = 30) -> int:
    sid = sim.place_call(caller)
    sim.pump()
    assert sim.press(sid, "1")
    sim.pump()
    sim.advance(wait)
    sim.hangup(sid)
    sim.pump()
    return _call_id(sid)


def make_calls(sim: Any, clock: Any, desk: Desk) -> Made:
    return Made(mine=answered_call(sim, clock, desk.agent, caller=CALLER),
                teammate=answered_call(sim, clock, desk.teammate, caller=STRANGER, queued=30, wait=10, talk=120),
                far=answered_call(sim, clock, desk.other_agent, caller=QUIET),
                abandoned=abandoned_call(sim, caller=STRANGER))


@pytest.fixture
def made(sim: Any, clock: Any, desk: Desk) -> Made:
    return make_calls(sim, clock, desk)


def _rows(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-call-id="(\d+)"', html)}


def _no_numbers(html: str) -> None:
    for number in (CALLER, STRANGER, QUIET):
        digits = number.lstrip("+")
        for shown in (number, digits, digits[2:], digits[-4:] + "<", digits[2:5] + "****"):
            assert shown not in html, shown


def test_calls_need_a_role_that_takes_or_scores_calls(client: TestClient, session: Session, desk: Desk) -> None:
    assert client.get("/calls", follow_redirects=False).headers["location"] == "/signin?next=/calls"
    signed_in_client(client, desk.qa)  # QA inspectors find calls to score in the log
    assert client.get("/calls").status_code == 200 and 'href="/calls"' in client.get("/").text
    signed_in_client(client, desk.agent)
    assert 'href="/calls"' in client.get("/").text


def test_an_agent_reads_only_their_own_calls(client: TestClient, desk: Desk, made: Made) -> None:
    signed_in_client(client, desk.agent)
    page = client.get("/calls")
    assert page.status_code == 200 and _rows(page.text) == {made.mine}
    assert 'id="filter-agent"' not in page.text  # nobody else's calls to choose
    row = page.text[page.text.index(f'data-call-id="{made.mine}"'):]
    row = row[:row.index("</tr>")]
    assert "Answered" in row and "An Agent" in row and "Inquiries" in row
    assert '<td class="num">0:05</td>' in row and '<td class="num">1:00</td>' in row  # waiting, talk
    assert re.search(r'href="/tickets/\d+">HL-2026-\d+</a>', row)
    listen = re.search(r'href="/recordings/(\d+)"', row)
    assert listen, row
    assert client.get(f"/recordings/{listen.group(1)}").status_code == 200  # the same audited route
    # Naming a teammate in the address is refused beside the field, and shows none of their calls.
    theirs = client.get("/calls", params={"agent": desk.teammate.id})
    assert theirs.status_code == 422 and 'id="filter-agent-error"' in theirs.text
    assert _rows(theirs.text) == set()


def test_a_team_leader_reads_the_team_only(client: TestClient, desk: Desk, made: Made) -> None:
    signed_in_client(client, desk.team_leader)
    page = client.get("/calls")
    assert page.status_code == 200 and _rows(page.text) == {made.mine, made.teammate}
    assert "Far Agent" not in page.text
    options = re.findall(r'<option value="(\d+)"', page.text[page.text.index('id="filter-agent"'):])
    assert str(desk.other_agent.id) not in options and str(desk.teammate.id) in options
    one = client.get("/calls", params={"agent": desk.teammate.id})
    assert one.status_code == 200 and _rows(one.text) == {made.teammate}
    far = client.get("/calls", params={"agent": desk.other_agent.id})
    assert far.status_code == 422 and 'id="filter-agent-error"' in far.text and _rows(far.text) == set()


def test_supervisors_read_their_site(client: TestClient, desk: Desk, made: Made) -> None:
    signed_in_client(client, desk.supervisor)
    assert _rows(client.get("/calls").text) == {made.mine, made.teammate, made.far, made.abandoned}
    # The other site's supervisor reads the calls their own staff took, not this site's callers'.
    signed_in_client(client, desk.other_supervisor)
    assert _rows(client.get("/calls").text) == {made.far}


def test_the_center_head_reads_every_call(client: TestClient, session: Session, desk: Desk, made: Made) -> None:
    head = make_user(session, role=Role.center_head, username="head")
    signed_in_client(client, head)
    page = client.get("/calls")
    assert _rows(page.text) == {made.mine, made.teammate, made.far, made.abandoned}
    assert "Every call of the center." in page.text


def test_filters_by_outcome_queue_and_direction(client: TestClient, desk: Desk, made: Made) -> None:
    signed_in_client(client, desk.supervisor)
    assert _rows(client.get("/calls", params={"outcome": "abandoned"}).text) == {made.abandoned}
    assert _rows(client.get("/calls", params={"outcome": "answered"}).text) == {made.mine, made.teammate, made.far}
    assert _rows(client.get("/calls", params={"queue": "inquiry", "direction": "inbound"}).text) == {
        made.mine, made.teammate, made.far, made.abandoned}
    assert _rows(client.get("/calls", params={"queue": "complaint"}).text) == set()
    none = client.get("/calls", params={"direction": "callback"})
    assert none.status_code == 200 and "No calls match these filters." in none.text
    # Days in the site's time zone: the calls were at 17:00 in Shanghai on 5 January.
    assert _rows(client.get("/calls", params={"from": "2026-01-05", "to": "2026-01-05"}).text) == {
        made.mine, made.teammate, made.far, made.abandoned}
    assert _rows(client.get("/calls", params={"from": "2026-01-06", "to": "2026-01-08"}).text) == set()


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2026-01-05", "to": "2026-01-01"}, "to"),
    ({"from": "2024-01-01", "to": "2026-01-05"}, "to"),
    ({"outcome": "lost"}, "outcome"),
    ({"direction": "sideways"}, "direction"),
    ({"queue": "no-such-queue"}, "queue"),
    ({"agent": "somebody"}, "agent"),
    ({"agent": "999999"}, "agent"),
])
def test_bad_filters_are_explained_beside_their_field(client: TestClient, desk: Desk, params: dict[str, str],
                                                      field: str) -> None:
    signed_in_client(client, desk.supervisor)
    page = client.get("/calls", params=params)
    assert page.status_code == 422
    assert f'id="filter-{field}-error"' in page.text and 'aria-invalid="true"' in page.text
    assert "Correct the filters marked above" in page.text


def test_pages_of_calls(client: TestClient, desk: Desk, made: Made, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls_page, "PAGE_SIZE", 3)
    signed_in_client(client, desk.supervisor)
    first = client.get("/calls", params={"outcome": "", "queue": "inquiry"})
    assert first.status_code == 200 and len(_rows(first.text)) == 3 and "Page 1 of 2" in first.text
    link = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert link and "queue=inquiry" in link.group(1) and "page=2" in link.group(1)
    second = client.get(link.group(1).replace("&amp;", "&"))
    assert _rows(second.text) == {made.mine}  # the oldest call, alone on the last page
    assert 'rel="prev"' in second.text
    assert _rows(client.get("/calls", params={"page": "99"}).text) == {made.mine}  # past the end: the last page
    assert len(_rows(client.get("/calls", params={"page": "x"}).text)) == 3  # not a number: the first page


def test_the_htmx_partial_is_the_filters_and_the_table(client: TestClient, desk: Desk, made: Made) -> None:
    signed_in_client(client, desk.team_leader)
    page = client.get("/calls")
    assert 'hx-get="/calls"' in page.text and 'hx-target="#calls-main"' in page.text
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", page.text) == []
    assert not re.search(r"\son[a-z]+=|style=", page.text)
    partial = client.get("/calls", headers=HX, params={"outcome": "answered"})
    assert partial.status_code == 200 and "<html" not in partial.text
    assert partial.text.lstrip().startswith('<div id="calls-main">') and _rows(partial.text) == {made.mine, made.teammate}
    refused = client.get("/calls", headers=HX, params={"from": "soon"})
    assert refused.status_code == 422 and "<html" not in refused.text and 'id="filter-from-error"' in refused.text


def test_no_caller_number_anywhere(client: TestClient, session: Session, desk: Desk, made: Made) -> None:
    head = make_user(session, role=Role.center_head, username="head")
    for person in (desk.agent, desk.team_leader, desk.supervisor, head):
        signed_in_client(client, person)
        for params in ({}, {"outcome": "abandoned"}, {"from": "bad"}):
            page = client.get("/calls", params=params)
            _no_numbers(page.text)
            assert "Wang Fang" not in page.text  # nor the customer's name
            assert 'name="phone"' not in page.text


def test_the_call_log_in_simplified_chinese(client: TestClient, session: Session, desk: Desk, made: Made) -> None:
    desk.supervisor.locale = "zh_Hans"
    session.commit()
    signed_in_client(client, desk.supervisor)
    page = client.get("/calls")
    for text in ("通话记录", "已接听", "放弃", "等待", "通话时长", "工单", "录音", "收听"):
        assert text in page.text, text
    refused = client.get("/calls", params={"outcome": "lost"})
    assert refused.status_code == 422 and "请从列表中选择结果" in refused.text


def test_listen_links_follow_the_listening_rule(client: TestClient, session: Session, desk: Desk,
                                                made: Made) -> None:
    """Every "Listen" link the call log shows plays for that viewer (the one rule every audio route
    uses); a recording the viewer may not hear is named, not linked. Before, the link was offered
    by role, and a site-1 supervisor's link to a call the other site's agent took answered 403."""
    viewers = [desk.agent, desk.teammate, desk.team_leader, desk.supervisor, desk.other_supervisor,
               make_user(session, role=Role.center_head, username="head")]
    linked: dict[str, set[int]] = {}
    for viewer in viewers:
        signed_in_client(client, viewer)
        page = client.get("/calls").text
        rows = re.findall(r'data-call-id="(\d+)".*?</tr>', page, flags=re.S)
        links = re.findall(r'href="/recordings/(\d+)"', page)
        for recording_id in links:
            assert client.get(f"/recordings/{recording_id}").status_code == 200, (viewer.username, recording_id)
        linked[viewer.username] = {int(r) for r in rows if f'data-call-id="{r}"' in page and
                                   'href="/recordings/' in page[page.index(f'data-call-id="{r}"'):].split("</tr>")[0]}
    assert made.mine in linked[desk.agent.username] and made.mine in linked[desk.team_leader.username]
    assert made.far not in linked[desk.supervisor.username]
    assert made.far in linked[desk.other_supervisor.username] and made.far in linked["head"]


def test_every_ticket_link_opens_for_its_viewer(client: TestClient, session: Session, desk: Desk,
                                                made: Made) -> None:
    """A ticket number in the call log is a link only where the viewer can open that ticket. QA
    inspectors read the log to find calls to score but do not work tickets: before, each row linked
    its ticket and the inspector's click answered 403."""
    viewers = [desk.agent, desk.teammate, desk.team_leader, desk.supervisor, desk.other_supervisor, desk.qa,
               make_user(session, role=Role.center_head, username="head")]
    for viewer in viewers:
        signed_in_client(client, viewer)
        page = client.get("/calls").text
        for ticket_id in set(re.findall(r'href="/tickets/(\d+)"', page)):
            assert client.get(f"/tickets/{ticket_id}").status_code == 200, (viewer.username, ticket_id)
    signed_in_client(client, desk.qa)
    page = client.get("/calls").text
    assert 'href="/tickets/' not in page and re.search(r'<span class="ticket-number">HL-2026-\d+</span>', page)
