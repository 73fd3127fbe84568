"""QA pages: the inspector's queue, the player and its scorecard (draft saved by htmx or the
button, submitted, errors beside the question), notes pinned to moments, the agent's acknowledge
and dispute (with the window), arbitration, blind calibration and its report, coverage and the
monthly report, without JavaScript (post-redirect-get) and with htmx, in English and Chinese."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.models import User
from qa import calibration, evaluations, sampling, scorecards
from qa.models import CalibrationSession, Dispute, Evaluation
from tests.factories import cheap_password_hashing, fresh, signed_in_client
from tests.qa.conftest import World, default_answers, evaluate, record_call, world

__all__ = ["cheap_password_hashing", "world"]

HX = {"HX-Request": "true"}
NOW = datetime(2026, 2, 2, 4, tzinfo=UTC)


def _no_inline_code(html: str) -> None:
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", html) == []
    assert not re.search(r"\son[a-z]+=|style=", html)


def _card(session: Session) -> Any:
    return scorecards.active(session)


def _question(session: Session, code: str) -> Any:
    return next(q for q in _card(session).questions if q.code == code)


def _full_form(session: Session, **overrides: str) -> dict[str, str]:
    """Full marks on every scored question, but for `code="value"`."""
    return {f"answer-{q.id}": overrides.get(q.code, str(q.max_points)) for q in _card(session).questions
            if not q.bonus}


def _draft(session: Session, world: World, clock: Any) -> Evaluation:
    clock.set(NOW)
    recording = record_call(session, agent=world.agents[0], started_at=NOW - timedelta(hours=2))
    draft = evaluations.create_draft(session, recording_id=recording.id, by=world.inspector)
    session.commit()
    return draft


# Who may see what --------------------------------------------------------------------------------

def test_qa_pages_need_sign_in(client: TestClient) -> None:
    for path in ("/qa", "/qa/evaluations/1", "/qa/mine", "/qa/coverage", "/qa/reports/monthly"):
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/signin?next=" + path
    partial = client.get("/qa", headers=HX, follow_redirects=False)
    assert partial.status_code == 401 and partial.headers["hx-redirect"] == "/signin?next=/qa"


def test_wrong_roles_are_refused(client: TestClient, session: Session, world: World, clock: Any) -> None:
    draft = _draft(session, world, clock)
    signed_in_client(client, world.agents[0])
    for path in ("/qa", "/qa/disputes", "/qa/coverage", "/qa/reports/monthly"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/qa/evaluations/{draft.id}/answers", data={}).status_code == 403
    assert client.get(f"/qa/evaluations/{draft.id}").status_code == 404  # a draft is its author's
    signed_in_client(client, world.leader)
    assert client.get("/qa").status_code == 403
    other = client.get("/qa/coverage", params={"team_id": world.other_team.id, "month": "2026-01"})
    assert other.status_code == 403 and "another site or team" in other.text
    signed_in_client(client, world.far_inspector)
    assert client.get(f"/qa/evaluations/{draft.id}").status_code == 404


# The queue -----------------------------------------------------------------------------------------

def test_queue_shows_assignments_with_due_dates_and_marks(client: TestClient, session: Session, world: World,
                                                          clock: Any) -> None:
    clock.set(NOW)
    for agent in world.agents:
        for day in (2, 9, 16, 23):
            record_call(session, agent=agent, started_at=datetime(2026, 1, day, 2, tzinfo=UTC))
    sampling.build_month(session, team_id=world.team.id, month="2026-01", by=world.inspector)
    session.commit()
    signed_in_client(client, world.inspector)
    page = client.get("/qa")
    assert page.status_code == 200 and 'href="/qa" aria-current="page"' in page.text
    from qa import assignments

    rows = assignments.queue(session, user=world.inspector)
    assert rows and page.text.count('id="assignment-') == len(rows)
    assert "Random" in page.text and "Overdue" in page.text
    assert world.agents[0].display_name in page.text
    _no_inline_code(page.text)
    first = re.search(r'name="recording_id" value="(\d+)">\s*<input type="hidden" name="assignment_id" '
                      r'value="(\d+)"', page.text)
    assert first
    started = client.post("/qa/evaluations", data={"recording_id": first.group(1), "assignment_id": first.group(2)},
                          follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].startswith("/qa/evaluations/")
    again = client.get("/qa")
    assert again.text.count(">Continue<") == 1


def test_an_assignment_a_supervisor_is_scoring_is_not_offered_to_continue(client: TestClient, session: Session,
                                                                          world: World, clock: Any) -> None:
    """A supervisor may score a recording the plan gave an inspector; the inspector's queue then
    names who is scoring it instead of a "Continue" link to a draft that is not theirs (a 404;
    seen in the usage soak)."""
    clock.set(NOW)
    for agent in world.agents:
        for day in (2, 9, 16, 23):
            record_call(session, agent=agent, started_at=datetime(2026, 1, day, 2, tzinfo=UTC))
    sampling.build_month(session, team_id=world.team.id, month="2026-01", by=world.inspector)
    session.commit()
    from qa import assignments

    row = assignments.queue(session, user=world.inspector)[0]
    evaluations.create_draft(session, recording_id=row["recording_id"], by=world.supervisor,
                             assignment_id=row["id"])
    session.commit()
    signed_in_client(client, world.inspector)
    page = client.get("/qa")
    mine = re.search(rf'<tr id="assignment-{row["id"]}">(.*?)</tr>', page.text, re.S)
    assert mine, page.text
    assert "/qa/evaluations/" not in mine.group(1) and ">Continue<" not in mine.group(1)
    assert f"Being scored by {world.supervisor.display_name}" in mine.group(1)
    zh = client.get("/qa", headers={"Accept-Language": "zh-CN"})
    assert f"{world.supervisor.display_name} 正在评分" in zh.text
    # The button is a verb: 评分 (to score), not 得分 (the score a column shows).
    assert "评分</button>" in zh.text and "得分</button>" not in zh.text, zh.text


def test_starting_an_unknown_recording_is_explained(client: TestClient, world: World) -> None:
    signed_in_client(client, world.inspector)
    page = client.post("/qa/evaluations", data={"recording_id": "abc"})
    assert page.status_code == 422 and 'id="recording-id-error"' in page.text
    missing = client.post("/qa/evaluations", data={"recording_id": "999999"})
    assert missing.status_code in (409, 422) and "field-error" in missing.text


# The player and the scorecard ----------------------------------------------------------------------

def test_inspector_scores_saves_a_draft_and_submits(client: TestClient, session: Session, world: World,
                                                   clock: Any) -> None:
    draft = _draft(session, world, clock)
    signed_in_client(client, world.inspector)
    page = client.get(f"/qa/evaluations/{draft.id}")
    assert page.status_code == 200
    assert f'src="/api/qa/recordings/{draft.recording_id}/audio"' in page.text and "Skip silence" in page.text
    assert "Service quality evaluation form" in page.text and "Critical" in page.text
    assert 'name="csrf_token"' in page.text and 'id="scorecard-form"' in page.text
    hold = _question(session, "hold_transfer_phrases")
    assert f'name="answer-{hold.id}" value="na"' in page.text  # N/A offered only where allowed
    courtesy = _question(session, "courtesy")
    assert f'name="answer-{courtesy.id}" value="na"' not in page.text
    _no_inline_code(page.text)

    partial = client.post(f"/qa/evaluations/{draft.id}/answers", data={f"answer-{courtesy.id}": "4"}, headers=HX)
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="score-panel"' in partial.text
    assert 'id="draft-saved"' in partial.text
    assert fresh(session).get(Evaluation, draft.id).answers[0].value == 4

    saved = client.post(f"/qa/evaluations/{draft.id}/answers", data=_full_form(session, courtesy="3"),
                        follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"/qa/evaluations/{draft.id}?saved=draft"
    submitted = client.post(f"/qa/evaluations/{draft.id}/submit", data=_full_form(session, courtesy="3"),
                            follow_redirects=False)
    assert submitted.status_code == 303
    evaluation = fresh(session).get(Evaluation, draft.id)
    assert evaluation.status == "submitted" and evaluation.score is not None and evaluation.score < 100
    shown = client.get(submitted.headers["location"])
    assert "Evaluation submitted" in shown.text and 'id="submit-evaluation"' not in shown.text


def test_answer_out_of_scale_is_shown_beside_the_question(client: TestClient, session: Session, world: World,
                                                          clock: Any) -> None:
    draft = _draft(session, world, clock)
    courtesy = _question(session, "courtesy")
    signed_in_client(client, world.inspector)
    page = client.post(f"/qa/evaluations/{draft.id}/answers", data={f"answer-{courtesy.id}": "9"})
    assert page.status_code == 422
    assert f'id="question-error-{courtesy.id}"' in page.text and "from 1 to 5" in page.text
    assert fresh(session).get(Evaluation, draft.id).answers == []
    partial = client.post(f"/qa/evaluations/{draft.id}/answers", data={f"answer-{courtesy.id}": "9"}, headers=HX)
    assert partial.status_code == 422 and partial.headers["hx-retarget"] == "#scorecard-form"
    assert "<html" not in partial.text and f'id="question-error-{courtesy.id}"' in partial.text


def test_na_where_not_allowed_and_missing_answers_are_refused(client: TestClient, session: Session, world: World,
                                                              clock: Any) -> None:
    draft = _draft(session, world, clock)
    courtesy = _question(session, "courtesy")
    signed_in_client(client, world.inspector)
    page = client.post(f"/qa/evaluations/{draft.id}/answers", data={f"answer-{courtesy.id}": "na"})
    assert page.status_code == 422 and "N/A is not allowed on this question" in page.text
    assert f'id="question-error-{courtesy.id}"' in page.text
    partial_form = {f"answer-{courtesy.id}": "5"}
    missing = client.post(f"/qa/evaluations/{draft.id}/submit", data=partial_form)
    assert missing.status_code == 422 and "before submitting" in missing.text
    evaluation = fresh(session).get(Evaluation, draft.id)
    assert evaluation.status == "draft" and [a.value for a in evaluation.answers] == [5]  # the answer is kept


def test_notes_are_pinned_to_moments(client: TestClient, session: Session, world: World, clock: Any) -> None:
    draft = _draft(session, world, clock)
    signed_in_client(client, world.inspector)
    done = client.post(f"/qa/evaluations/{draft.id}/notes", data={"at": "1:15", "body": "No greeting"},
                       follow_redirects=False)
    assert done.status_code == 303
    page = client.get(f"/qa/evaluations/{draft.id}")
    assert 'data-seek="75"' in page.text and "No greeting" in page.text and ">1:15<" in page.text
    bad = client.post(f"/qa/evaluations/{draft.id}/notes", data={"at": "soon", "body": "x"}, headers=HX)
    assert bad.status_code == 422 and 'id="note-at-error"' in bad.text and "<html" not in bad.text
    empty = client.post(f"/qa/evaluations/{draft.id}/notes", data={"at": "0:05", "body": " "})
    assert empty.status_code == 422 and 'id="note-body-error"' in empty.text


# The agent's side and arbitration ---------------------------------------------------------------

def _submitted(session: Session, world: World, clock: Any, **answers: Any) -> Evaluation:
    clock.set(NOW)
    return evaluate(session, by=world.inspector, agent=world.agents[0], started_at=NOW - timedelta(hours=3),
                    **answers)


def test_agent_sees_and_acknowledges_an_evaluation(client: TestClient, session: Session, world: World,
                                                  clock: Any) -> None:
    evaluation = _submitted(session, world, clock)
    signed_in_client(client, world.agents[0])
    mine = client.get("/qa/mine")
    assert mine.status_code == 200 and f'href="/qa/evaluations/{evaluation.id}"' in mine.text
    page = client.get(f"/qa/evaluations/{evaluation.id}")
    assert 'id="dispute-window"' in page.text and "nothing to dispute" in page.text  # full marks
    done = client.post(f"/qa/evaluations/{evaluation.id}/acknowledge", follow_redirects=False)
    assert done.status_code == 303 and fresh(session).get(Evaluation, evaluation.id).status == "acknowledged"
    again = client.post(f"/qa/evaluations/{evaluation.id}/acknowledge")
    assert again.status_code == 409 and 'id="dispute-error"' in again.text
    signed_in_client(client, world.agents[1])
    assert client.get(f"/qa/evaluations/{evaluation.id}").status_code == 404


def test_agent_disputes_and_a_supervisor_arbitrates(client: TestClient, session: Session, world: World,
                                                   clock: Any) -> None:
    evaluation = _submitted(session, world, clock, courtesy=2)
    before = evaluation.score
    courtesy = _question(session, "courtesy")
    signed_in_client(client, world.agents[0])
    page = client.get(f"/qa/evaluations/{evaluation.id}")
    assert f'name="question_ids" value="{courtesy.id}"' in page.text
    assert page.text.count('name="question_ids"') == 1  # only answers short of full marks
    no_reason = client.post(f"/qa/evaluations/{evaluation.id}/dispute", data={"question_ids": [str(courtesy.id)]})
    assert no_reason.status_code == 422 and 'id="dispute-reason-error"' in no_reason.text
    sent = client.post(f"/qa/evaluations/{evaluation.id}/dispute",
                       data={"question_ids": [str(courtesy.id)], "reason": "The caller was abusive"},
                       follow_redirects=False)
    assert sent.status_code == 303
    shown = client.get(sent.headers["location"])
    assert 'id="dispute-shown"' in shown.text and "The caller was abusive" in shown.text
    assert "Waiting for arbitration" in shown.text

    signed_in_client(client, world.supervisor)
    listed = client.get("/qa/disputes")
    assert f'href="/qa/evaluations/{evaluation.id}"' in listed.text
    dispute = fresh(session).query(Dispute).one()
    page = client.get(f"/qa/evaluations/{evaluation.id}")
    assert 'id="arbitration-form"' in page.text
    unexplained = client.post(f"/qa/disputes/{dispute.id}/arbitrate", data={"decision": "uphold", "reason": ""})
    assert unexplained.status_code == 422 and 'id="arbitration-reason-error"' in unexplained.text
    decided = client.post(f"/qa/disputes/{dispute.id}/arbitrate",
                          data={"decision": "revise", "reason": "Agreed", f"answer-{courtesy.id}": "4"},
                          follow_redirects=False)
    assert decided.status_code == 303
    after = fresh(session).get(Evaluation, evaluation.id)
    assert after.status == "resolved" and after.score > before
    signed_in_client(client, world.inspector)  # the author does not arbitrate
    assert f"/qa/evaluations/{evaluation.id}" not in client.get("/qa/disputes").text


def test_dispute_after_the_window_is_refused(client: TestClient, session: Session, world: World,
                                             clock: Any) -> None:
    evaluation = _submitted(session, world, clock, courtesy=2)
    courtesy = _question(session, "courtesy")
    clock.advance(days=8)
    signed_in_client(client, world.agents[0])
    page = client.get(f"/qa/evaluations/{evaluation.id}")
    assert "The dispute window closed on" in page.text and 'id="dispute-form"' not in page.text
    late = client.post(f"/qa/evaluations/{evaluation.id}/dispute",
                       data={"question_ids": [str(courtesy.id)], "reason": "Too late?"})
    assert late.status_code == 422 and 'id="dispute-error"' in late.text
    assert "The dispute window closed on" in late.text and "talk to your team leader" in late.text
    assert fresh(session).get(Evaluation, evaluation.id).status == "submitted"


# Calibration ---------------------------------------------------------------------------------------

def test_calibration_is_blind_until_one_submits(client: TestClient, session: Session, world: World,
                                                clock: Any) -> None:
    clock.set(NOW)
    recording = record_call(session, agent=world.agents[0], started_at=NOW - timedelta(hours=2))
    found = calibration.create(session, recording_id=recording.id, inspector_ids=[world.inspector.id,
                               world.team_inspector.id], expert_id=world.supervisor.id, by=world.supervisor)
    expert = calibration.my_evaluation(session, calibration_id=found.id, by=world.supervisor)
    evaluations.save(session, evaluation_id=expert.id, by=world.supervisor, answers=default_answers(_card(session)))
    evaluations.submit(session, evaluation_id=expert.id, by=world.supervisor)
    session.commit()

    signed_in_client(client, world.inspector)
    assert f'href="/qa/calibrations/{found.id}"' in client.get("/qa").text
    page = client.get(f"/qa/calibrations/{found.id}")
    assert page.status_code == 200 and 'id="blind-note"' in page.text and 'id="report-link"' not in page.text
    peek = client.get(f"/qa/calibrations/{found.id}/report")
    assert peek.status_code == 403 and "Submit your own evaluation" in peek.text
    assert client.get(f"/qa/evaluations/{expert.id}").status_code == 403

    opened = client.post(f"/qa/calibrations/{found.id}/evaluation", follow_redirects=False)
    assert opened.status_code == 303
    own_id = int(opened.headers["location"].rsplit("/", 1)[1])
    assert client.post(f"/qa/evaluations/{own_id}/submit", data=_full_form(session, courtesy="3"),
                       follow_redirects=False).status_code == 303
    report = client.get(f"/qa/calibrations/{found.id}/report")
    assert report.status_code == 200 and 'id="calibration-questions"' in report.text
    assert 'id="calibration-inspectors"' in report.text and world.inspector.display_name in report.text
    assert "-" in report.text and 'id="score-spread"' in report.text


# Coverage and the monthly report ------------------------------------------------------------------

def test_team_leader_sees_coverage_trend_and_the_monthly_report(client: TestClient, session: Session, world: World,
                                                                clock: Any) -> None:
    clock.set(NOW)
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=datetime(2026, 1, 12, 3, tzinfo=UTC),
             courtesy=3)
    signed_in_client(client, world.leader)
    page = client.get("/qa/coverage", params={"month": "2026-01"})
    assert page.status_code == 200 and 'id="coverage-table"' in page.text
    assert 'src="/static/vendor/chart.js-4.5.1/chart.umd.min.js"' in page.text and "data-qa-charts=" in page.text
    _no_inline_code(page.text)
    data = client.get("/qa/coverage/data.json", params={"team_id": world.team.id, "month": "2026-01"}).json()
    assert world.agents[0].display_name in data["agents"] and sum(data["evaluated"]) == 1
    assert data["months"][-1] == "2026-01" and data["averages"][-1] is not None
    bad = client.get("/qa/coverage", params={"month": "January"})
    assert bad.status_code == 422 and 'id="month-error"' in bad.text

    report = client.get("/qa/reports/monthly", params={"month": "2026-01"})
    assert report.status_code == 200 and 'id="report-agents"' in report.text
    csv_link = re.search(r'id="download-csv" href="([^"]+)"', report.text)
    pdf_link = re.search(r'id="download-pdf" href="([^"]+)"', report.text)
    assert csv_link and pdf_link and f"team_id={world.team.id}" in csv_link.group(1)
    csv = client.get(csv_link.group(1).replace("&amp;", "&"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert world.agents[0].display_name in csv.text
    pdf = client.get(pdf_link.group(1).replace("&amp;", "&"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_inspector_reads_the_site_report(client: TestClient, session: Session, world: World, clock: Any) -> None:
    clock.set(NOW)
    evaluate(session, by=world.inspector, agent=world.other_agent, started_at=datetime(2026, 1, 12, 3, tzinfo=UTC))
    signed_in_client(client, world.inspector)
    page = client.get("/qa/reports/monthly", params={"month": "2026-01", "scope": "site"})
    assert page.status_code == 200 and world.other_agent.display_name in page.text
    assert f"site_id={world.site.id}" in page.text


# Chinese ---------------------------------------------------------------------------------------------

def test_player_and_report_in_chinese(client: TestClient, session: Session, world: World, clock: Any) -> None:
    draft = _draft(session, world, clock)
    inspector = session.get(User, world.inspector.id)
    inspector.locale = "zh_Hans"
    session.commit()
    signed_in_client(client, world.inspector)
    page = client.get(f"/qa/evaluations/{draft.id}")
    assert page.status_code == 200 and 'lang="zh-Hans"' in page.text
    for text in ("服务质量综合考评表", "服务用语", "服务态度", "规范使用开头语、结束语及服务用语", "质检员", "跳过静音",
                 "提交", "保存草稿", "不适用"):
        assert text in page.text, text
    assert "Service quality evaluation form" not in page.text
    queue = client.get("/qa")
    assert "待质检录音" in queue.text
    report = client.get("/qa/reports/monthly", params={"month": "2026-01", "scope": "site"})
    assert "服务质量分析报告" in report.text and "下载 CSV" in report.text


# Creating a calibration session ---------------------------------------------------------------------

def test_calibration_session_is_created_with_a_form(client: TestClient, session: Session, world: World,
                                                    clock: Any) -> None:
    clock.set(NOW)
    recording = record_call(session, agent=world.agents[0], started_at=NOW - timedelta(hours=2))
    far = record_call(session, agent=world.far_agent, started_at=NOW - timedelta(hours=2))
    signed_in_client(client, world.agents[0])
    assert client.get("/qa/calibrations/new").status_code == 403
    assert client.post("/qa/calibrations", data={"recording_id": str(recording.id)}).status_code == 403
    signed_in_client(client, world.inspector)
    assert 'href="/qa/calibrations/new"' in client.get("/qa").text
    form = client.get("/qa/calibrations/new")
    assert form.status_code == 200 and 'id="calibration-form"' in form.text
    assert f'name="inspector_ids" value="{world.team_inspector.id}"' in form.text
    assert f'value="{world.far_inspector.id}"' not in form.text and f'value="{world.agents[1].id}"' not in form.text
    _no_inline_code(form.text)

    typo = client.post("/qa/calibrations", data={"recording_id": "abc", "title": "Jan"})
    assert typo.status_code == 422 and 'id="calibration-recording-error"' in typo.text and 'value="Jan"' in typo.text
    other_site = client.post("/qa/calibrations", data={"recording_id": str(far.id), "expert_id": str(
        world.supervisor.id), "inspector_ids": [str(world.team_inspector.id)]})
    assert other_site.status_code == 422 and 'id="calibration-recording-error"' in other_site.text
    nobody = client.post("/qa/calibrations", data={"recording_id": str(recording.id)})
    assert nobody.status_code == 422
    assert 'id="calibration-inspectors-error"' in nobody.text and 'id="calibration-expert-error"' in nobody.text
    assert f'value="{recording.id}"' in nobody.text  # what was typed stays
    alone = client.post("/qa/calibrations", data={"recording_id": str(recording.id), "expert_id": str(
        world.supervisor.id), "inspector_ids": [str(world.supervisor.id)]})
    assert alone.status_code == 422 and 'id="calibration-inspectors-error"' in alone.text
    assert 'id="calibration-expert-error"' not in alone.text
    assert fresh(session).query(CalibrationSession).count() == 0

    created = client.post("/qa/calibrations", data={
        "recording_id": str(recording.id), "title": "January calibration", "expert_id": str(world.supervisor.id),
        "inspector_ids": [str(world.inspector.id), str(world.team_inspector.id)]}, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"].startswith("/qa/calibrations/")
    page = client.get(created.headers["location"])
    assert "January calibration" in page.text and world.team_inspector.display_name in page.text
    assert 'id="score-calibration"' in page.text and "Expert (reference)" in page.text


# Naming the arbitrator ------------------------------------------------------------------------------

def test_supervisor_names_the_arbitrator(client: TestClient, session: Session, world: World, clock: Any) -> None:
    from qa import disputes

    evaluation = _submitted(session, world, clock, courtesy=2)
    item = disputes.dispute(session, evaluation_id=evaluation.id, by=world.agents[0],
                            question_ids=[_question(session, "courtesy").id], reason="disagree")
    session.commit()
    signed_in_client(client, world.team_inspector)
    page = client.get("/qa/disputes")
    assert f'id="dispute-{item.id}"' in page.text and 'id="arbitrator-form-' not in page.text
    assert client.post(f"/qa/disputes/{item.id}/arbitrator",
                       data={"arbitrator_id": str(world.team_inspector.id)}).status_code == 403
    signed_in_client(client, world.supervisor)
    page = client.get("/qa/disputes")
    assert f'id="arbitrator-form-{item.id}"' in page.text and "No arbitrator named yet" in page.text
    assert f'<option value="{world.team_inspector.id}"' in page.text
    assert f'<option value="{world.inspector.id}"' not in page.text  # the author
    _no_inline_code(page.text)
    blank = client.post(f"/qa/disputes/{item.id}/arbitrator", data={"arbitrator_id": ""})
    assert blank.status_code == 422 and f'id="arbitrator-error-{item.id}"' in blank.text
    author = client.post(f"/qa/disputes/{item.id}/arbitrator", data={"arbitrator_id": str(world.inspector.id)})
    assert author.status_code == 422 and f'id="arbitrator-error-{item.id}"' in author.text
    named = client.post(f"/qa/disputes/{item.id}/arbitrator", data={"arbitrator_id": str(world.team_inspector.id)},
                        follow_redirects=False)
    assert named.status_code == 303 and named.headers["location"] == "/qa/disputes?saved=assigned"
    assert f"Arbitrator: {world.team_inspector.display_name}" in client.get(named.headers["location"]).text
    assert fresh(session).get(Dispute, item.id).arbitrator_id == world.team_inspector.id
    signed_in_client(client, world.loose_inspector)
    assert f'id="dispute-{item.id}"' not in client.get("/qa/disputes").text
    signed_in_client(client, world.team_inspector)
    assert client.post(f"/qa/disputes/{item.id}/arbitrate", data={"decision": "uphold", "reason": "Fair."},
                       follow_redirects=False).status_code == 303
    signed_in_client(client, world.supervisor)
    decided = client.post(f"/qa/disputes/{item.id}/arbitrator", data={"arbitrator_id": str(world.supervisor.id)})
    assert decided.status_code == 409 and 'id="disputes-error"' in decided.text  # decided: nothing to name


# Navigation -------------------------------------------------------------------------------------------

def test_every_qa_page_is_reachable_from_the_navigation(client: TestClient, world: World) -> None:
    signed_in_client(client, world.leader)
    home = client.get("/").text
    assert 'href="/qa/coverage"' in home and 'href="/qa"' not in home
    coverage = client.get("/qa/coverage").text
    for path in ("/qa/reports/monthly", "/qa/coaching", "/qa/training"):
        assert f'href="{path}"' in coverage, path
    monthly = client.get("/qa/reports/monthly").text  # the one entry stays current on its pages
    assert 'href="/qa/coverage" aria-current="page"' in monthly
    signed_in_client(client, world.inspector)
    assert 'href="/qa"' in client.get("/").text
    queue = client.get("/qa").text
    for path in ("/qa/disputes", "/qa/coverage", "/qa/reports/monthly", "/qa/training", "/qa/coaching",
                 "/qa/calibrations/new"):
        assert f'href="{path}"' in queue, path
    signed_in_client(client, world.supervisor)
    assert 'href="/qa"' in client.get("/").text
    signed_in_client(client, world.agents[0])
    home = client.get("/").text
    assert 'href="/qa/mine"' in home and 'href="/qa/coaching"' not in home


# The weekly training plan and the briefing --------------------------------------------------------------

MONDAY = "2026-01-12"


def test_training_plan_is_drafted_edited_published_and_briefed(client: TestClient, session: Session, world: World,
                                                               clock: Any) -> None:
    clock.set(datetime(2026, 1, 20, 2, tzinfo=UTC))
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=datetime(2026, 1, 13, 2, tzinfo=UTC),
             tone_pace=2)
    signed_in_client(client, world.inspector)
    page = client.get("/qa/training", params={"team_id": world.team.id})  # last week by default
    assert page.status_code == 200 and 'id="week-evaluations">1<' in page.text and 'id="draft-plan"' in page.text
    _no_inline_code(page.text)
    for bad in ("2026-01-13", "soon"):
        refused = client.get("/qa/training", params={"team_id": world.team.id, "week": bad})
        assert refused.status_code == 422 and 'id="week-error"' in refused.text, bad
    assert client.get("/qa/training", params={"team_id": world.team.id, "week": "2026-W03"}).status_code == 200
    drafted = client.post("/qa/training", data={"team_id": str(world.team.id), "week": MONDAY},
                          follow_redirects=False)
    assert drafted.status_code == 303
    page = client.get(drafted.headers["location"])
    assert 'id="plan-form"' in page.text and 'name="problem-0-note"' in page.text
    plan_id = int(re.search(r'action="/qa/training/(\d+)"', page.text).group(1))
    too_long = client.post(f"/qa/training/{plan_id}", data={"body": "x" * 10_001, "problem-0-keep": "1",
                                                            "problem-0-note": "n" * 501, "action": "publish"})
    assert too_long.status_code == 422
    assert 'id="plan-body-error"' in too_long.text and 'id="problem-0-error"' in too_long.text
    assert re.search(r'<textarea id="plan-body-input"[^>]*maxlength="10000"', too_long.text)  # the limit is stated
    published = client.post(f"/qa/training/{plan_id}", data={
        "body": "Tone drill on Wednesday.", "problem-0-keep": "1", "problem-0-note": "Smile while speaking.",
        "new_problem": "Close with the standard phrase", "action": "publish"}, follow_redirects=False)
    assert published.status_code == 303 and "saved=published" in published.headers["location"]
    page = client.get(published.headers["location"])
    assert 'id="plan-form"' not in page.text and "Tone drill on Wednesday." in page.text
    again = client.post(f"/qa/training/{plan_id}", data={"body": "changed"})
    assert again.status_code == 409 and 'id="plan-error"' in again.text

    signed_in_client(client, world.leader)
    assert client.post("/qa/training", data={"team_id": str(world.team.id), "week": MONDAY}).status_code == 403
    read = client.get("/qa/training", params={"week": MONDAY})
    assert read.status_code == 200 and "Smile while speaking." in read.text and 'id="plan-form"' not in read.text
    briefing = client.get("/qa/coaching")
    assert briefing.status_code == 200 and 'id="briefing-items"' in briefing.text
    assert "Smile while speaking." in briefing.text and "Close with the standard phrase" in briefing.text
    signed_in_client(client, world.other_leader)
    assert 'id="briefing-empty"' in client.get("/qa/coaching").text
    assert client.get("/qa/coaching", params={"team_id": world.team.id}).status_code == 403


def test_coaching_tasks_are_done_from_the_page(client: TestClient, session: Session, world: World,
                                               clock: Any) -> None:
    clock.set(NOW)
    low = evaluate(session, by=world.inspector, agent=world.agents[1], started_at=NOW - timedelta(hours=3),
                   courtesy=1, tone_pace=1, summarise_need=1)
    from qa import coaching

    task = coaching.tasks_for(session, user=world.leader)[0]
    assert task.evaluation_id == low.id
    signed_in_client(client, world.leader)
    page = client.get("/qa/coaching")
    assert f'id="task-{task.id}"' in page.text and world.agents[1].display_name in page.text
    assert f'href="/qa/evaluations/{low.id}"' in page.text
    _no_inline_code(page.text)
    assert client.get(f"/qa/evaluations/{low.id}").status_code == 200  # the leader reads it
    long_note = client.post(f"/qa/coaching/{task.id}/done", data={"note": "n" * 2001})
    assert long_note.status_code == 422 and f'id="task-note-error-{task.id}"' in long_note.text
    signed_in_client(client, world.other_leader)
    assert client.post(f"/qa/coaching/{task.id}/done", data={"note": "x"}).status_code == 404
    signed_in_client(client, world.leader)
    done = client.post(f"/qa/coaching/{task.id}/done", data={"note": "Role-played greetings."},
                       follow_redirects=False)
    assert done.status_code == 303
    after = client.get(done.headers["location"])
    assert 'id="no-tasks"' in after.text and "Role-played greetings." in after.text
    twice = client.post(f"/qa/coaching/{task.id}/done", data={"note": "again"})
    assert twice.status_code == 409 and 'id="coaching-error"' in twice.text


# The team leader's analysis ---------------------------------------------------------------------------

def test_team_leader_writes_and_submits_the_analysis(client: TestClient, session: Session, world: World,
                                                     clock: Any) -> None:
    clock.set(NOW)
    evaluate(session, by=world.inspector, agent=world.agents[0], started_at=datetime(2026, 1, 12, 3, tzinfo=UTC))
    signed_in_client(client, world.inspector)
    read = client.get("/qa/reports/monthly", params={"month": "2026-01", "team_id": world.team.id})
    assert 'id="analysis-form"' not in read.text and "Not submitted yet" in read.text
    signed_in_client(client, world.leader)
    page = client.get("/qa/reports/monthly", params={"month": "2026-01"})
    assert 'id="analysis-form"' in page.text and "2026-02-22" in page.text
    assert re.search(r'<textarea id="analysis-input"[^>]*maxlength="20000"', page.text)  # the limit is stated
    empty = client.post("/qa/reports/quality", data={"team_id": str(world.team.id), "month": "2026-01",
                                                     "analysis": " ", "action": "submit"})
    assert empty.status_code == 422 and 'id="analysis-input-error"' in empty.text
    too_long = client.post("/qa/reports/quality", data={"team_id": str(world.team.id), "month": "2026-01",
                                                        "analysis": "x" * 20_001})
    assert too_long.status_code == 422 and "under 20000 characters" in too_long.text
    saved = client.post("/qa/reports/quality", data={"team_id": str(world.team.id), "month": "2026-01",
                                                     "analysis": "Greetings slipped.", "action": "save"},
                        follow_redirects=False)
    assert saved.status_code == 303 and "saved=analysis" in saved.headers["location"]
    assert "Greetings slipped." in client.get(saved.headers["location"]).text
    other = client.post("/qa/reports/quality", data={"team_id": str(world.other_team.id), "month": "2026-01",
                                                     "analysis": "x", "action": "save"})
    assert other.status_code == 403
    submitted = client.post("/qa/reports/quality", data={"team_id": str(world.team.id), "month": "2026-01",
                                                         "analysis": "Greetings slipped; drill booked.",
                                                         "action": "submit"}, follow_redirects=False)
    assert submitted.status_code == 303
    shown = client.get(submitted.headers["location"])
    assert 'id="analysis-text"' in shown.text and "drill booked" in shown.text
    assert 'id="analysis-form"' not in shown.text
    late_edit = client.post("/qa/reports/quality", data={"team_id": str(world.team.id), "month": "2026-01",
                                                         "analysis": "changed"})
    assert late_edit.status_code == 409 and 'id="analysis-error-form"' in late_edit.text


def test_new_qa_pages_in_chinese(client: TestClient, session: Session, world: World, clock: Any) -> None:
    clock.set(NOW)
    for person in (world.inspector, world.leader):
        session.get(User, person.id).locale = "zh_Hans"
    session.commit()
    signed_in_client(client, world.inspector)
    assert "新建校准会" in client.get("/qa/calibrations/new").text
    assert "每周培训计划" in client.get("/qa/training", params={"team_id": world.team.id}).text
    signed_in_client(client, world.leader)
    coaching_page = client.get("/qa/coaching").text
    assert "辅导与班前点评" in coaching_page and "下次点名点评讲评内容" in coaching_page
    assert "月度报告" in client.get("/qa/coverage").text and ">质检</a>" in client.get("/").text


def test_coverage_flags_agents_below_the_team_minimum_from_the_20th(client: TestClient, session: Session,
                                                                    world: World, clock: Any) -> None:
    clock.set(datetime(2026, 1, 19, 12, tzinfo=UTC))  # the 19th in Shanghai
    evaluate(session, by=world.inspector, agent=world.agents[1], started_at=datetime(2026, 1, 5, 3, tzinfo=UTC))
    signed_in_client(client, world.supervisor)
    page = client.get("/qa/coverage", params={"team_id": world.team.id, "month": "2026-01"}).text
    assert 'id="coverage-minimum">3<' in page and "Below the minimum" not in page
    refused = client.post("/qa/coverage/minimum", data={"team_id": world.team.id, "month": "2026-01",
                                                          "per_agent": "6"})
    assert refused.status_code == 422 and "Choose 1 to 5 evaluations per agent a month." in refused.text
    saved = client.post("/qa/coverage/minimum", data={"team_id": world.team.id, "month": "2026-01", "per_agent": "1"},
                        follow_redirects=False)
    assert saved.status_code == 303
    clock.set(datetime(2026, 1, 19, 16, 30, tzinfo=UTC))  # 00:30 on the 20th in Shanghai
    signed_in_client(client, world.leader)  # a team leader reads it, and cannot change it
    page = client.get("/qa/coverage", params={"month": "2026-01"}).text
    assert 'id="coverage-minimum">1<' in page and 'id="minimum-form"' not in page
    for agent, flagged in ((world.agents[0], True), (world.agents[1], False), (world.agents[2], True)):
        row = page.split(f'id="coverage-agent-{agent.id}"')[1].split("</tr>")[0]
        assert ("Below the minimum" in row) is flagged, agent.display_name
    assert client.post("/qa/coverage/minimum", data={"team_id": world.team.id, "per_agent": "4"}).status_code == 403
    client.cookies.set("hotline_locale", "zh_Hans")
    assert "低于最低次数" in client.get("/qa/coverage", params={"month": "2026-01"}).text


def test_the_quality_report_reminder_is_on_the_leaders_pages(client: TestClient, session: Session, world: World,
                                                             clock: Any) -> None:
    from qa import tasks

    clock.set(datetime(2026, 2, 19, 1, tzinfo=UTC))  # the 19th in Shanghai: three days before the 22nd
    tasks.remind_reports()
    signed_in_client(client, world.leader)
    for path in ("/", "/qa/reports/monthly", "/qa/coverage"):
        panel = client.get(path).text.split('id="reminders"')[1].split("</section>")[0]
        assert f"The service-quality analysis report of January 2026 for {world.team.name} is due on Feb 22, 2026." in panel
        assert f'href="/qa/reports/monthly?team_id={world.team.id}&amp;month=2026-01#analysis"' in panel
    client.post("/qa/reports/quality", data={"team_id": world.team.id, "month": "2026-01", "analysis": "Fine.",
                                             "action": "submit"})
    assert 'id="reminders"' not in client.get("/qa/reports/monthly").text  # submitted: settled


def test_supervisors_prepare_the_all_staff_meetings_results(client: TestClient, session: Session, world: World,
                                                            clock: Any) -> None:
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))
    for _ in range(3):
        evaluate(session, by=world.inspector, agent=world.agents[0], started_at=datetime(2026, 1, 12, 3, tzinfo=UTC))
    evaluate(session, by=world.inspector, agent=world.agents[1], started_at=datetime(2026, 1, 12, 3, tzinfo=UTC),
             courtesy=1)
    clock.set(NOW)  # 2 February: the meeting looks at January
    signed_in_client(client, world.leader)
    assert client.get("/qa/reports/meeting").status_code == 403
    assert 'href="/qa/reports/meeting"' not in client.get("/qa/reports/monthly").text
    signed_in_client(client, world.supervisor)
    assert 'href="/qa/reports/meeting"' in client.get("/qa/reports/monthly").text
    page = client.get("/qa/reports/meeting")
    assert page.status_code == 200 and "QA results of January 2026 per agent" in page.text
    assert "before Feb 25, 2026" in page.text
    _no_inline_code(page.text)
    first = page.text.split(f'id="meeting-agent-{world.agents[0].id}"')[1].split("</tr>")[0]
    second = page.text.split(f'id="meeting-agent-{world.agents[1].id}"')[1].split("</tr>")[0]
    assert "<td>1</td>" in first and "3 / 3" in first and "Below the minimum" not in first
    assert "1 / 3" in second and "Below the minimum" in second
    link = re.search(r'id="download-meeting-csv" href="([^"]+)"', page.text).group(1)
    csv = client.get(link)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert world.agents[0].display_name in csv.text and "meeting_before" in csv.text
    assert client.get("/qa/reports/meeting", params={"month": "soon"}).status_code == 422
    client.cookies.set("hotline_locale", "zh_Hans")
    assert "全员大会" in client.get("/qa/reports/meeting").text


# Finding a call to score ------------------------------------------------------------------------

def test_an_inspector_finds_a_call_in_the_log_and_scores_it(client: TestClient, session: Session, world: World,
                                                            clock: Any) -> None:
    recording = record_call(session, agent=world.agents[0], started_at=clock.now() - timedelta(hours=3),
                            with_media=True)
    far = record_call(session, agent=world.far_agent, started_at=clock.now() - timedelta(hours=3), with_media=True)
    signed_in_client(client, world.inspector)
    assert 'href="/calls?outcome=answered"' in client.get("/qa").text
    log = client.get("/calls?outcome=answered")
    assert log.status_code == 200 and f'name="recording_id" value="{recording.id}"' in log.text
    assert f'name="recording_id" value="{far.id}"' not in log.text  # another site's call is not in the log
    assert "Score this" in log.text and "+86" not in log.text
    _no_inline_code(log.text)
    started = client.post("/qa/evaluations", data={"recording_id": str(recording.id)}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].startswith("/qa/evaluations/")
    evaluation = fresh(session).get(Evaluation, int(started.headers["location"].rsplit("/", 1)[1]))
    assert evaluation.recording_id == recording.id and evaluation.inspector_id == world.inspector.id
    client.cookies.set("hotline_locale", "zh_Hans")
    assert "评分" in client.get("/calls?outcome=answered").text


def test_an_agent_has_no_score_button_in_the_log(client: TestClient, session: Session, world: World,
                                                 clock: Any) -> None:
    record_call(session, agent=world.agents[0], started_at=clock.now() - timedelta(hours=3), with_media=True)
    signed_in_client(client, world.agents[0])
    page = client.get("/calls")
    assert page.status_code == 200 and "Score this" not in page.text
