"""The webhooks through the real app: idempotent, order-tolerant, safe with unknown calls, and
never dropping a caller (hang-ups while queued or offered, declines, a dropped agent, a queue
that refuses the call, the database down)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import db
from core.storage import get_storage
from telephony import spool
from telephony.models import Call, CallEvent, Offer, QueueEntry, Recording
from telephony.models.routing import AgentPresence
from telephony.simulator.twiml import parse
from telephony.webhooks import REPLAY
from tests.conftest import pg_only
from tests.tickets.factories_customers import published  # noqa: F401 (fixture)
from tests.factories import fresh, make_api_token
from tests.telephony.hub import CALLER, Hub, available, post_webhook, voice_params
from tickets.models.tickets import Ticket, TicketRecording


def _count(session: Session, model: type) -> int:
    fresh(session)
    return session.scalar(select(func.count()).select_from(model)) or 0


def _call(session: Session, sid: str) -> Call:
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    assert call is not None
    return call


def _queued(sim, hub: Hub, session: Session) -> str:  # noqa: ANN001
    sid = sim.place_call(CALLER)
    sim.pump()
    sim.press(sid, "2")
    sim.pump()
    return sid


# Idempotence and order ------------------------------------------------------------------------

def test_retried_voice_and_menu_make_one_call_one_ticket(client, hub: Hub, session) -> None:
    params = voice_params()
    for _ in range(2):
        response = post_webhook(client, "/twilio/voice", params)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
        assert [v.name for v in parse(response.text)] == ["Gather", "Say", "Redirect"]
    menu = {**params, "CallStatus": "in-progress", "Digits": "1"}
    for _ in range(2):
        response = post_webhook(client, "/twilio/menu?lang=zh-CN", menu)
        assert [v.name for v in parse(response.text)][0] == "Enqueue"
    assert _count(session, Call) == 1
    assert _count(session, Ticket) == 1
    assert _count(session, QueueEntry) == 1
    assert _count(session, CallEvent) == 4


def test_status_never_moves_backwards(client, hub: Hub, session) -> None:
    params = voice_params()
    post_webhook(client, "/twilio/voice", params)
    for status in ("completed", "in-progress", "ringing", "completed"):
        assert post_webhook(client, "/twilio/status", {**params, "CallStatus": status, "CallDuration": "7"}
                            ).status_code == 204
    call = _call(session, params["CallSid"])
    assert call.status == "completed" and call.duration_seconds == 7


def test_unknown_call_status_is_ignored_and_logged_without_the_number(client, hub, session, caplog) -> None:
    params = voice_params(status="completed")
    with caplog.at_level(logging.INFO):
        response = post_webhook(client, "/twilio/status", params)
    assert response.status_code == 204
    assert _count(session, Call) == 0 and _count(session, CallEvent) == 0
    assert params["CallSid"] in caplog.text
    assert CALLER not in caplog.text and CALLER[3:] not in caplog.text


def test_event_log_keeps_no_personal_data(client, hub: Hub, session) -> None:
    params = voice_params(SpeechResult="my card number is 1234")
    post_webhook(client, "/twilio/voice", params)
    event = session.scalar(select(CallEvent))
    assert event is not None and event.params["CallSid"] == params["CallSid"]
    assert not {"From", "To", "Caller", "Called", "SpeechResult", "FromCountry"} & set(event.params)


# Hanging up, declining, dropping -----------------------------------------------------------------

def test_caller_hangs_up_while_queued(client, sim, hub: Hub, session) -> None:
    sid = _queued(sim, hub, session)
    sim.hangup(sid)
    sim.pump()
    fresh(session)
    entry = session.scalar(select(QueueEntry))
    assert entry is not None and entry.state == "abandoned"
    assert _call(session, sid).status == "canceled" or _call(session, sid).status == "completed"


def test_caller_hangs_up_while_offered(client, sim, hub: Hub, session) -> None:
    available(session, hub.agent)
    sid = _queued(sim, hub, session)
    phone = sim.phone(f"agent_{hub.agent.id}")
    assert phone.ringing()
    sim.hangup(sid)
    sim.pump()
    assert phone.ringing() == []  # the hub stopped the agent's phone
    fresh(session)
    offer = session.scalar(select(Offer))
    assert offer is not None and offer.state == "withdrawn"
    assert session.get(AgentPresence, hub.agent.id).state == "available"
    legs = session.scalars(select(Call).where(Call.leg == "agent")).all()
    assert [leg.status for leg in legs] == ["canceled"]


def test_declined_offer_goes_to_the_next_agent(client, sim, hub: Hub, session, clock) -> None:
    available(session, hub.agent, hub.other_agent)
    sid = _queued(sim, hub, session)
    clock.advance(seconds=2)  # the decliner goes to the back of the idle line
    first = next(p for p in (sim.phone(f"agent_{hub.agent.id}"), sim.phone(f"agent_{hub.other_agent.id}"))
                 if p.ringing())
    first.decline()
    sim.pump()
    other = sim.phone(f"agent_{hub.other_agent.id if first.identity.endswith(str(hub.agent.id)) else hub.agent.id}")
    assert other.ringing()
    other.answer()
    sim.advance(3)
    assert any("[joined" in line for line in sim.heard(sid))


def test_agent_hangs_up_from_the_desktop_and_the_caller_hears_goodbye(client, sim, hub, session) -> None:
    available(session, hub.agent)
    token = make_api_token(session, hub.agent)
    sid = _queued(sim, hub, session)
    response = client.post("/api/v1/phone/answer", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    sim.pump()
    sim.advance(30)
    response = client.post("/api/v1/phone/hangup", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    sim.advance(3)
    assert sim.call(sid).status == "completed"
    assert sim.heard(sid)[-1] == "感谢您的来电，再见。"
    fresh(session)
    assert session.get(AgentPresence, hub.agent.id).state == "wrap_up"


def test_agent_browser_drops_and_the_caller_goes_back_to_the_queue(client, sim, hub, session) -> None:
    available(session, hub.agent)
    sid = _queued(sim, hub, session)
    first = sim.phone(f"agent_{hub.agent.id}")
    first.answer()
    sim.pump()
    available(session, hub.other_agent)
    sim.advance(20)
    first.hangup()  # the browser went away: no hang-up through the hub
    sim.pump()
    second = sim.phone(f"agent_{hub.other_agent.id}")
    assert second.ringing(), sim.heard(sid)
    second.answer()
    sim.advance(3)
    assert sim.call(sid).alive and sim.heard(sid).count(f"[joined hotline-call-{_call(session, sid).id}]") == 2
    fresh(session)
    entry = session.scalar(select(QueueEntry))
    assert entry is not None and entry.state == "connected"
    assert session.get(AgentPresence, hub.other_agent.id).state == "on_call"
    assert session.get(AgentPresence, hub.agent.id).state in ("wrap_up", "away", "available")


# Waiting: the wait limit, voicemail and callback ------------------------------------------------

def test_after_the_wait_limit_the_caller_leaves_a_voicemail(client, sim, hub, session) -> None:
    sid = _queued(sim, hub, session)
    sim.advance(180)
    assert sim.run_until(lambda: sim.listening(sid), within=60)
    assert sim.press(sid, "1")
    sim.pump()
    sim.advance(10)
    assert sim.call(sid).status == "completed"
    fresh(session)
    entry = session.scalar(select(QueueEntry))
    assert entry is not None and entry.state == "voicemail"
    recording = session.scalar(select(Recording))
    assert recording is not None and recording.kind == "voicemail" and recording.copied_at is not None
    attached = session.scalar(select(TicketRecording))
    assert attached is not None and attached.kind == "voicemail"
    ticket = session.get(Ticket, attached.ticket_id)
    assert ticket.callback_due_at is not None


def test_a_callback_keeps_the_place_in_line(client, sim, hub, session) -> None:
    sid = _queued(sim, hub, session)
    sim.advance(180)
    assert sim.run_until(lambda: sim.listening(sid), within=60)
    assert sim.press(sid, "2")
    sim.pump()
    sim.advance(5)
    assert sim.call(sid).status == "completed"
    fresh(session)
    call = _call(session, sid)
    assert call.after_queue == "callback"
    ticket = session.get(Ticket, call.ticket_id)
    assert ticket is not None and ticket.callback_due_at is not None
    assert session.scalar(select(QueueEntry)).state == "callback"


def test_queue_full_sends_the_caller_to_voicemail(client, hub: Hub, session) -> None:
    params = voice_params()
    post_webhook(client, "/twilio/voice", params)
    post_webhook(client, "/twilio/menu", {**params, "Digits": "1"})
    response = post_webhook(client, "/twilio/queue-result", {**params, "QueueResult": "queue-full", "QueueTime": "0"})
    assert [v.name for v in parse(response.text)] == ["Say", "Say", "Record", "Say", "Hangup"]
    fresh(session)
    assert session.scalar(select(QueueEntry)).state == "voicemail"


def test_closed_site_goes_straight_to_voicemail(client, hub: Hub, session, clock) -> None:
    from tickets import calendar

    for weekday in range(7):
        calendar.set_opening_hours(session, site_id=hub.site.id, weekday=weekday, ranges=[("09:00", "10:00")])
    session.commit()
    params = voice_params()
    response = post_webhook(client, "/twilio/voice", params)
    assert [v.name for v in parse(response.text)] == ["Say", "Record", "Say", "Hangup"]
    call = _call(session, params["CallSid"])
    assert (call.menu_choice, call.after_queue) == ("closed", "voicemail")
    # Twilio retrying the webhook finds the same call, still closed.
    assert [v.name for v in parse(post_webhook(client, "/twilio/voice", params).text)][:2] == ["Say", "Record"]
    assert _count(session, Call) == 1


# The database down --------------------------------------------------------------------------------

@pytest.fixture
def broken_database(settings):  # type: ignore[no-untyped-def]
    working = db.get_engine()
    broken = db.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/nowhere", pool_pre_ping=False)
    db.configure_engine(broken)
    yield working
    db.configure_engine(working)
    broken.dispose()


def test_database_down_caller_leaves_a_voicemail_that_is_kept(client, hub, session, broken_database) -> None:
    params = voice_params()
    response = post_webhook(client, "/twilio/voice", params)
    assert response.status_code == 200
    verbs = parse(response.text)
    assert [v.name for v in verbs] == ["Say", "Say", "Record", "Hangup"]
    recording_sid = "RE" + "a" * 32
    callback = {"AccountSid": params["AccountSid"], "CallSid": params["CallSid"], "RecordingSid": recording_sid,
                "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{params['AccountSid']}/Recordings/"
                                f"{recording_sid}", "RecordingStatus": "completed", "RecordingDuration": "12",
                "RecordingChannels": "1", "RecordingSource": "RecordVerb", "ErrorCode": "0"}
    assert post_webhook(client, "/twilio/recording?kind=voicemail", callback).status_code == 204
    assert post_webhook(client, "/twilio/voicemail-done?degraded=1",
                        {**params, "RecordingSid": recording_sid, "RecordingUrl": callback["RecordingUrl"],
                         "RecordingDuration": "12", "Digits": "#"}).status_code == 200
    files = spool.pending()
    assert len(files) == 3 and CALLER.encode() not in b"".join(get_storage().get(key) for key in files)

    assert spool.replay(REPLAY) == 0  # still down: nothing applied, nothing lost
    assert len(spool.pending()) == 3
    db.configure_engine(broken_database)
    assert spool.replay(REPLAY) == 3
    assert spool.pending() == []
    call = _call(session, params["CallSid"])
    assert call.degraded and call.from_index is not None
    recording = session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
    assert recording is not None and recording.kind == "voicemail" and recording.status == "completed"
    attached = session.scalar(select(TicketRecording).where(TicketRecording.recording_ref == recording_sid))
    assert attached is not None and attached.kind == "voicemail"


@pg_only()
def test_a_new_call_is_one_statement_committing_on_its_own(client, hub: Hub, session: Session, published) -> None:
    """On PostgreSQL the incoming call's INSERT (caller ID and log line included) runs in
    autocommit: no BEGIN or COMMIT round trips. The call's event is still published."""
    from sqlalchemy import event

    seen: list[tuple[str, bool]] = []

    def spy(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append((statement.split()[0], conn.connection.dbapi_connection.autocommit))

    # A first call reads the IVR settings and the site's calendar, which are then remembered.
    assert post_webhook(client, "/twilio/voice", voice_params()).status_code == 200
    engine = db.get_engine()
    event.listen(engine, "before_cursor_execute", spy)
    try:
        params = voice_params()
        assert post_webhook(client, "/twilio/voice", params).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert seen == [("WITH", True)]
    call = _call(session, params["CallSid"])
    assert call.status == "ringing"
    assert [event.payload["call_id"] for event in published.of("call.incoming")][-1] == call.id


@pg_only()
def test_connection_dropped_by_the_server_is_retried_not_sent_to_voicemail(client, hub, session, settings) -> None:
    # Pools do not pre-ping (core.db): a pooled connection the server has dropped fails the
    # webhook's first statement, and the webhook retries once on a fresh connection, so the
    # caller hears the menu rather than the apology, and nothing is spooled.
    from sqlalchemy import text

    working = db.get_engine()
    single = db.make_engine(settings.effective_database_url, pool_size=1, max_overflow=0)
    db.configure_engine(single)
    try:
        with single.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with working.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()
        params = voice_params()
        response = post_webhook(client, "/twilio/voice", params)
        assert [v.name for v in parse(response.text)] == ["Gather", "Say", "Redirect"]
        assert spool.pending() == []
        assert _call(session, params["CallSid"]).degraded is False
    finally:
        db.configure_engine(working)
        single.dispose()


def test_a_known_caller_is_identified_on_the_incoming_call_and_an_unknown_one_gets_the_default_site(
        client, hub: Hub, session: Session) -> None:
    from tests.factories import make_site
    from tests.tickets.factories_customers import make_customer

    other_site = make_site(session)
    customer = make_customer(session, site=other_site, owner=hub.agent, tier="diamond")
    number = customer.primary_phone.number
    known, unknown, withheld = (voice_params(from_=number), voice_params(from_="+8613912345678"),
                                voice_params(from_="anonymous"))
    for params in (known, unknown, withheld):
        assert post_webhook(client, "/twilio/voice", params).status_code == 200
    call = _call(session, known["CallSid"])
    assert (call.customer_id, call.tier, call.site_id, call.owning_agent_id) == (
        customer.id, "diamond", other_site.id, hub.agent.id)
    assert call.from_index is not None
    for params in (unknown, withheld):
        call = _call(session, params["CallSid"])
        assert (call.customer_id, call.tier, call.owning_agent_id) == (None, None, None)
        assert call.site_id == hub.site.id  # the first site set up
    assert _call(session, withheld["CallSid"]).from_index is None
    # Each call's first webhook was logged with it, without the number.
    fresh(session)
    logged = session.scalars(select(CallEvent).where(CallEvent.call_sid == known["CallSid"])).all()
    assert [event.kind for event in logged] == ["voice"] and "From" not in logged[0].params


def test_a_call_whose_voice_webhook_was_lost_is_identified_on_its_next_one(client, hub: Hub, session: Session) -> None:
    from tests.tickets.factories_customers import make_customer

    customer = make_customer(session, site=hub.site, tier="diamond")
    params = voice_params(from_=customer.primary_phone.number, Digits="1")
    assert post_webhook(client, "/twilio/menu", params).status_code == 200
    call = _call(session, params["CallSid"])
    assert (call.customer_id, call.tier, call.site_id) == (customer.id, "diamond", hub.site.id)


def test_the_callbacks_a_call_makes_most_are_matched_first(settings) -> None:
    """Routes are matched in order, each tried at a cost (FastAPI's router, some microseconds a
    route): the status and conference callbacks, ten of a call's eighteen webhooks, are tried
    first, before every other route of the app."""
    from hotline.app import create_app

    app = create_app(settings, start_background=False)
    first = app.router.routes[0]
    paths = [getattr(route, "path", "") for route in getattr(first, "original_router", first).routes]
    assert paths[:3] == ["/twilio/status", "/twilio/conference/events", "/twilio/recording"], paths[:6]
