"""`hotline backup create | list | verify | restore`, step by step as docs/production.md gives the
procedure, and the refusals: a verification that finds a tampered backup, an unknown backup, the
master keys without a passphrase, a keys folder inside the storage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from core import config, db
from core.config import Settings
from core.storage import get_storage
from hotline.cli import main
from tests.factories import make_site
from tests.tickets.factories_customers import make_customer
from tickets.models.customers import Customer

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, **kwargs: object) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)


def test_the_documented_procedure_backs_up_verifies_and_restores(settings: Settings, session: Session) -> None:
    customer = make_customer(session, site=make_site(session), name="Procedure Person")
    session.rollback()
    made = _run("backup", "create")
    assert made.exit_code == 0, made.output
    assert "database copied" in made.stderr  # the progress, on the terminal beside the result
    backup_id = re.search(r"backup (\S+):", made.output).group(1)
    listed = _run("backup", "list")
    assert backup_id in listed.output and "not verified" in listed.output
    checked = _run("backup", "verify", backup_id)
    assert checked.exit_code == 0 and "audit trail intact" in checked.output, checked.output
    with db.session_scope() as s:
        s.get(Customer, customer.id).name = "Changed Later"
    restored = _run("backup", "restore", backup_id, "--yes")
    assert restored.exit_code == 0, restored.output
    with db.session_scope() as s:
        assert s.get(Customer, customer.id).name == "Procedure Person"
    # The procedure in the docs is these commands.
    doc = (ROOT / "docs" / "production.md").read_text()
    for command in ("hotline backup create", "hotline backup verify", "hotline backup restore", "hotline backup list"):
        assert command in doc


def test_verify_fails_on_a_tampered_backup(settings: Settings, session: Session) -> None:
    made = _run("backup", "create")
    backup_id = re.search(r"backup (\S+):", made.output).group(1)
    storage = get_storage().inner
    manifest = json.loads(storage.get(f"backups/{backup_id}/manifest.json"))
    manifest["audit_head"] = {"seq": 999999, "hash": "0" * 64}
    storage.put(f"backups/{backup_id}/manifest.json", json.dumps(manifest).encode())
    checked = _run("backup", "verify", backup_id)
    assert checked.exit_code == 1
    listed = _run("backup", "list")
    assert "FAILED verification" in listed.output


def test_unknown_backup_is_a_clear_error(settings: Settings) -> None:
    result = _run("backup", "restore", "nope", "--yes")
    assert result.exit_code == 1 and "no backup 'nope'" in result.output


def test_master_keys_need_a_passphrase_and_keys_inside_the_storage_are_refused(settings: Settings,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_BACKUP_PASSPHRASE", "short")
    result = _run("backup", "create", "--with-master-keys")
    assert result.exit_code == 1 and "at least 12 characters" in result.output
    monkeypatch.setenv("HOTLINE_BACKUP_PASSPHRASE", "a long enough passphrase")
    result = _run("backup", "create", "--with-master-keys")
    assert result.exit_code == 0 and "master keys: sealed" in result.output
    backup_id = re.search(r"backup (\S+):", result.output).group(1)
    target = settings.var_dir.parent / "restored-keys.json"
    opened = _run("backup", "open-keys", backup_id, str(target))
    assert opened.exit_code == 0, opened.output
    assert json.loads(target.read_text())["data_keys"] == settings.data_key_values()
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    again = _run("backup", "open-keys", backup_id, str(target))
    assert again.exit_code == 1 and "exists already" in again.output
    monkeypatch.setenv("HOTLINE_BACKUP_PASSPHRASE", "the wrong passphrase")
    wrong = _run("backup", "open-keys", backup_id, str(settings.var_dir.parent / "other.json"))
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output
    config.configure(settings.model_copy(update={"keys_dir": settings.effective_storage_dir / "keys"}))
    result = _run("backup", "create")
    assert result.exit_code == 1 and "inside the storage folder" in result.output


def test_verify_without_an_id_checks_the_newest_backup(settings: Settings) -> None:
    none = _run("backup", "verify")
    assert none.exit_code == 1 and "no backup yet" in none.output
    _run("backup", "create")
    newest = re.search(r"backup (\S+):", _run("backup", "create").output).group(1)
    checked = _run("backup", "verify")
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith(f"backup {newest} verified")


def test_restore_asks_first(settings: Settings, session: Session) -> None:
    customer = make_customer(session, site=make_site(session), name="Asked First")
    session.rollback()
    backup_id = re.search(r"backup (\S+):", _run("backup", "create").output).group(1)
    with db.session_scope() as s:
        s.get(Customer, customer.id).name = "Changed Later"
    declined = _run("backup", "restore", backup_id, input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    with db.session_scope() as s:
        assert s.get(Customer, customer.id).name == "Changed Later"
    accepted = _run("backup", "restore", backup_id, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    with db.session_scope() as s:
        assert s.get(Customer, customer.id).name == "Asked First"
