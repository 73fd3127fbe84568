"""The JSON API: forecast, a refused swap with every rule in the body, permissions by role."""

from __future__ import annotations

from datetime import date

from tests.factories import make_api_token
from tests.scheduling.conftest import assign


def _auth(session, user):  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_api_token(session, user)}"}


def test_forecast_endpoint(client, session, world) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/scheduling/forecast", headers=_auth(session, world.agents[0]),
                           json={"calls": [100, 0], "aht_seconds": 180, "shrinkage_percent": 30})
    assert response.status_code == 200, response.text
    first = response.json()["data"][0]
    assert first["agents"] == 14 and first["scheduled_agents"] == 20
    assert client.post("/api/scheduling/forecast", json={"calls": [1], "aht_seconds": 1}).status_code == 401


def test_refused_swap_lists_every_rule(client, session, world) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    shift = assign(session, world, me, date(2026, 1, 12))
    response = client.post("/api/scheduling/swaps", headers=_auth(session, me),
                           json={"shift_id": shift.id, "partner_id": me.id})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "swap_rules_violated"
    assert [e["rule"] for e in body["errors"]] == ["swap.self"]
    response = client.post("/api/scheduling/swaps", headers=_auth(session, me),
                           json={"shift_id": shift.id, "partner_id": world.agents[3].id})
    assert response.status_code == 422
    assert body["errors"][0]["msg"]
    assert [e["rule"] for e in response.json()["errors"]] == ["swap.skill_level"]
    assert response.json()["errors"][0]["params"]["partner_level"] == 1


