"""`hotline customers import` and `hotline customers erase`: the `customers` click group, added
to the `hotline` command by hotline/cli.py."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from core import config


def _ready() -> None:
    try:
        settings = config.get_settings()
        config.validate_for_start(settings)
    except config.ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    config.configure(settings)
    from core.logs import setup_logging

    setup_logging(settings)


@click.group()
def customers() -> None:
    """Customers: import from CSV, erase a member who left."""


@customers.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--site", "site_code", default=None, help="Code of the site for rows without a `site` column.")
@click.option("--consent-method", default="import", show_default=True,
              type=click.Choice(["phone", "form", "web", "sms", "import"]),
              help="How consent was given, for rows without a `consent_method` column.")
@click.option("--dry-run", is_flag=True, help="Check every row and report, but keep nothing.")
def import_command(path: str, site_code: str | None, consent_method: str, dry_run: bool) -> None:
    """Import customers from a CSV file with a header row (`name` and `phone` required). Good rows
    are kept, each rejected row is reported with its line and reasons; exits 1 if any was rejected."""
    from core import organisation
    from core.db import session_scope, write_locked
    from core.errors import DomainError
    from tickets.importer import import_csv

    _ready()
    try:
        with session_scope() as session:
            write_locked(session)
            site_id = None
            if site_code:
                code = site_code.strip().lower()
                site_id = next((s.id for s in organisation.list_sites(session) if s.code == code), None)
                if site_id is None:
                    raise click.ClickException(f"no site with code {site_code!r}")
            with open(path, newline="", encoding="utf-8-sig") as source:
                total = max(0, sum(1 for _ in source) - 1)  # lines, the header aside (a quoted line break counts twice)
                source.seek(0)
                report = import_csv(session, source=source, by=None, default_site_id=site_id,
                                    consent_method=consent_method, progress=_rows_done(total))
            if dry_run:
                session.rollback()
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for row in report.rejected:
        reasons = "; ".join(f"{e['field']}: {e['msg']}" for e in row.errors)
        click.echo(f"line {row.line} rejected: {reasons}", err=True)
    if report.ignored_columns:
        click.echo(f"ignored columns: {', '.join(report.ignored_columns)}", err=True)
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {report.imported} of {report.total} rows; {len(report.rejected)} rejected")
    if report.rejected:
        sys.exit(1)


def _rows_done(total: int) -> Callable[[int], None]:
    """Progress on the terminal while a long file is read: a line every 500 rows."""
    def say(done: int) -> None:
        if done % 500 == 0:
            click.echo(f"{done} of about {total} rows checked...", err=True)

    return say


@customers.command("erase")
@click.argument("customer_id", type=int)
@click.option("--reason", required=True, help="Why, for the history and the certificate (no personal data).")
@click.option("--notice", is_flag=True,
              help="Record the member's request instead: they are told by SMS (with consent) and erased after "
                   "the notice period (HOTLINE_ERASURE_NOTICE_DAYS).")
@click.option("--override", "overrides", multiple=True, type=click.Choice(["open_complaint", "unused_points"]),
              help="Erase despite an open complaint or unused points (repeat for both).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(customer_id: int, reason: str, notice: bool, overrides: tuple[str, ...], yes: bool) -> None:
    """Erase a customer: their data key is shredded, so their personal data, call-log numbers and
    recordings are unreadable everywhere, backups included. Tickets and statistics stay,
    anonymised. A certificate goes to the audit trail."""
    from core.db import session_scope, write_locked
    from core.errors import DomainError
    from tickets import erasure

    _ready()
    if notice:
        try:
            with session_scope() as session:
                request = erasure.request_erasure(write_locked(session), customer_id=customer_id, by=None,
                                                  reason=reason, overrides=overrides)
                due, told = request.due_at, request.notice_sent
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"customer {customer_id} will be erased on {due:%Y-%m-%d}; "
                   + ("notice sent by SMS" if told else "no SMS consent on record: tell them another way"))
        return
    if not yes:
        click.confirm(f"Erase the personal data of customer {customer_id}? This cannot be undone", abort=True)
    try:
        with session_scope() as session:
            erasure.erase_now(write_locked(session), customer_id=customer_id, by=None, reason=reason,
                              overrides=overrides)
    except DomainError as exc:
        hint = " (add --override open_complaint / --override unused_points to erase anyway)" \
            if exc.code == "erasure_refused" else ""
        raise click.ClickException(exc.message + hint) from exc
    click.echo(f"customer {customer_id} erased")


@customers.command("cancel-erasure")
@click.argument("customer_id", type=int)
def cancel_erasure_command(customer_id: int) -> None:
    """The member stays after all: cancel their pending (or held) erasure request. Audited."""
    from core.db import session_scope, write_locked
    from core.errors import DomainError
    from tickets import erasure

    _ready()
    try:
        with session_scope() as session:
            pending = erasure.pending_for(write_locked(session), customer_id=customer_id)
            if pending is None:
                raise click.ClickException(f"customer {customer_id} has no pending erasure request")
            erasure.cancel(session, erasure_id=pending.id, by=None)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"erasure of customer {customer_id} cancelled")
