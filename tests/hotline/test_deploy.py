"""The production shape on loopback (deploy/loopback.py): Debian's nginx in front of two web
processes, two Celery workers and one beat, on PostgreSQL and Redis, with files in S3-compatible
storage (moto's server). Calls are played through the carrier simulator; a wallboard in Chromium
on one web process follows what happens on the other, and the recordings each worker wrote play
from either web process. Run once, on PostgreSQL + Redis (`-m deployment`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core import clock as clock_module
from core import config, db
from core.storage import get_storage
from deploy.carrier import LoopbackCarrier
from deploy.databases import scratch_database
from deploy.loopback import NGINX, TWILIO_SID, TWILIO_TOKEN, Loopback, render_nginx
from deploy.processes import free_port
from telephony import presence
from telephony.models import Call, Recording
from tests.agent_ui.desk import CALLER, Desk, make_desk
from tests.conftest import BROKER_URL, PG_URL
from tests.factories import DEFAULT_PASSWORD, cheap_password_hashing, make_api_token

__all__ = ["cheap_password_hashing"]

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WITHIN = 60.0

pytestmark = [
    pytest.mark.deployment,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not (PG_URL and BROKER_URL), reason="needs PostgreSQL and Redis (HOTLINE_TEST_*_URL)"),
    # CI installs Debian's nginx; elsewhere the test says what is missing instead of failing.
    pytest.mark.skipif(not shutil.which("nginx") and not Path(NGINX).exists() and not os.environ.get("CI"),
                       reason="needs Debian's nginx (apt-get install nginx)"),
]


def eventually(condition: Callable[[], Any], *, what: str, within: float = WITHIN) -> Any:
    """Wait (in real time) for what other processes do."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within:.0f} s")
        time.sleep(0.05)


def test_the_nginx_template_renders_to_a_configuration_nginx_accepts(tmp_path: Path) -> None:
    import subprocess

    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx(prefix=tmp_path, listen_port=free_port(), web_ports=[free_port(), free_port()],
                                 simulator_port=free_port()))
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    text = conf.read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in text and "location = /ws" in text


@pytest.fixture
def loopback_database() -> Iterator[str]:
    assert PG_URL
    with scratch_database(PG_URL, "hotline_deploy") as url:
        yield url


def _play_call(carrier: LoopbackCarrier, agent_id: int, caller: str) -> str:
    """A caller dials, picks the inquiry line, the agent's browser phone answers, they talk, the
    caller hangs up."""
    with carrier.lock:
        sid = carrier.sim.place_call(caller)
    eventually(lambda: carrier.sim.calls[sid].waiting == "gather", what="the menu")
    with carrier.lock:
        assert carrier.sim.press(sid, "1")
    phone = carrier.sim.phone(f"agent_{agent_id}")
    eventually(phone.ringing, what=f"agent {agent_id}'s phone ringing")
    with carrier.lock:
        phone.answer()
    eventually(lambda: any("[joined" in line for line in carrier.sim.heard(sid)), what="caller and agent joined")
    with carrier.lock:
        carrier.sim.hangup(sid)
    return sid


def _copied(call_sid: str) -> Recording | None:
    with db.session_scope() as session:
        return session.scalar(select(Recording).join(Call, Recording.call_id == Call.id)
                              .where(Call.call_sid == call_sid, Recording.kind == "call",
                                     Recording.copied_at.is_not(None)))


