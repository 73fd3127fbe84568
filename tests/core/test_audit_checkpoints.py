"""Audit truncation detected: the trail's head checkpointed outside the database (a signed line
appended every minute by beat, when a process stops, optionally shipped to another machine), and
`hotline audit verify` checking that the database still reaches the newest checkpoint, naming
what is missing when the newest entry, the newest 49 or every entry were deleted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.orm import Session

from core import audit, audit_checkpoints, audit_tasks
from core.clock import FrozenClock
from core.config import Settings
from hotline.cli import main


def _record(session: Session, count: int) -> None:
    for n in range(count):
        audit.record(session, action="test.event", actor_name="checkpoint-test", object_type="thing", object_id=n)
    session.commit()


@pytest.fixture
def as_owner(session: Session, db_dialect: str) -> Iterator[Session]:
    """The database owner gets past the append-only triggers (dropped on SQLite, disabled on
    PostgreSQL and enabled again afterwards)."""
    if db_dialect == "postgresql":
        session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER ALL"))
    else:
        for name in session.execute(text("SELECT name FROM sqlite_master WHERE type='trigger' "
                                         "AND tbl_name='audit_entries'")).scalars().all():
            session.execute(text(f'DROP TRIGGER "{name}"'))
    session.commit()
    yield session
    if db_dialect == "postgresql":
        session.rollback()
        session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER ALL"))
        session.commit()


def _verify() -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "verify"])
    return result.exit_code, result.output


@pytest.mark.parametrize(("removed", "missing"), [
    ("seq > 59", "entry 60 is missing"),
    ("seq > 11", "entries 12 to 60 are missing"),
    ("seq > 0", "entries 1 to 60 are missing: the trail is empty"),
], ids=["newest entry", "newest 49", "every entry"])
def test_verify_catches_the_newest_entries_removed(settings: Settings, as_owner: Session, removed: str,
                                                  missing: str) -> None:
    """The finding: deleting the newest entry, the newest 49, or every entry (as the database
    owner, triggers disabled) still gave "intact" from `hotline audit verify`."""
    _record(as_owner, 60)
    assert audit_tasks.audit_checkpoint() == 1  # beat's minute
    assert _verify()[0] == 0
    as_owner.execute(text(f"DELETE FROM audit_entries WHERE {removed}"))
    as_owner.commit()
    code, output = _verify()
    assert code == 1, output
    assert missing in output and "BROKEN" in output and "checkpoint of" in output


def test_a_checkpoint_is_written_only_when_the_head_moves(settings: Settings, session: Session) -> None:
    path = audit_checkpoints.checkpoint_path()
    assert audit_tasks.audit_checkpoint() == 0 and not path.exists()  # an empty trail: nothing to note
    _record(session, 3)
    assert audit_tasks.audit_checkpoint() == 1
    assert audit_tasks.audit_checkpoint() == 0
    _record(session, 2)
    assert audit_tasks.audit_checkpoint() == 1
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [3, 5] and set(lines[0]) == {"seq", "hash", "at", "sig"}
    assert path.stat().st_mode & 0o777 == 0o600
    code, output = _verify()
    assert code == 0 and "reaches the newest of 2 checkpoints (entry 5)" in output


def test_a_shorter_trail_is_never_checkpointed(settings: Settings, as_owner: Session,
                                               caplog: pytest.LogCaptureFixture) -> None:
    _record(as_owner, 5)
    audit_tasks.audit_checkpoint()
    as_owner.execute(text("DELETE FROM audit_entries WHERE seq > 3"))
    as_owner.commit()
    assert audit_tasks.audit_checkpoint() == 0
    assert "ends at entry 3 but its last checkpoint noted entry 5" in caplog.text
    assert _verify()[0] == 1


def test_a_rewritten_entry_at_a_checkpoint_is_caught(settings: Settings, as_owner: Session) -> None:
    _record(as_owner, 4)
    audit_tasks.audit_checkpoint()
    as_owner.execute(text("DELETE FROM audit_entries WHERE seq = 4"))
    as_owner.commit()
    # Someone who knows the key could append a fresh entry 4; without it the hash cannot match.
    audit.record(as_owner, action="test.forged", actor_name="intruder")
    as_owner.commit()
    code, output = _verify()
    assert code == 1 and "entry 4 is not the one noted earlier" in output


def test_an_altered_checkpoint_line_is_reported(settings: Settings, session: Session) -> None:
    _record(session, 2)
    audit_tasks.audit_checkpoint()
    path = audit_checkpoints.checkpoint_path()
    line = json.loads(path.read_text())
    path.write_text(json.dumps({**line, "seq": 1}) + "\n")
    code, output = _verify()
    assert code == 1 and "line 1 of the checkpoint file" in output and "not a genuine checkpoint" in output


def test_without_a_file_or_with_stale_checkpoints_verify_warns(settings: Settings, session: Session,
                                                               clock: FrozenClock) -> None:
    _record(session, 2)
    code, output = _verify()
    assert code == 0 and "warning: no checkpoint file" in output
    audit_tasks.audit_checkpoint()
    clock.advance(minutes=11)
    code, output = _verify()
    assert code == 0 and "warning: the newest checkpoint was written at" in output


def test_the_checkpoint_command_and_another_file(settings: Settings, session: Session, tmp_path: Path) -> None:
    _record(session, 2)
    result = CliRunner().invoke(main, ["audit", "checkpoint"])
    assert result.exit_code == 0 and "checkpoint written: entry 2" in result.output
    other = tmp_path / "elsewhere.jsonl"
    other.write_text(audit_checkpoints.checkpoint_path().read_text())
    result = CliRunner().invoke(main, ["audit", "verify", "--checkpoints", str(other)])
    assert result.exit_code == 0 and "entry 2" in result.output


def test_checkpoints_are_shipped_to_another_machine(settings: Settings, session: Session,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    received: list[dict[str, object]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(settings, "audit_checkpoint_url", f"http://127.0.0.1:{server.server_port}/audit")
        _record(session, 2)
        audit_tasks.audit_checkpoint()
        assert [r["seq"] for r in received] == [2] and "sig" in received[0]
    finally:
        server.shutdown()
        server.server_close()
    monkeypatch.setattr(settings, "audit_checkpoint_url", f"http://127.0.0.1:{server.server_port}/gone")
    _record(session, 1)
    assert audit_tasks.audit_checkpoint() == 1  # kept locally even when shipping fails
    assert "audit checkpoint not shipped" in caplog.text


def test_a_stopping_web_process_checkpoints(settings: Settings, session: Session) -> None:
    from fastapi.testclient import TestClient

    from hotline.app import create_app

    _record(session, 2)
    with TestClient(create_app(settings, start_background=False)):
        pass
    assert json.loads(audit_checkpoints.checkpoint_path().read_text())["seq"] == 2


def test_beat_runs_the_checkpoint_every_minute() -> None:
    from core.worker import build_beat_schedule

    entry = build_beat_schedule()["core.audit_checkpoint"]
    assert entry["schedule"] == timedelta(seconds=60)
