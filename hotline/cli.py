"""The `hotline` command: serve, worker, beat, database, users, audit and keys."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from core import config
from hotline import hooks


def _settings() -> config.Settings:
    try:
        settings = config.get_settings()
        config.validate_for_start(settings)
    except config.ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # pydantic's ValidationError names the variable and the problem
        raise click.ClickException(f"invalid settings: {exc}") from exc
    config.configure(settings)
    from core import passwords
    from core.logs import setup_logging

    setup_logging(settings)
    passwords.configure(settings)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hotline")
def main() -> None:
    """Hotline: the call-center hub. Settings come from HOTLINE_* environment variables."""
    # Every command runs with the hooks the web app and the workers have: customers imported or
    # erased here are sealed under their data key, and erasure reaches calls and recordings.
    hooks.wire()


# serve / worker / beat ----------------------------------------------------------------------


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    settings = _settings()
    if workers > 1:
        if not settings.broker_url:
            raise click.ClickException("several web workers need HOTLINE_BROKER_URL (Redis) for the event bus")
        uvicorn.run("hotline.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_config=None, proxy_headers=False, ws_per_message_deflate=settings.ws_compression)
    else:
        from hotline.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, proxy_headers=False,
                    ws_per_message_deflate=settings.ws_compression)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int,
              help="Web processes (production; needs Redis for the event bus).")
def serve(host: str, port: int, workers: int) -> None:
    """Run the web hub. In the embedded mode the database is upgraded first and a Celery worker
    and beat run inside the process."""
    _serve(host, port, workers)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--calls-per-minute", default=3.0, show_default=True, type=float,
              help="Simulated calls the traffic generator places; 0 for none.")
@click.option("--history-calls-per-day", default=8, show_default=True, type=click.IntRange(0, 200),
              help="Calls a day in the week of history played on the first start; 0 for none.")
@click.option("--language", type=click.Choice(["en", "zh-CN"]), default=None,
              help="The language the demo's names (people, customers, store, shift templates) are made in on "
                   "the first start; default HOTLINE_DEMO_LANGUAGE, else the terminal's (LANG), else English.")
def demo(host: str, port: int, calls_per_minute: float, history_calls_per_day: int, language: str | None) -> None:
    """Run the hub on the embedded default with the carrier simulator, demo users and customers,
    a week of history, and simulated callers, so every screen can be tried."""
    from hotline.demo import run

    run(host, port, calls_per_minute=calls_per_minute, history_calls_per_day=history_calls_per_day, language=language)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--concurrency", "-c", default=2, show_default=True, type=int)
@click.option("--queues", "-Q", default=None, help="Comma-separated queues to consume.")
@click.pass_context
def worker(ctx: click.Context, concurrency: int, queues: str | None) -> None:
    """Run a Celery worker (production: needs HOTLINE_BROKER_URL). Extra arguments go to Celery."""
    settings = _settings()
    if not settings.broker_url:
        raise click.ClickException("`hotline worker` needs HOTLINE_BROKER_URL; the embedded mode runs its worker "
                                   "inside `hotline serve`")
    from hotline.worker import configure

    celery_app = configure(settings)
    argv = ["worker", "--loglevel", settings.log_level, "--concurrency", str(concurrency)]
    if queues:
        argv += ["--queues", queues]
    celery_app.worker_main(argv + list(ctx.args))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat(ctx: click.Context) -> None:
    """Run the Celery beat scheduler (exactly one per installation)."""
    settings = _settings()
    if not settings.broker_url:
        raise click.ClickException("`hotline beat` needs HOTLINE_BROKER_URL; the embedded mode runs beat "
                                   "inside `hotline serve`")
    from hotline.worker import configure

    celery_app = configure(settings)
    celery_app.start(["beat", "--loglevel", settings.log_level, *ctx.args])


# db -----------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from hotline import migrate

    settings = _settings()
    migrate.upgrade(settings.effective_database_url, revision)
    click.echo(f"database at {migrate.current_revision(settings.effective_database_url)}")


@db.command("downgrade", context_settings={"ignore_unknown_options": True})  # so "-1" is a revision
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (for example -1 or base)."""
    from hotline import migrate

    settings = _settings()
    migrate.downgrade(settings.effective_database_url, revision)
    click.echo(f"database at {migrate.current_revision(settings.effective_database_url)}")


