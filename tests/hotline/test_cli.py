"""The `hotline` command as an operator uses it: every command has help, the first admin is
created, the audit trail's verifier catches an edited row, keys rotate."""

from __future__ import annotations

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
    ["db", "downgrade"], ["users"], ["users", "create"], ["audit"], ["audit", "verify"], ["keys"],
    ["keys", "generate"], ["keys", "rotate"], ["forecast"], ["customers"], ["screenshots"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hotline")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


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
