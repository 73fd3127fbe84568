"""Ticket pages: the list and its filters (the phone only in a POST body), one ticket with its
timeline, recordings, notes, workflow buttons, escalation and edit (with its 409), without
JavaScript (post-redirect-get) and with htmx (the changed block), in English and Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import users
from core.storage import get_storage
from tests.agent_ui.desk import CALLER, Desk, desk
from tests.factories import cheap_password_hashing, fresh, signed_in_client
from tickets import service as ticket_service
from tickets.models.tickets import TicketRecording

__all__ = ["cheap_password_hashing", "desk"]

HX = {"HX-Request": "true"}


def _ticket(session: Session, desk: Desk, **fields: object) -> int:
    values: dict[str, object] = {"category": "inquiry", "by": desk.agent, "customer_id": desk.customer.id}
    values.update(fields)
    ticket = ticket_service.open_ticket(session, **values)  # type: ignore[arg-type]
    session.commit()
    return ticket.id


def _no_inline_code(html: str) -> None:
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", html) == []
    assert not re.search(r"\son[a-z]+=|style=", html)


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:href|action|hx-post|hx-get|src)="([^"]*)"', html)


# The list ---------------------------------------------------------------------------------------

def test_ticket_list_needs_sign_in(client: TestClient) -> None:
    page = client.get("/tickets", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/tickets"
    partial = client.get("/tickets", headers=HX, follow_redirects=False)
    assert partial.status_code == 401 and partial.headers["hx-redirect"] == "/signin?next=/tickets"


def test_ticket_list_is_refused_to_a_qa_inspector(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.qa)
    assert client.get("/tickets").status_code == 403
    assert client.get("/tickets/1").status_code == 403


def test_ticket_list_shows_the_agents_tickets_with_filters(client: TestClient, session: Session, desk: Desk) -> None:
    mine = _ticket(session, desk)
    complaint = _ticket(session, desk, category="complaint")
    far = ticket_service.open_ticket(session, category="inquiry", by=desk.other_agent)
    session.commit()
    signed_in_client(client, desk.agent)
    page = client.get("/tickets")
    assert page.status_code == 200 and 'href="/tickets" aria-current="page"' in page.text
    assert f'href="/tickets/{mine}"' in page.text and f'href="/tickets/{complaint}"' in page.text
    assert far.number not in page.text  # another site's ticket is not listed
    assert "2 tickets" in page.text
    _no_inline_code(page.text)
    filtered = client.get("/tickets", params={"category": "complaint"})
    assert f'href="/tickets/{complaint}"' in filtered.text and f'href="/tickets/{mine}"' not in filtered.text
    partial = client.post("/tickets", data={"status": "new", "sla_state": "ok"}, headers=HX)
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="ticket-results"' in partial.text


def test_phone_is_searched_by_post_and_never_put_in_an_address(client: TestClient, session: Session,
                                                               desk: Desk) -> None:
    with_customer = _ticket(session, desk)
    without = _ticket(session, desk, customer_id=None)
    signed_in_client(client, desk.agent)
    page = client.post("/tickets", data={"phone": "138 0013 8000"})
    assert page.status_code == 200
    assert f'href="/tickets/{with_customer}"' in page.text and f'href="/tickets/{without}"' not in page.text
    for url in _urls(page.text):
        assert "138" not in url and "phone" not in url
    assert 'method="post" action="/tickets"' in page.text
    # An address with a phone is ignored, not searched.
    ignored = client.get("/tickets", params={"phone": CALLER})
    assert f'href="/tickets/{without}"' in ignored.text


def test_a_bad_filter_shows_its_error_beside_the_field(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.agent)
    page = client.post("/tickets", data={"phone": "not a phone", "created_from": "yesterday"})
    assert page.status_code == 422
    assert re.search(r'id="filter-phone"[^>]*aria-invalid="true"', page.text)
    assert 'id="filter-phone-error"' in page.text and "not a phone number" in page.text
    assert 'id="filter-created_from-error"' in page.text and "YYYY-MM-DD" in page.text
    assert 'value="not a phone"' in page.text  # what was typed stays in the form


def test_dates_the_wrong_way_round_are_refused_where_the_search_shows(client: TestClient, session: Session,
                                                                     desk: Desk) -> None:
    """"Opened until" before "Opened from" matches nothing: the person is told why, beside the
    field on a full page and in the results that htmx swaps in (the form itself is not swapped)."""
    signed_in_client(client, desk.agent)
    wrong = {"created_from": "2026-03-20", "created_to": "2026-03-13"}
    page = client.post("/tickets", data=wrong)
    assert page.status_code == 422
    assert re.search(r'id="filter-to"[^>]*aria-invalid="true"', page.text)
    assert 'id="filter-created_to-error"' in page.text and "before" in page.text
    assert 'value="2026-03-20"' in page.text and 'value="2026-03-13"' in page.text
    swapped = client.post("/tickets", data=wrong, headers=HX)
    assert swapped.status_code == 422 and 'id="ticket-results"' in swapped.text
    assert re.search(r'role="alert"[^>]*>[^<]*Opened until[^<]*before', swapped.text)
    users.set_locale(session, user_id=desk.agent.id, locale="zh_Hans")
    session.commit()
    chinese = client.post("/tickets", data=wrong, headers=HX)
    assert "早于" in chinese.text and "before" not in chinese.text


def test_ticket_list_pages_on_with_a_posted_cursor(client: TestClient, session: Session, desk: Desk) -> None:
    from agent_ui.pages import tickets as ticket_pages

    ids = [_ticket(session, desk) for _ in range(3)]
    signed_in_client(client, desk.agent)
    original = ticket_pages.PAGE_SIZE
    ticket_pages.PAGE_SIZE = 2
    try:
        first = client.post("/tickets", data={"phone": CALLER})
        cursor = re.search(r'name="cursor" value="([^"]+)"', first.text)
        assert cursor and f'href="/tickets/{ids[0]}"' not in first.text
        assert '<input type="hidden" name="phone" value="+8613800138000">' in first.text
        second = client.post("/tickets", data={"phone": CALLER, "cursor": cursor.group(1)})
        assert f'href="/tickets/{ids[0]}"' in second.text and "Next page" not in second.text
    finally:
        ticket_pages.PAGE_SIZE = original


# One ticket -------------------------------------------------------------------------------------

def test_ticket_detail_shows_summary_timeline_and_workflow_buttons(client: TestClient, session: Session,
                                                                 desk: Desk) -> None:
    ticket_id = _ticket(session, desk, subject="Refund for order 77")
    signed_in_client(client, desk.agent)
    page = client.get(f"/tickets/{ticket_id}")
    assert page.status_code == 200 and "Refund for order 77" in page.text
    assert 'id="to-open"' in page.text and 'id="to-resolved"' in page.text and 'id="to-closed"' in page.text
    assert 'id="to-escalated"' not in page.text  # escalation has its own form
    assert "Opened" in page.text and 'id="timeline-title"' in page.text
    assert f'href="/customers/{desk.customer.id}"' in page.text and "Wang Fang" not in page.text  # masked here
    assert page.text.count('name="csrf_token"') >= 4
    assert 'id="grant-form"' not in page.text  # agents do not grant
    _no_inline_code(page.text)
    # Other teams' tickets are not found.
    signed_in_client(client, desk.other_agent)
    assert client.get(f"/tickets/{ticket_id}").status_code == 404


def test_add_note_posts_and_redirects_then_shows_it(client: TestClient, session: Session, desk: Desk) -> None:
    ticket_id = _ticket(session, desk)
    signed_in_client(client, desk.agent)
    token = client.headers.pop("X-CSRF-Token")
    assert client.post(f"/tickets/{ticket_id}/notes", data={"body": "x"}).status_code == 403
    done = client.post(f"/tickets/{ticket_id}/notes", data={"body": "Called the store", "csrf_token": token},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/tickets/{ticket_id}"
    page = client.get(f"/tickets/{ticket_id}")
    assert "Called the store" in page.text and "Note added" in page.text
    empty = client.post(f"/tickets/{ticket_id}/notes", data={"body": "  ", "csrf_token": token})
    assert empty.status_code == 422 and 'id="note-body-error"' in empty.text


def test_resolve_needs_a_resolution_beside_its_field_then_moves(client: TestClient, session: Session,
                                                                 desk: Desk) -> None:
    ticket_id = _ticket(session, desk)
    signed_in_client(client, desk.agent)
    refused = client.post(f"/tickets/{ticket_id}/status", data={"to": "resolved", "version": "1"})
    assert refused.status_code == 422
    assert re.search(r'id="status-resolution"[^>]*aria-invalid="true"', refused.text)
    assert 'id="status-resolution-error"' in refused.text
    done = client.post(f"/tickets/{ticket_id}/status", headers=HX,
                       data={"to": "resolved", "version": "1", "resolution": "Refunded"})
    assert done.status_code == 200 and "<html" not in done.text and 'id="ticket-main"' in done.text
    assert 'id="ticket-status">Resolved' in done.text
    assert 'id="to-open"' in done.text and 'id="to-resolved"' not in done.text
    assert ticket_service.get(fresh(session), ticket_id=ticket_id, user=None).status == "resolved"
    bad = client.post(f"/tickets/{ticket_id}/status", data={"to": "waiting_on_customer", "version": "3"})
    assert bad.status_code == 409


def test_escalate_with_urgency_and_reason(client: TestClient, session: Session, desk: Desk) -> None:
    ticket_id = _ticket(session, desk)
    signed_in_client(client, desk.agent)
    no_reason = client.post(f"/tickets/{ticket_id}/escalate", data={"to_level": "1", "version": "1"})
    assert no_reason.status_code == 422 and 'id="escalate-reason-error"' in no_reason.text
    skip = client.post(f"/tickets/{ticket_id}/escalate", data={"to_level": "2", "reason": "Angry", "version": "1"})
    assert skip.status_code == 422 and 'id="escalate-level-error"' in skip.text
    done = client.post(f"/tickets/{ticket_id}/escalate", follow_redirects=False,
                       data={"to_level": "2", "reason": "Threatens the press", "urgent": "1", "version": "1"})
    assert done.status_code == 303
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="ticket-status">Escalated' in page.text and "Threatens the press" in page.text
    assert "Supervisor" in page.text


def test_edit_with_a_stale_version_shows_a_conflict_beside_the_form(client: TestClient, session: Session,
                                                                    desk: Desk) -> None:
    ticket_id = _ticket(session, desk)
    signed_in_client(client, desk.agent)
    saved = client.post(f"/tickets/{ticket_id}/edit", follow_redirects=False,
                        data={"version": "1", "subject": "Late delivery", "category": "complaint",
                              "priority": "high"})
    assert saved.status_code == 303
    stale = client.post(f"/tickets/{ticket_id}/edit", data={"version": "1", "subject": "Mine", "priority": "low"})
    assert stale.status_code == 409
    assert 'id="edit-version-error"' in stale.text and "Someone else changed this ticket" in stale.text
    assert 'value="Mine"' in stale.text
    stale_hx = client.post(f"/tickets/{ticket_id}/edit", headers=HX, data={"version": "1", "subject": "Mine"})
    assert stale_hx.status_code == 409 and "<html" not in stale_hx.text and "edit-version-error" in stale_hx.text


def test_recordings_play_through_the_hub(client: TestClient, session: Session, desk: Desk, tmp_path: Path) -> None:
    from telephony.models import Recording

    ticket_id = _ticket(session, desk)
    media = f"recordings/rec-{ticket_id}.wav"
    get_storage().put(media, b"RIFF" + b"\0" * 60)
    session.add(TicketRecording(ticket_id=ticket_id, recording_ref=f"RE{ticket_id:032d}", kind="call"))
    stored = Recording(recording_sid=f"RE{ticket_id:032d}", kind="call", status="completed", ticket_id=ticket_id,
                       media_key=media)
    session.add(stored)
    session.commit()
    signed_in_client(client, desk.team_leader)
    page = client.get(f"/tickets/{ticket_id}")
    assert f'<audio controls preload="none" controlslist="nodownload" src="/recordings/{stored.id}">' in page.text


def test_ticket_pages_in_chinese(client: TestClient, session: Session, desk: Desk) -> None:
    users.set_locale(session, user_id=desk.agent.id, locale="zh_Hans")
    session.commit()
    ticket_id = _ticket(session, desk)
    signed_in_client(client, desk.agent)
    listing = client.get("/tickets")
    assert '<html lang="zh-Hans">' in listing.text and "工单" in listing.text and "客户电话" in listing.text
    page = client.get(f"/tickets/{ticket_id}")
    assert "添加备注" in page.text and "升级" in page.text and "咨询" in page.text
    stale = client.post(f"/tickets/{ticket_id}/edit", data={"version": "9", "subject": "x"})
    assert stale.status_code == 409 and "Someone else" not in stale.text


# Assignment, tags, complaint reply ---------------------------------------------------------------

def test_agent_takes_and_gives_up_a_ticket_but_cannot_assign_others(client: TestClient, session: Session,
                                                                    desk: Desk) -> None:
    ticket_id = _ticket(session, desk, assignee_id=None)
    signed_in_client(client, desk.teammate)
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="assign-take"' in page.text and 'id="assign-assignee"' not in page.text
    taken = client.post(f"/tickets/{ticket_id}/assign", data={"assignee": "me", "version": "1"},
                        follow_redirects=False)
    assert taken.status_code == 303 and taken.headers["location"] == f"/tickets/{ticket_id}"
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="ticket-assignee">Bo Teammate' in page.text and 'id="assign-give-up"' in page.text
    other = client.post(f"/tickets/{ticket_id}/assign", data={"assignee": str(desk.agent.id), "version": "2"})
    assert other.status_code == 403 and 'id="assign-form-error"' in other.text and "ask your team leader" in other.text
    given_up = client.post(f"/tickets/{ticket_id}/assign", data={"assignee": "none", "version": "2"}, headers=HX)
    assert given_up.status_code == 200 and 'id="ticket-assignee">Nobody' in given_up.text
    stale = client.post(f"/tickets/{ticket_id}/assign", data={"assignee": "me", "version": "1"})
    assert stale.status_code == 409 and 'id="assign-version-error"' in stale.text


def test_team_leader_reassigns_within_the_team_and_moves_to_another_team(client: TestClient, session: Session,
                                                                        desk: Desk) -> None:
    from tests.factories import make_team, make_user

    other_team = make_team(session, site=desk.site, name="Hotline B")
    outsider = make_user(session, username="agent-c", display_name="Cai Outsider", team=other_team)
    session.commit()
    ticket_id = _ticket(session, desk)
    signed_in_client(client, desk.team_leader)
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="assign-assignee"' in page.text and "Bo Teammate" in page.text and "Cai Outsider" not in page.text
    assert "Hotline B" in page.text
    done = client.post(f"/tickets/{ticket_id}/assign", follow_redirects=False,
                       data={"assignee": str(desk.teammate.id), "team": str(desk.team.id), "version": "1"})
    assert done.status_code == 303
    ticket = ticket_service.get(fresh(session), ticket_id=ticket_id, user=None)
    assert ticket.assignee_id == desk.teammate.id
    refused = client.post(f"/tickets/{ticket_id}/assign",
                          data={"assignee": str(outsider.id), "team": str(desk.team.id), "version": "2"})
    assert refused.status_code == 403 and 'id="assign-assignee-error"' in refused.text
    assert re.search(r'id="assign-assignee"[^>]*aria-invalid="true"', refused.text)
    bad_team = client.post(f"/tickets/{ticket_id}/assign", data={"assignee": "none", "team": "x", "version": "2"})
    assert bad_team.status_code == 422 and 'id="assign-team-error"' in bad_team.text
    gone_team = client.post(f"/tickets/{ticket_id}/assign", data={"assignee": "none", "team": "999999",
                                                                   "version": "2"})
    assert gone_team.status_code == 422 and 'id="assign-team-error"' in gone_team.text
    moved = client.post(f"/tickets/{ticket_id}/assign", follow_redirects=False,
                        data={"assignee": "none", "team": str(other_team.id), "version": "2"})
    assert moved.status_code == 303
    ticket = ticket_service.get(fresh(session), ticket_id=ticket_id, user=None)
    assert ticket.team_id == other_team.id and ticket.assignee_id is None
    # The supervisor assigns anyone of the site, the other team's agent too.
    signed_in_client(client, desk.supervisor)
    assert "Cai Outsider" in client.get(f"/tickets/{ticket_id}").text
    assert client.post(f"/tickets/{ticket_id}/assign", follow_redirects=False,
                       data={"assignee": str(outsider.id), "version": "3"}).status_code == 303
    events = ticket_service.timeline_for(fresh(session), ticket_id=ticket_id, user=None)
    assert [e.to_value for e in events if e.field == "assignee_id"][-1] == str(outsider.id)


def test_tags_are_added_and_removed_with_errors_beside_the_field(client: TestClient, session: Session,
                                                                  desk: Desk) -> None:
    ticket_id = _ticket(session, desk)
    signed_in_client(client, desk.agent)
    added = client.post(f"/tickets/{ticket_id}/tags", data={"tag": "Late Delivery", "version": "1"},
                        follow_redirects=False)
    assert added.status_code == 303
    page = client.get(f"/tickets/{ticket_id}")
    assert '<span class="badge">Late Delivery</span>' in page.text and "Tag added" in page.text
    bad = client.post(f"/tickets/{ticket_id}/tags", data={"tag": "no\x07bells", "version": "2"})
    assert bad.status_code == 422 and 'id="tag-new-error"' in bad.text and "control character" in bad.text
    empty = client.post(f"/tickets/{ticket_id}/tags", data={"tag": " ", "version": "2"})
    assert empty.status_code == 422 and 'id="tag-new-error"' in empty.text
    stale = client.post(f"/tickets/{ticket_id}/tags", data={"tag": "vip", "version": "1"})
    assert stale.status_code == 409 and 'id="tags-version-error"' in stale.text
    removed = client.post(f"/tickets/{ticket_id}/tags/remove", data={"tag": "late delivery", "version": "2"},
                          headers=HX)
    assert removed.status_code == 200 and '<span class="badge">Late Delivery</span>' not in removed.text
    assert "Tag removed: Late Delivery" in removed.text  # the timeline says which tag went
    assert ticket_service.tags_of(fresh(session), ticket_id=ticket_id) == []


def test_complaint_reply_is_recorded_and_stops_the_reply_clock(client: TestClient, session: Session, desk: Desk,
                                                              clock) -> None:  # type: ignore[no-untyped-def]
    inquiry = _ticket(session, desk)
    ticket_id = _ticket(session, desk, category="complaint")
    signed_in_client(client, desk.agent)
    assert 'id="reply-form"' not in client.get(f"/tickets/{inquiry}").text
    refused = client.post(f"/tickets/{inquiry}/reply", data={"channel": "phone", "summary": "x", "version": "1"})
    assert refused.status_code == 422 and "not a complaint" in refused.text
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="reply-form"' in page.text and "Reply due" in page.text
    version = str(ticket_service.get(fresh(session), ticket_id=ticket_id, user=None).version)
    no_text = client.post(f"/tickets/{ticket_id}/reply", data={"channel": "phone", "summary": " ", "version": version})
    assert no_text.status_code == 422 and 'id="reply-summary-error"' in no_text.text
    bad_channel = client.post(f"/tickets/{ticket_id}/reply",
                              data={"channel": "pigeon", "summary": "Refund agreed", "version": version})
    assert bad_channel.status_code == 422 and 'id="reply-channel-error"' in bad_channel.text
    assert "Refund agreed" in bad_channel.text  # what was typed stays
    clock.advance(hours=2)
    done = client.post(f"/tickets/{ticket_id}/reply", follow_redirects=False,
                       data={"channel": "phone", "summary": "Refund agreed", "version": version})
    assert done.status_code == 303
    ticket = ticket_service.get(fresh(session), ticket_id=ticket_id, user=None)
    assert ticket.replied_at == clock.now() and ticket.first_response_at is not None
    page = client.get(f"/tickets/{ticket_id}")
    assert 'id="reply-answered"' in page.text and "on time" in page.text and 'id="reply-form"' not in page.text
    assert "Refund agreed" in page.text and "Complaint answered" in page.text


def test_a_ticket_is_assigned_only_to_someone_who_works_tickets(client: TestClient, session: Session,
                                                               desk: Desk) -> None:
    """A QA inspector reads tickets but cannot work one (nor open the ticket pages): the
    supervisor's list of assignees left them in, and the ticket went to someone who could do
    nothing with it."""
    qa_name = fresh(session).get(type(desk.qa), desk.qa.id).display_name
    ticket_id = _ticket(session, desk)
    signed_in_client(client, desk.supervisor)
    page = client.get(f"/tickets/{ticket_id}").text
    options = page.split('id="assign-assignee"', 1)[1].split("</select>", 1)[0]
    assert "Bo Teammate" in options and f'value="{desk.qa.id}"' not in options and qa_name not in options
    refused = client.post(f"/tickets/{ticket_id}/assign", data={"assignee": str(desk.qa.id), "version": "1"})
    assert refused.status_code == 422 and 'id="assign-assignee-error"' in refused.text
    assert ticket_service.get(fresh(session), ticket_id=ticket_id, user=None).assignee_id != desk.qa.id


def test_a_chinese_agent_tags_in_chinese(client: TestClient, session: Session, desk: Desk) -> None:
    """Chinese tags were refused ("a short word" of ASCII letters); now shown as typed."""
    from core import users

    ticket_id = _ticket(session, desk)
    users.set_locale(session, user_id=desk.agent.id, locale="zh_Hans")
    session.commit()
    signed_in_client(client, desk.agent)
    added = client.post(f"/tickets/{ticket_id}/tags", data={"tag": " 周一起 断线 ", "version": "1"}, headers=HX)
    assert added.status_code == 200 and '<span class="badge">周一起 断线</span>' in added.text, added.text
    again = client.post(f"/tickets/{ticket_id}/tags", data={"tag": "周一起  断线", "version": "2"}, headers=HX)
    assert again.status_code == 200 and again.text.count('<span class="badge">周一起 断线</span>') == added.text.count('<span class="badge">周一起 断线</span>')
    bad = client.post(f"/tickets/{ticket_id}/tags", data={"tag": "断\x00线", "version": "2"}, headers=HX)
    assert bad.status_code == 422 and "控制字符" in bad.text
    found = client.get("/tickets", params={"tag": "周一起 断线"})
    assert found.status_code == 200 and f'href="/tickets/{ticket_id}"' in found.text
    assert ticket_service.tags_of(fresh(session), ticket_id=ticket_id) == ["周一起 断线"]