@db.command("current")
def db_current() -> None:
    """Show the applied and the latest revision."""
    from hotline import migrate

    settings = _settings()
    url = settings.effective_database_url
    click.echo(f"applied: {migrate.current_revision(url)}; latest: {migrate.head_revision(url)}")


# users --------------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """People who sign in."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True,
              type=click.Choice(["agent", "team_leader", "qa_inspector", "supervisor", "center_head", "admin"]))
@click.option("--display-name", default=None, help="Shown in the pages; defaults to the username.")
@click.option("--password", default=None, help="Prompted for (hidden) when not given.")
@click.option("--site", "site_code", default=None, help="Code of an existing site.")
def users_create(username: str, role: str, display_name: str | None, password: str | None,
                 site_code: str | None) -> None:
    """Create a user, for example the first admin."""
    from core import db as core_db
    from core import organisation
    from core import users as user_service
    from core.errors import DomainError

    _settings()
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with core_db.session_scope() as session:
            site_id = None
            if site_code:
                site = organisation.get_site_by_code(session, code=site_code)
                if site is None:
                    raise click.ClickException(f"no site with code {site_code!r}")
                site_id = site.id
            user = user_service.create_user(session, username=username, password=password, role=role,
                                            display_name=display_name or username, site_id=site_id)
            click.echo(f"created {user.role} {user.username} (id {user.id})")
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


