"""An inspector scores a recording in Chromium: the player finds the silent stretch, a note pinned
to a moment seeks the audio, the scorecard is saved as a draft by htmx while answering and then
submitted; the agent then disputes an answer and the page shows the dispute; a supervisor names the
arbitrator, and the inspector starts a calibration session with its form."""

from __future__ import annotations

import math
import struct
import wave
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.storage import get_storage
from qa import scorecards
from tests.browser.conftest import Browsing, LiveServer
from tests.factories import cheap_password_hashing
from tests.qa.conftest import World, record_call, world

__all__ = ["cheap_password_hashing", "world"]


def _stereo_wav(path: Path) -> None:
    """1 s of tone on both channels, 2 s of silence, 1 s of tone: one stretch worth skipping."""
    rate = 8000
    frames = bytearray()
    for i in range(rate * 4):
        second = i / rate
        loud = second < 1 or second >= 3
        sample = int(8000 * math.sin(2 * math.pi * 440 * second)) if loud else 0
        frames += struct.pack("<hh", sample, sample)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


def test_an_inspector_scores_a_recording_and_the_agent_disputes_it(browsing: Browsing, live_server: LiveServer,
                                                                  session: Session, world: World, clock: Any,
                                                                  tmp_path: Path) -> None:
    agent = world.agents[0]
    recording = record_call(session, agent=agent, started_at=clock.now() - timedelta(hours=2), duration=4,
                            commit=False)
    _stereo_wav(tmp_path / "call.wav")
    recording.media_key = "recordings/call.wav"
    recording.sha256 = get_storage().put_file(recording.media_key, str(tmp_path / "call.wav")).sha256
    card = scorecards.active(session)
    session.commit()
    questions = {q.code: (q.id, q.max_points) for q in card.questions if not q.bonus}

    inspector = browsing.signed_in(world.inspector.username, path="/qa")
    inspector.get_by_label("Recording number").fill(str(recording.id))
    inspector.get_by_role("button", name="Open the scorecard").click()
    inspector.wait_for_url("**/qa/evaluations/*")

    player = inspector.locator("[data-player]")
    expect(player).to_have_attribute("data-analysed", "true")
    assert player.get_attribute("data-silences") == "[[1.2,2.8]]"
    expect(inspector.get_by_label("Skip silence")).to_be_enabled()
    inspector.get_by_label("Speed").select_option("1.5")
    assert inspector.evaluate("document.getElementById('qa-audio').playbackRate") == 1.5

    inspector.get_by_label("At (minutes:seconds)").fill("0:03")
    inspector.get_by_label("Note", exact=True).fill("Long pause without telling the caller")
    inspector.get_by_role("button", name="Pin the note").click()
    note = inspector.locator("#qa-notes [data-seek='3']")
    expect(note).to_have_text("0:03")
    note.click()
    # The note seeks and plays from there: the playhead is at 3 s or just past it.
    assert 3 <= inspector.evaluate("document.getElementById('qa-audio').currentTime") < 3.9

    courtesy_id, _ = questions["courtesy"]
    inspector.locator(f'input[name="answer-{courtesy_id}"][value="2"]').check()
    expect(inspector.locator("#draft-saved")).to_be_visible()
    for code, (question_id, top) in questions.items():
        if code == "courtesy":
            continue
        value = "na" if code == "hold_transfer_phrases" else str(top)
        inspector.locator(f'input[name="answer-{question_id}"][value="{value}"]').check()
    expect(inspector.locator("#qa-missing")).to_have_count(0)
    inspector.get_by_role("button", name="Submit").click()
    expect(inspector.locator("#saved-notice")).to_contain_text("Evaluation submitted")
    expect(inspector.locator("#evaluation-status")).to_have_text("Submitted")

    desk = browsing.signed_in(agent.username, path="/qa/mine")
    desk.locator("#my-evaluations a").first.click()
    desk.wait_for_url("**/qa/evaluations/*")
    expect(desk.locator("#dispute-window")).to_contain_text("You may dispute")
    expect(desk.locator("#qa-notes")).to_contain_text("Long pause")
    desk.locator(f'input[name="question_ids"][value="{courtesy_id}"]').check()
    desk.get_by_label("Why you disagree").fill("The caller shouted; I stayed polite.")
    desk.get_by_role("button", name="Dispute", exact=True).click()
    expect(desk.locator("#evaluation-status")).to_have_text("Disputed")
    expect(desk.locator("#dispute-shown")).to_contain_text("The caller shouted; I stayed polite.")
    expect(desk.locator("#dispute-shown")).to_contain_text("Waiting for arbitration")

    # A supervisor names the arbitrator from the disputes page (a plain form, post-redirect-get).
    lead = browsing.signed_in(world.supervisor.username, path="/qa/disputes")
    lead.get_by_label("Arbitrator").select_option(str(world.team_inspector.id))
    lead.get_by_role("button", name="Name the arbitrator").click()
    expect(lead.locator("#saved-notice")).to_be_visible()
    expect(lead.locator("#open-disputes")).to_contain_text(f"Arbitrator: {world.team_inspector.display_name}")

    # The inspector starts a calibration session on the same recording with the form.
    inspector.goto("/qa")
    inspector.get_by_role("link", name="New calibration session").click()
    inspector.get_by_label("Recording number").fill(str(recording.id))
    inspector.locator(f'input[name="inspector_ids"][value="{world.team_inspector.id}"]').check()
    inspector.get_by_label("Expert (reference)").select_option(str(world.supervisor.id))
    inspector.get_by_role("button", name="Start the session").click()
    inspector.wait_for_url("**/qa/calibrations/*")
    expect(inspector.locator("main")).to_contain_text(world.team_inspector.display_name)
    expect(inspector.locator("main")).to_contain_text("Expert (reference)")


@pytest.mark.parametrize(("locale", "find", "score"), [
    ("en-GB", "Find a call in the call log", "Score this"),
    ("zh-CN", "在通话记录中查找通话", "评分"),
])
def test_an_inspector_finds_a_call_to_score_in_the_log(browsing: Browsing, live_server: LiveServer, session: Session,
                                                       world: World, clock: Any, locale: str, find: str,
                                                       score: str) -> None:
    recording = record_call(session, agent=world.agents[0], started_at=clock.now() - timedelta(hours=2),
                            with_media=True)
    inspector = browsing.signed_in(world.inspector.username, path="/qa", locale=locale)
    inspector.get_by_role("link", name=find).click()
    inspector.wait_for_url("**/calls?outcome=answered")
    row = inspector.locator("#call-table tbody tr").filter(has=inspector.locator(f'input[value="{recording.id}"]'))
    row.get_by_role("button", name=score).click()
    inspector.wait_for_url("**/qa/evaluations/*")
    expect(inspector.locator("main")).to_contain_text(world.agents[0].display_name)
