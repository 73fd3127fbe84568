"""The `hotline` command as an operator uses it: every command has help, the first admin is
created, the audit trail's verifier catches an edited row, keys rotate."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.orm import Session

from core import audit, config, db, users
from core.config import Settings
from hotline.cli import main
from tests.factories import cheap_password_hashing  # noqa: F401 - autouse fixture

COMMANDS = [
    [], ["serve"], ["worker"], ["beat"], ["demo"], ["db"], ["db", "upgrade"], ["db", "current"],
    ["db", "downgrade"], ["users"], ["users", "create"], ["audit"], ["audit", "verify"], ["audit", "checkpoint"],
    ["keys"], ["keys", "generate"], ["keys", "rotate"], ["keys", "seal-media"], ["backup"], ["backup", "create"],
    ["backup", "list"], ["backup", "verify"], ["backup", "open-keys"], ["backup", "restore"], ["forecast"],
    ["customers"], ["customers", "import"], ["customers", "erase"], ["customers", "cancel-erasure"], ["screenshots"],
]


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    for name, command in group.commands.items():
        found += _commands(command, [*prefix, name]) if isinstance(command, click.Group) else [[*prefix, name]]
    return found


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hotline")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_the_help_list_names_every_command() -> None:
    assert sorted(_commands(main, [])) == sorted(COMMANDS)


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "version" in result.output


def test_serve_refuses_several_workers_without_redis(settings: Settings) -> None:
    config.configure(settings.model_copy(update={"broker_url": None}))
    result = CliRunner().invoke(main, ["serve", "--workers", "2", "--port", "9299"])
    assert result.exit_code == 1
    assert "several web workers need HOTLINE_BROKER_URL" in result.output


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_worker_and_beat_need_redis(settings: Settings, command: str) -> None:
    config.configure(settings.model_copy(update={"broker_url": None}))
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 1
    assert f"`hotline {command}` needs HOTLINE_BROKER_URL" in result.output


def test_commands_refuse_settings_that_cannot_run(settings: Settings) -> None:
    config.configure(settings.model_copy(update={"mode": "production", "secret_key": None}))
    result = CliRunner().invoke(main, ["db", "current"])
    assert result.exit_code == 1
    assert "production mode needs these settings:" in result.output and "HOTLINE_SECRET_KEY" in result.output


def test_db_current_upgrade_and_downgrade(settings: Settings, empty_database: str) -> None:
    from hotline import migrate

    config.configure(settings.model_copy(update={"database_url": empty_database}))
    head = migrate.head_revision(empty_database)
    before = CliRunner().invoke(main, ["db", "current"])
    assert before.exit_code == 0, before.output
    assert before.output.strip() == f"applied: None; latest: {head}"
    first = CliRunner().invoke(main, ["db", "upgrade", "0001"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "database at 0001"
    upgraded = CliRunner().invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and upgraded.output.strip() == f"database at {head}", upgraded.output
    down = CliRunner().invoke(main, ["db", "downgrade", "-1"])
    assert down.exit_code == 0, down.output
    below = migrate.current_revision(empty_database)
    assert below not in (None, head) and down.output.strip() == f"database at {below}"
    assert CliRunner().invoke(main, ["db", "current"]).output.strip() == f"applied: {below}; latest: {head}"
    assert CliRunner().invoke(main, ["db", "downgrade", "base"]).output.strip() == "database at None"


def test_users_create_makes_the_first_admin(settings: Settings, session: Session) -> None:
    result = CliRunner().invoke(main, ["users", "create", "--username", "root", "--role", "admin",
                                       "--display-name", "Ada Admin"], input="a long enough secret\n" * 2)
    assert result.exit_code == 0, result.output
    assert "created admin root" in result.output
    admin = users.get_by_username(session, username="root")
    assert admin is not None and admin.role == "admin"
    assert "a long enough secret" not in result.output


def test_users_create_refuses_a_short_password(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["users", "create", "--username", "bob", "--role", "agent",
                                       "--password", "short"])
    assert result.exit_code != 0
    assert "Error" in result.output


def test_users_create_puts_the_person_in_a_site_by_code(settings: Settings, session: Session) -> None:
    # `hotline users create --site CODE` crashed: it called a lookup that did not exist.
    from tests.factories import make_site

    site = make_site(session, code="north")
    result = CliRunner().invoke(main, ["users", "create", "--username", "lead1", "--role", "team_leader",
                                       "--site", " North ", "--password", "a long enough secret"])
    assert result.exit_code == 0, result.output
    assert "created team_leader lead1" in result.output
    session.expire_all()
    lead = users.get_by_username(session, username="lead1")
    assert lead is not None and lead.site_id == site.id


def test_users_create_names_an_unknown_site(settings: Settings, session: Session) -> None:
    result = CliRunner().invoke(main, ["users", "create", "--username", "lead2", "--role", "team_leader",
                                       "--site", "nowhere", "--password", "a long enough secret"])
    assert result.exit_code == 1
    assert "no site with code 'nowhere'" in result.output
    assert "Traceback" not in result.output
    assert users.get_by_username(session, username="lead2") is None


def test_users_create_refuses_a_taken_username(settings: Settings, session: Session) -> None:
    args = ["users", "create", "--username", "twice", "--role", "agent", "--password", "a long enough secret"]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "Error" in result.output and "Traceback" not in result.output


def _record_three(session: Session) -> None:
    for n in range(3):
        audit.record(session, action="test.event", actor_name="cli-test", object_type="thing", object_id=str(n))
    session.commit()


def test_audit_verify_reports_an_intact_trail(settings: Settings, session: Session) -> None:
    _record_three(session)
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def test_audit_verify_catches_an_edited_row(settings: Settings, session: Session, db_dialect: str) -> None:
    _record_three(session)
    # An attacker with database rights gets past the append-only trigger first.
    if db_dialect == "postgresql":
        session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER ALL"))
    else:
        for name in session.execute(text("SELECT name FROM sqlite_master WHERE type='trigger' "
                                         "AND tbl_name='audit_entries'")).scalars().all():
            session.execute(text(f'DROP TRIGGER "{name}"'))
    session.execute(text("UPDATE audit_entries SET object_id = 'forged' WHERE seq = 2"))
    if db_dialect == "postgresql":
        session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER ALL"))
    session.commit()
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN at entry 2" in result.output


def test_keys_generate_prints_a_fernet_key() -> None:
    result = CliRunner().invoke(main, ["keys", "generate"])
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())


def test_keys_rotate_re_encrypts_with_the_newest_key(settings: Settings, session: Session) -> None:
    from core.crypto import forget_data_key
    from tests.factories import make_site
    from tests.tickets.factories_customers import make_customer
    from tickets.models import Customer

    customer = make_customer(session, site=make_site(session))
    wrapped = "SELECT d.wrapped FROM data_keys d JOIN customers c ON c.data_key_id = d.id WHERE c.id = :id"
    old_wrapped = session.execute(text(wrapped), {"id": customer.id}).scalar_one()
    old_raw = session.execute(text("SELECT name FROM customers WHERE id = :id"), {"id": customer.id}).scalar_one()
    new_key = Fernet.generate_key().decode()
    rotated = settings.model_copy(update={"data_keys": [SecretStr(new_key), *settings.data_keys]})
    config.configure(rotated)
    result = CliRunner().invoke(main, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted" in result.output
    session.rollback()
    # The customer's data key is re-wrapped under the new master key; their values stay under it.
    assert session.execute(text(wrapped), {"id": customer.id}).scalar_one() != old_wrapped
    assert session.execute(text("SELECT name FROM customers WHERE id = :id"),
                           {"id": customer.id}).scalar_one() == old_raw
    # The old key can now be retired: the row reads with the new key alone.
    config.configure(settings.model_copy(update={"data_keys": [SecretStr(new_key)]}))
    forget_data_key()  # as a process started afresh
    with db.session_scope() as fresh:
        assert fresh.get(Customer, customer.id).name == "Wang Li"


def test_users_create_offers_only_the_roles_there_are(settings: Settings, session: Session) -> None:
    result = CliRunner().invoke(main, ["users", "create", "--username", "xy", "--role", "boss",
                                       "--password", "a long enough secret"])
    assert result.exit_code == 2 and "'boss' is not one of" in result.output
    assert users.get_by_username(session, username="xy") is None


@pytest.mark.parametrize("role", ["agent", "team_leader", "qa_inspector", "supervisor", "center_head", "admin"])
def test_users_create_each_role_at_a_site(settings: Settings, session: Session, role: str) -> None:
    # The command of the crash report, for every role.
    from tests.factories import make_site

    site = make_site(session, code="hq")
    short = CliRunner().invoke(main, ["users", "create", "--username", "x", "--role", role, "--site", "HQ"],
                               input="a long enough secret\n" * 2)
    assert short.exit_code == 1 and "A username is 2 to 80" in short.output and "Traceback" not in short.output
    result = CliRunner().invoke(main, ["users", "create", "--username", "xy", "--role", role, "--site", "HQ"],
                                input="a long enough secret\n" * 2)
    assert result.exit_code == 0, result.output
    session.expire_all()
    made = users.get_by_username(session, username="xy")
    assert made is not None and made.role == role and made.site_id == site.id and made.display_name == "xy"


def test_users_create_asks_again_when_the_passwords_differ(settings: Settings, session: Session) -> None:
    result = CliRunner().invoke(main, ["users", "create", "--username", "typo", "--role", "agent"],
                                input="a long enough secret\nanother long secret\n" + "a long enough secret\n" * 2)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert users.get_by_username(session, username="typo") is not None


def test_commands_hash_passwords_with_the_configured_cost(settings: Settings, session: Session) -> None:
    config.configure(settings.model_copy(update={"password_hash_memory_kib": 19456, "password_hash_time_cost": 2}))
    result = CliRunner().invoke(main, ["users", "create", "--username", "costly", "--role", "agent",
                                       "--password", "a long enough secret"])
    assert result.exit_code == 0, result.output
    made = users.get_by_username(session, username="costly")
    assert made is not None and "$m=19456,t=2,p=4$" in made.password_hash


def test_password_hash_settings_have_floors() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(password_hash_memory_kib=1024)
    with pytest.raises(ValidationError):
        Settings(password_hash_time_cost=0)


def test_screenshots_needs_a_chromium(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "shots"
    result = CliRunner().invoke(main, ["screenshots", "--chromium", str(tmp_path / "no-chromium"), "--out", str(out)])
    assert result.exit_code == 1
    assert f"no Chromium at {tmp_path / 'no-chromium'}" in result.output and "Traceback" not in result.output
    assert not out.exists()