# audit --------------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command("verify")
@click.option("--checkpoints", "checkpoints", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The checkpoint file (default HOTLINE_AUDIT_CHECKPOINT_FILE or var/audit-checkpoints.jsonl).")
def audit_verify(checkpoints: Path | None) -> None:
    """Check the hash chain and that it reaches the newest checkpoint kept outside the database;
    report the first entry altered, removed or missing (exit 1)."""
    from core import audit_checkpoints
    from core import db as core_db

    _settings()
    with core_db.session_scope() as session:
        verdict = audit_checkpoints.verify_with_checkpoints(session, path=checkpoints)
    for warning in verdict.warnings:
        click.echo(f"warning: {warning}", err=True)
    result = verdict.result
    if result.ok:
        reached = f"; reaches the newest of {verdict.checkpoints} checkpoints (entry {verdict.newest.seq})" \
            if verdict.newest is not None else ""
        click.echo(f"audit trail intact: {result.checked} entries checked{reached}")
        return
    where = f" at entry {result.first_bad_seq}" if result.first_bad_seq is not None else ""
    click.echo(f"audit trail BROKEN{where}: {result.reason}", err=True)
    sys.exit(1)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Note the trail's head in the checkpoint file now (beat does it every minute)."""
    from core import audit_checkpoints
    from core import db as core_db

    _settings()
    with core_db.session_scope() as session:
        written = audit_checkpoints.write_checkpoint(session)
    click.echo(f"checkpoint written: entry {written.seq}" if written else "nothing new to checkpoint")


# keys ---------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Encryption keys for personal data."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new data key; put it first in HOTLINE_DATA_KEYS, then run `hotline keys rotate`."""
    click.echo(config.new_data_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every personal field with the newest key in HOTLINE_DATA_KEYS."""
    from core import db as core_db
    from core.crypto import rotate_all
    from hotline.models import load_all

    _settings()
    load_all()  # every package's encrypted columns must be known, or rotation would skip them
    with core_db.session_scope() as session:
        counts = rotate_all(session, commit_every_batch=True)
    total = sum(counts.values())
    for column, count in sorted(counts.items()):
        click.echo(f"{column}: {count}")
    click.echo(f"re-encrypted {total} values with the newest key; older keys can now be retired")


# backup -------------------------------------------------------------------------------------
# (kept apart from the other groups: backups, restores and their checks)


@main.group()
def backup() -> None:
    """Backups of the database and recordings: create, list, verify, restore."""


def _backup_error(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@keys.command("seal-media")
def keys_seal_media() -> None:
    """Encrypt recordings stored before media was sealed (once, after upgrading), each under its
    caller's data key, checked as it is written."""
    from core import db as core_db
    from telephony.erasure import seal_stored_media

    _settings()
    with core_db.session_scope() as session:
        count = seal_stored_media(session)
    click.echo(f"sealed {count} recordings")


@backup.command("create")
@click.option("--with-master-keys", is_flag=True,
              help="Also put the master keys in, sealed with a passphrase (asked for, or HOTLINE_BACKUP_PASSPHRASE).")
def backup_create(with_master_keys: bool) -> None:
    """Back up the database (SQLite online backup, or pg_dump in custom format), the recordings
    and the wrapped data keys. The master keys stay out unless sealed with a passphrase."""
    import os

    from core import backup as backups

    _settings()
    passphrase = None
    if with_master_keys:
        passphrase = os.environ.get("HOTLINE_BACKUP_PASSPHRASE") or click.prompt(
            "Passphrase to seal the master keys with", hide_input=True, confirmation_prompt=True)
    def progress(done: int, total: int) -> None:
        if done == 1:
            click.echo("database copied", err=True)
        elif done > 1 and (done == total or (done - 1) % 100 == 0):
            click.echo(f"recordings copied: {done - 1} of {total - 1}", err=True)

    try:
        made = backups.create(include_master_keys=with_master_keys, passphrase=passphrase, progress=progress)
    except backups.BackupError as exc:
        raise _backup_error(exc) from exc
    click.echo(f"backup {made.id}: {made.database} database, {made.recordings} recordings, "
               f"{made.size_bytes} bytes; master keys: {made.master_keys}")


@backup.command("list")
def backup_list() -> None:
    """The backups kept, newest first, with their last verification."""
    from core import backup as backups

    _settings()
    for item in backups.list_backups():
        checked = "not verified" if item.verify_ok is None else \
            ("verified " if item.verify_ok else "FAILED verification ") + str(item.verified_at)
        click.echo(f"{item.id}  {item.database}  {item.recordings} recordings  {item.size_bytes} bytes  {checked}")


@backup.command("verify")
@click.argument("backup_id", required=False)
def backup_verify(backup_id: str | None) -> None:
    """Restore a backup (default: the newest) into a throw-away database and check it: the audit
    trail's chain as `hotline audit verify` checks it, the data keys, the recordings. Exit 1 on a failure."""
    from core import backup as backups

    _settings()
    try:
        chosen = backup_id or next((b.id for b in backups.list_backups()), None)
        if chosen is None:
            raise click.ClickException("no backup yet; make one with `hotline backup create`")
        result = backups.verify(chosen)
    except backups.BackupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"backup {chosen} verified: audit trail intact ({result['audit_entries']} entries), "
               f"{result['recordings']} recordings, {result['data_keys']} data keys")


@backup.command("open-keys")
@click.argument("backup_id")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def backup_open_keys(backup_id: str, target: Path) -> None:
    """Write the master keys sealed in a backup (made with --with-master-keys) to TARGET, a new
    file (mode 0600) in the embedded mode's keys.json format, after asking for the passphrase."""
    import os

    from core import backup as backups

    _settings()
    passphrase = os.environ.get("HOTLINE_BACKUP_PASSPHRASE") or click.prompt("Passphrase", hide_input=True)
    try:
        backups.write_master_keys(backup_id, passphrase, target)
    except backups.BackupError as exc:
        raise _backup_error(exc) from exc
    click.echo(f"master keys written to {target}; keep this file apart from the backups")


@backup.command("restore")
@click.argument("backup_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def backup_restore(backup_id: str, yes: bool) -> None:
    """Put a backup back (stop the web, workers and beat first). Customers erased since it was
    taken stay erased: their data keys are shredded in every kept backup."""
    from core import backup as backups

    _settings()
    if not yes:
        click.confirm(f"Replace the database and recordings with backup {backup_id}?", abort=True)
    try:
        counts = backups.restore(backup_id)
    except backups.BackupError as exc:
        raise _backup_error(exc) from exc
    click.echo(f"restored {backup_id}: {counts['recordings']} recordings, {counts['data_keys']} data keys "
               f"({counts['shredded']} shredded by erasures)")


def _add_package_commands() -> None:
    from hotline.screenshots import screenshots
    from scheduling.cli import forecast
    from tickets.cli import customers

    main.add_command(forecast)
    main.add_command(customers)
    main.add_command(screenshots)


_add_package_commands()

if __name__ == "__main__":
    main()