def test_leave_approval_needs_the_level(client, session, world) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    created = client.post("/api/scheduling/leave", headers=_auth(session, me),
                          json={"kind": "personal", "start": "2026-01-12T00:00:00+01:00",
                                "end": "2026-01-13T00:00:00+01:00"})
    assert created.status_code == 201, created.text
    leave_id = created.json()["id"]
    assert client.post(f"/api/scheduling/leave/{leave_id}/approve", headers=_auth(session, world.leader),
                       json={}).status_code == 403
    approved = client.post(f"/api/scheduling/leave/{leave_id}/approve", headers=_auth(session, world.supervisor),
                           json={"note": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"


def test_notice_and_roster_endpoints(client, session, world) -> None:  # type: ignore[no-untyped-def]
    leader = _auth(session, world.leader)
    agent = _auth(session, world.agents[0])
    assert client.post("/api/scheduling/notices", headers=agent, json={"title": "x", "body": "y"}).status_code == 403
    notice = client.post("/api/scheduling/notices", headers=leader, json={"title": "Heads up", "body": "Text"}).json()
    assert client.get("/api/scheduling/notices?unread=true", headers=agent).json()["count"] == 1
    assert client.post(f"/api/scheduling/notices/{notice['id']}/ack", headers=agent).status_code == 200
    receipts = client.get(f"/api/scheduling/notices/{notice['id']}/receipts", headers=leader).json()
    assert world.agents[0].id in [r["user_id"] for r in receipts["read"]]
    plan = client.post("/api/scheduling/rosters", headers=leader,
                       json={"site_id": world.site.id, "first_day": "2026-01-12", "last_day": "2026-01-13"}).json()
    job = client.post(f"/api/scheduling/rosters/{plan['id']}/jobs", headers=leader,
                      json={"demand": {"": [1] * 96}, "time_limit_seconds": 5})
    assert job.status_code == 202 and job.json()["status"] == "queued"
    progress = client.get(f"/api/scheduling/roster-jobs/{job.json()['id']}", headers=leader)
    assert progress.status_code == 200 and progress.json()["roster_id"] == plan["id"]


def test_history_forecast_withdrawal_days_off_and_certificates(client, session, world, clock) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from scheduling import notices
    from tests.scheduling.test_history import _monday_morning

    _monday_morning(session, clock, world, datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    clock.set(datetime(2026, 1, 12, 6, 0, tzinfo=UTC))
    leader, agent = _auth(session, world.leader), _auth(session, world.agents[0])
    url = f"/api/scheduling/forecast/history?site_id={world.site.id}&start=2026-01-12&days=1&weeks=1"
    body = client.get(url + "&with_abandons=true", headers=leader).json()
    assert body["model"] == "erlang_a" and body["count"] == 48 and body["history"]["offered"] == 2
    assert body["history"]["patience_seconds"] == 60 and sum(r["calls"] for r in body["data"]) == 2
    assert client.get(url, headers=agent).status_code == 403
    assert client.get(url.replace("days=1", "days=90"), headers=leader).status_code == 422

    notice = notices.publish_notice(session, title="T", body="B", by=world.leader)
    session.commit()
    withdrawn = client.post(f"/api/scheduling/notices/{notice.id}/withdraw", headers=leader, json={"reason": "x"})
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
    assert client.post(f"/api/scheduling/notices/{notice.id}/withdraw", headers=leader, json={}).status_code == 409

    asked = client.post("/api/scheduling/days-off", headers=agent, json={"day": "2026-01-20"})
    assert asked.status_code == 201 and asked.json()["day"] == "2026-01-20"
    assert client.post("/api/scheduling/days-off", headers=agent, json={"day": "2026-01-01"}).status_code == 422
    assert client.delete(f"/api/scheduling/days-off/{asked.json()['id']}", headers=agent).status_code == 204
    assert client.get("/api/scheduling/leave/certificates", headers=leader).json() == {"data": [], "count": 0}
    assert client.get("/api/scheduling/leave/certificates", headers=agent).status_code == 403


def test_scheduling_settings_are_read_by_all_and_changed_by_admins(client, session, world) -> None:  # type: ignore[no-untyped-def]
    from core.models import Role
    from tests.factories import make_user

    agent, admin = _auth(session, world.agents[0]), _auth(session, make_user(session, role=Role.admin))
    supervisor = _auth(session, world.supervisor)
    settings = client.get("/api/scheduling/settings", headers=agent).json()
    assert settings["skill_level_tolerance"] == 1 and settings["handover_accept_minutes"] == 30
    assert client.put("/api/scheduling/settings/skill_level_tolerance?value=2", headers=supervisor).status_code == 403
    assert client.put("/api/scheduling/settings/skill_gap?value=2", headers=admin).status_code == 422
    assert client.put("/api/scheduling/settings/skill_level_tolerance?value=-1", headers=admin).status_code == 422
    changed = client.put("/api/scheduling/settings/skill_level_tolerance?value=2", headers=admin)
    assert changed.status_code == 200 and changed.json()["skill_level_tolerance"] == 2


def test_leave_refusal_through_the_api_carries_its_reason(client, session, world) -> None:  # type: ignore[no-untyped-def]
    me = world.agents[0]
    shift = assign(session, world, me, date(2026, 1, 12))
    agent, supervisor = _auth(session, me), _auth(session, world.supervisor)
    asked = client.post("/api/scheduling/leave", headers=agent, json={
        "kind": "personal", "start": shift.start_at.isoformat(), "end": shift.end_at.isoformat()})
    assert asked.status_code == 201, asked.text
    leave_id = asked.json()["id"]
    bad = client.post(f"/api/scheduling/leave/{leave_id}/refuse", headers=supervisor, json={"reason": "mood"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["reason"]
    refused = client.post(f"/api/scheduling/leave/{leave_id}/refuse", headers=supervisor,
                          json={"reason": "notice", "note": "Ask a week ahead next time"})
    assert refused.status_code == 200 and refused.json()["refusal"]["reason"] == "leave.refused.notice"
    mine = client.get("/api/scheduling/leave", headers=agent).json()["data"][0]
    assert mine["status"] == "refused" and mine["refusal"]["note"] == "Ask a week ahead next time"


def test_forecast_numbers_beyond_any_hotline_are_refused_not_a_server_error(client, session, world) -> None:  # type: ignore[no-untyped-def]
    """The fuzzer's find: a huge call count or handle time reached infinity in the queueing model
    (a 500), and an occupancy cap near zero made one request run for minutes."""
    auth = _auth(session, world.agents[0])
    for body in ({"calls": [1e308], "aht_seconds": 300}, {"calls": [10], "aht_seconds": 1e308},
                 {"calls": [10], "aht_seconds": 300, "patience_seconds": 1e308},
                 {"calls": [10], "aht_seconds": 300, "max_occupancy_percent": 1},
                 {"calls": [1] * 3000, "aht_seconds": 300}):
        refused = client.post("/api/scheduling/forecast", headers=auth, json=body)
        assert refused.status_code == 422, (body if len(str(body)) < 200 else "3000 intervals", refused.text[:300])
    busy = client.post("/api/scheduling/forecast", headers=auth,
                       json={"calls": [90_000], "aht_seconds": 600, "patience_seconds": 120})
    assert busy.status_code == 422 and "2,000 erlangs" in busy.json()["detail"]
    edge = client.post("/api/scheduling/forecast", headers=auth,
                       json={"calls": [7_000], "aht_seconds": 500, "patience_seconds": 3600, "target_percent": 99.9,
                             "target_seconds": 0, "max_occupancy_percent": 50})
    assert edge.status_code == 200 and edge.json()["data"][0]["agents"] >= 3_889
