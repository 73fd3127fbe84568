"""The JSON API end to end through the real app: roles (401, 403), object checks (404, 403 for a
recording the inspector may not hear, blind calibration), and the happy paths."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.audit import entries_for
from qa import scorecards
from tests.factories import fresh, make_api_token
from tests.qa.conftest import default_answers, evaluate, record_call


def _auth(session, user):  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_api_token(session, user)}"}


@pytest.fixture
def card(session):  # type: ignore[no-untyped-def]
    found = scorecards.seed_default(session)
    session.commit()
    return found


def test_scorecards(client, session, world) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/qa/scorecards").status_code == 401
    listed = client.get("/api/qa/scorecards", headers=_auth(session, world.agents[0]))
    assert listed.status_code == 200 and listed.json()["count"] == 1
    card_id = listed.json()["data"][0]["id"]
    detail = client.get(f"/api/qa/scorecards/{card_id}", headers=_auth(session, world.agents[0])).json()
    assert detail["sections"][0]["title_zh"] == "服务用语" and detail["definition"]["code"] == "default"
    assert client.get("/api/qa/scorecards/999", headers=_auth(session, world.agents[0])).status_code == 404
    definition = detail["definition"]
    definition["sections"][0]["weight"] = 30
    inspector = client.post("/api/qa/scorecards/default/versions", json=definition,
                            headers=_auth(session, world.inspector))
    assert inspector.status_code == 403
    created = client.post("/api/qa/scorecards/default/versions", json=definition, headers=_auth(session, world.admin))
    assert created.status_code == 201 and created.json()["version"] == 2
    definition["sections"][0]["weight"] = None
    refused = client.post("/api/qa/scorecards/default/versions", json=definition, headers=_auth(session, world.admin))
    assert refused.status_code == 422 and refused.json()["errors"]


def test_scoring_flow_and_agent_side(client, session, world, clock, card, tmp_path) -> None:  # type: ignore[no-untyped-def]
    recording = record_call(session, agent=world.agents[0], started_at=clock.now(), with_media=True)
    # Tokens first: the test's session must not write after it has read what the app wrote (SQLite).
    inspector, agent = _auth(session, world.inspector), _auth(session, world.agents[0])
    teammate, far_inspector = _auth(session, world.agents[1]), _auth(session, world.far_inspector)
    supervisor = _auth(session, world.supervisor)
    assert client.post("/api/qa/evaluations", json={"recording_id": recording.id}, headers=agent).status_code == 403
    far = client.post("/api/qa/evaluations", json={"recording_id": recording.id}, headers=far_inspector)
    assert far.status_code == 403 and "may not hear" in far.json()["detail"]
    created = client.post("/api/qa/evaluations", json={"recording_id": recording.id}, headers=inspector)
    assert created.status_code == 201, created.text
    evaluation_id = created.json()["id"]
    bad = client.put(f"/api/qa/evaluations/{evaluation_id}", headers=inspector,
                     json={"answers": [{"question_id": card.questions[0].id, "value": 9}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["answers", card.questions[0].id]
    saved = client.put(f"/api/qa/evaluations/{evaluation_id}", headers=inspector,
                       json={"answers": default_answers(card, courtesy=4)})
    assert saved.status_code == 200 and saved.json()["status"] == "draft"
    note = client.post(f"/api/qa/evaluations/{evaluation_id}/notes", headers=inspector,
                       json={"at_seconds": 42, "body": "Interrupted the caller."})
    assert note.status_code == 201
    assert client.get(f"/api/qa/evaluations/{evaluation_id}", headers=agent).status_code == 404  # still a draft
    submitted = client.post(f"/api/qa/evaluations/{evaluation_id}/submit", headers=inspector)
    assert submitted.status_code == 200 and submitted.json()["score"] == 95.31
    again = client.put(f"/api/qa/evaluations/{evaluation_id}", headers=inspector, json={"answers": []})
    assert again.status_code == 409

    player = client.get(f"/api/qa/evaluations/{evaluation_id}/player", headers=agent).json()
    assert player["notes"][0]["body"] == "Interrupted the caller." and player["scorecard"]["code"] == "default"
    listen = client.get(player["audio_url"], headers=agent)
    assert listen.status_code == 200 and listen.headers["content-type"] == "audio/wav"
    assert client.get(player["audio_url"], headers=teammate).status_code == 403
    assert client.get(player["audio_url"], headers=far_inspector).status_code == 403
    assert client.get(player["audio_url"], headers=inspector).status_code == 200
    fresh(session)
    listened = entries_for(session, object_type="recording", object_id=recording.id, action_prefix="recording.listened")
    assert {e.actor_id for e in listened} == {world.agents[0].id, world.inspector.id}
    session.rollback()  # end the read, so the app's writers never wait on this session

    mine = client.get("/api/qa/evaluations", headers=agent).json()
    assert mine["count"] == 1 and mine["data"][0]["id"] == evaluation_id
    courtesy = next(q.id for q in card.questions if q.code == "courtesy")
    disputed = client.post(f"/api/qa/evaluations/{evaluation_id}/dispute", headers=agent,
                           json={"question_ids": [courtesy], "reason": "I was polite."})
    assert disputed.status_code == 201, disputed.text
    dispute_id = disputed.json()["id"]
    assert client.post(f"/api/qa/disputes/{dispute_id}/arbitrate", headers=inspector,
                       json={"decision": "uphold", "reason": "x"}).status_code == 403
    decided = client.post(f"/api/qa/disputes/{dispute_id}/arbitrate", headers=supervisor,
                          json={"decision": "revise", "reason": "Polite indeed.",
                                "answers": [{"question_id": courtesy, "value": 5}]})
    assert decided.status_code == 200 and decided.json()["score"] == 100.0
    timeline = client.get(f"/api/qa/evaluations/{evaluation_id}/timeline", headers=agent).json()["data"]
    assert [e["kind"] for e in timeline] == ["created", "submitted", "disputed", "revised"]
    assert timeline[-1]["from_score"] == 95.31 and timeline[-1]["to_score"] == 100.0
    assert client.get("/api/qa/evaluations/999999", headers=agent).status_code == 404


def test_dispute_after_the_window_and_acknowledge(client, session, world, clock, card) -> None:  # type: ignore[no-untyped-def]
    evaluation = evaluate(session, by=world.inspector, agent=world.agents[0], started_at=clock.now(), courtesy=3)
    agent = _auth(session, world.agents[0])
    clock.advance(days=8)
    courtesy = next(q.id for q in card.questions if q.code == "courtesy")
    late = client.post(f"/api/qa/evaluations/{evaluation.id}/dispute", headers=agent,
                       json={"question_ids": [courtesy], "reason": "late"})
    assert late.status_code == 422 and "window has closed" in late.json()["detail"]
    acknowledged = client.post(f"/api/qa/evaluations/{evaluation.id}/acknowledge", headers=agent)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"


def test_calibration_is_blind_until_submitted(client, session, world, clock, card) -> None:  # type: ignore[no-untyped-def]
    recording = record_call(session, agent=world.agents[0], started_at=clock.now())
    expert, other, outsider = (_auth(session, u) for u in (world.inspector, world.team_inspector, world.far_inspector))
    created = client.post("/api/qa/calibrations", headers=_auth(session, world.supervisor),
                          json={"recording_id": recording.id, "expert_id": world.inspector.id,
                                "inspector_ids": [world.team_inspector.id]})
    assert created.status_code == 201, created.text
    calibration_id = created.json()["id"]
    for headers in (expert, other):
        mine = client.post(f"/api/qa/calibrations/{calibration_id}/evaluation", headers=headers).json()
        client.put(f"/api/qa/evaluations/{mine['id']}", headers=headers, json={"answers": default_answers(card)})
        if headers is expert:
            assert client.post(f"/api/qa/evaluations/{mine['id']}/submit", headers=headers).status_code == 200
            peek = client.get(f"/api/qa/calibrations/{calibration_id}/report", headers=other)
            assert peek.status_code == 403 and "Submit your own" in peek.json()["detail"]
            assert client.get(f"/api/qa/evaluations/{mine['id']}", headers=other).status_code == 403
        else:
            client.post(f"/api/qa/evaluations/{mine['id']}/submit", headers=headers)
    report = client.get(f"/api/qa/calibrations/{calibration_id}/report", headers=other)
    assert report.status_code == 200 and report.json()["agreement_rate"] == 1.0
    assert client.get(f"/api/qa/calibrations/{calibration_id}/report", headers=outsider).status_code == 404


def test_sampling_queue_and_reports(client, session, world, clock, card) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for agent in world.agents:
        for day in range(0, 28, 2):
            record_call(session, agent=agent, started_at=start + timedelta(days=day, hours=3), commit=False)
    session.commit()
    clock.set(datetime(2026, 2, 3, tzinfo=UTC))
    inspector, leader, other_leader = (_auth(session, u) for u in (world.inspector, world.leader, world.other_leader))
    supervisor, far_inspector, teammate = (_auth(session, u) for u in (world.supervisor, world.far_inspector,
                                                                        world.agents[1]))
    assert client.post("/api/qa/sampling/plans", json={"team_id": world.team.id, "month": "2026-01"},
                       headers=leader).status_code == 403
    assert client.post("/api/qa/sampling/plans", json={"team_id": world.team.id, "month": "2026-01"},
                       headers=far_inspector).status_code == 403
    built = client.post("/api/qa/sampling/plans", json={"team_id": world.team.id, "month": "2026-01", "seed": 9},
                        headers=inspector)
    assert built.status_code == 200 and built.json()["added_random"] == 9 and built.json()["seed"] == 9
    picks = client.get(f"/api/qa/sampling/plans/{built.json()['id']}/assignments", headers=inspector).json()
    assert picks["count"] == 9 and {p["kind"] for p in picks["data"]} == {"random"}
    queue = client.get("/api/qa/queue", headers=inspector).json()
    assert queue["count"] >= 1 and all("due_on" in item for item in queue["data"])
    coverage = client.get(f"/api/qa/sampling/coverage?team_id={world.team.id}&month=2026-01",
                          headers=supervisor).json()
    assert coverage["planned"] == 9 and coverage["evaluated"] == 0

    fresh(session)
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=start + timedelta(days=5), courtesy=1,
             tone_pace=1)  # 66.25: below the threshold
    monthly = client.get(f"/api/qa/reports/monthly?month=2026-01&team_id={world.team.id}", headers=leader)
    assert monthly.status_code == 200 and monthly.json()["evaluations"] == 1
    as_csv = client.get(f"/api/qa/reports/monthly.csv?month=2026-01&team_id={world.team.id}", headers=leader)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert len(list(csv.reader(io.StringIO(as_csv.text.lstrip("\ufeff"))))) == 5
    as_pdf = client.get(f"/api/qa/reports/monthly.pdf?month=2026-01&team_id={world.team.id}", headers=leader)
    assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")
    assert client.get(f"/api/qa/reports/monthly?month=2026-01&team_id={world.team.id}",
                      headers=other_leader).status_code == 403
    fresh(session)
    assert len(entries_for(session, action_prefix="qa.report.exported")) == 2
    session.rollback()
    weekly = client.get(f"/api/qa/reports/weekly?team_id={world.team.id}&week_start=2026-01-05", headers=leader)
    assert weekly.status_code == 200 and weekly.json()["evaluations"] == 1
    plan = client.post("/api/qa/training-plans", json={"team_id": world.team.id, "week_start": "2026-01-05"},
                       headers=inspector).json()
    assert client.post(f"/api/qa/training-plans/{plan['id']}/publish", headers=inspector).status_code == 200
    briefing = client.get(f"/api/qa/briefing?team_id={world.team.id}&on_date=2026-01-12",
                          headers=teammate)
    assert briefing.status_code == 200 and briefing.json()["data"][0]["question_code"] == "courtesy"
    tasks = client.get("/api/qa/coaching", headers=leader).json()
    assert tasks["count"] == 1
    done = client.post(f"/api/qa/coaching/{tasks['data'][0]['id']}/done", headers=leader, json={"note": "ok"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    saved = client.put("/api/qa/reports/quality", headers=leader,
                       json={"team_id": world.team.id, "month": "2026-01", "analysis": "Courtesy dips."})
    assert saved.status_code == 200 and saved.json()["due_on"] == "2026-02-22"
    assert client.put("/api/qa/reports/quality", headers=inspector,
                      json={"team_id": world.team.id, "month": "2026-01"}).status_code == 403


def test_settings(client, session, world) -> None:  # type: ignore[no-untyped-def]
    admin, inspector = _auth(session, world.admin), _auth(session, world.inspector)
    assert client.get("/api/qa/settings", headers=inspector).json()["dispute_window_days"] == 7
    assert client.put("/api/qa/settings/evaluations_per_agent?value=4", headers=inspector).status_code == 403
    assert client.put("/api/qa/settings/evaluations_per_agent?value=6", headers=admin).status_code == 422
    changed = client.put("/api/qa/settings/evaluations_per_agent?value=4", headers=admin)
    assert changed.status_code == 200 and changed.json()["evaluations_per_agent"] == 4


def test_the_player_fetches_ranges_and_one_listen_is_audited(client, session, world, clock,  # type: ignore[no-untyped-def]
                                                             tmp_path) -> None:
    recording = record_call(session, agent=world.agents[0], started_at=clock.now(), with_media=True)
    inspector = _auth(session, world.inspector)
    url = f"/api/qa/recordings/{recording.id}/audio"
    whole = client.get(url, headers=inspector)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={**inspector, "Range": "bytes=100-199"})
    assert part.status_code == 206 and len(part.content) == 100 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    fresh(session)
    listened = entries_for(session, object_type="recording", object_id=recording.id, action_prefix="recording.listened")
    assert [e.actor_id for e in listened] == [world.inspector.id]  # the later range is part of the same listen
    session.rollback()