def test_two_web_processes_two_workers_one_beat_behind_nginx(loopback_database: str, s3_endpoint: str,
                                                             tmp_path: Path, data_keys: list[str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    carrier = LoopbackCarrier(free_port())
    loopback = Loopback(database_url=loopback_database, broker_url=BROKER_URL or "", workdir=tmp_path / "loopback",
                        s3_endpoint=s3_endpoint, bucket=f"hotline-{uuid.uuid4().hex[:10]}",
                        simulator_port=carrier.port)
    loopback.start()
    env = loopback.env()
    settings = config.Settings(
        mode="embedded", var_dir=tmp_path / "var", database_url=loopback_database, broker_url=BROKER_URL,
        public_url=loopback.public_url, secret_key=env["HOTLINE_SECRET_KEY"], data_keys=env["HOTLINE_DATA_KEYS"],
        blind_index_key=env["HOTLINE_BLIND_INDEX_KEY"], twilio_account_sid=TWILIO_SID, twilio_auth_token=TWILIO_TOKEN,
        storage_backend="s3", s3_bucket=loopback.bucket, s3_endpoint_url=s3_endpoint, s3_access_key_id="hotline",
        s3_secret_access_key="hotline-secret", log_json=False)
    config.configure(settings)
    db.configure_engine(db.make_engine(loopback_database))
    clock_module.install(clock_module.SystemClock())  # the hub's processes run on real time too
    web1, web2 = loopback.web_urls
    try:
        with db.session_scope() as session:
            desk: Desk = make_desk(session)
            agent_a, agent_b = desk.agent.id, desk.teammate.id
            qa_token = make_api_token(session, desk.qa)
        carrier.start(settings)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                def signed_in(base: str, username: str, path: str) -> Any:
                    page = chromium.new_context(base_url=base, locale="en-GB").new_page()
                    page.goto("/signin?next=" + path)
                    page.locator("#username").fill(username)
                    page.locator("#password").fill(DEFAULT_PASSWORD)
                    page.locator('main form[action="/signin"] button[type="submit"]').click()
                    page.wait_for_url("**" + path)
                    expect(page.locator("html")).to_have_attribute("data-live", "open")
                    return page

                # The wallboard is on web 1; the agent works on web 2.
                board = signed_in(web1, desk.supervisor.username, "/floor")
                expect(board.locator("#stat-available")).to_have_text("0")
                agent = signed_in(web2, "agent-a", "/desktop")
                agent.get_by_role("button", name="Available").click()
                expect(agent.locator("#presence-panel .presence-state")).to_have_text("Available")
                expect(board.locator("#stat-available")).to_have_text("1")
                expect(board.locator('[data-state="available"]')).to_contain_text("An Agent")

                # Call 1, its webhooks to web 2, while worker 2 is paused: worker 1 rings the agent
                # and copies the recording into the storage.
                loopback.stop_consuming("worker2")
                carrier.target = web2
                first = _play_call(carrier, agent_a, CALLER)
                expect(board.locator('[data-state="on_call"]')).to_contain_text("An Agent")
                recording_1 = eventually(lambda: _copied(first), what="worker 1 copying recording 1")
                loopback.start_consuming("worker2")

                # Call 2, its webhooks through nginx, while worker 1 is paused: worker 2 copies.
                loopback.stop_consuming("worker1")
                carrier.target = None
                with db.session_scope() as session:
                    presence.set_presence(session, user_id=agent_b, state="available")
                expect(board.locator('[data-state="available"]')).to_contain_text("Bo Teammate")
                second = _play_call(carrier, agent_b, CALLER)
                recording_2 = eventually(lambda: _copied(second), what="worker 2 copying recording 2")
                loopback.start_consuming("worker1")
            finally:
                chromium.close()

        # Each recording, written by one worker, plays whole and by range from either web process.
        storage = get_storage()
        for recording in (recording_1, recording_2):
            assert recording.media_key and storage.sha256(recording.media_key) == recording.sha256
            for base in (web1, web2, loopback.public_url):
                url = f"{base}/recordings/{recording.id}"
                whole = httpx.get(url, headers={"Authorization": f"Bearer {qa_token}"}, timeout=10)
                assert whole.status_code == 200, (base, whole.text)
                assert hashlib.sha256(whole.content).hexdigest() == recording.sha256
                part = httpx.get(url, headers={"Authorization": f"Bearer {qa_token}", "Range": "bytes=44-143"},
                                 timeout=10)
                assert part.status_code == 206 and part.content == whole.content[44:144]
        assert carrier.sim.errors == [], carrier.sim.errors
        for name in ("web1", "web2", "worker1", "worker2", "beat", "nginx"):
            assert loopback.processes[name].alive(), loopback.processes[name].tail()
    finally:
        carrier.stop() if carrier.sim is not None else None
        codes = loopback.stop()
        db.get_engine().dispose()
        db.configure_engine(None)
        config.configure(None)
    assert codes["nginx"] == 0 and codes["beat"] == 0 and codes["worker1"] == 0 and codes["worker2"] == 0, codes
