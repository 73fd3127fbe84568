"""Importing customers from CSV: good rows kept, each bad row reported with its line and reasons
and leaving nothing behind; the `hotline customers import` and `erase` commands."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import session_scope
from core.errors import ValidationFailed
from tests.tickets.factories_customers import Staff, make_customer, staff  # noqa: F401
from tickets import customers as customer_service
from tickets.cli import customers as customers_command
from tickets.importer import import_csv
from tickets.models.customers import Customer, CustomerPhone

CSV = """name,phone,other_phones,gender,birthday,email,site,owner,tier,points,spend,consent
Wang Li,138 0013 9001,138 0013 9002,male,1980-05-01,wang@example.com,{site},{owner},gold,100,1234.50,service;care_sms
,138 0013 9003,,,,,{site},,,,,
Li Na,12345,,,,,{site},,,,,
Zhao Lei,138 0013 9004,,,1980-02-30,,{site},,,,,
Sun Yu,138 0013 9001,,,,,{site},,,,,
Qian Bo,138 0013 9005,,,,,nowhere,,,,,
Zhou Xun,138 0013 9006,,,,,{site},,,,,
Wu Di,138 0013 9099,,,,,{site},,,,,
Chen Jie,138 0013 9007,,female,,bad-email,{site},,platinum,x,-3,
"""


def _csv(staff: Staff) -> io.StringIO:
    return io.StringIO(CSV.format(site=staff.site.code, owner=staff.agent.username))


def test_import_keeps_good_rows_and_reports_bad_ones(session: Session, staff: Staff) -> None:
    make_customer(session, site=staff.site, phones=["138 0013 9099"])  # already known
    report = import_csv(session, source=_csv(staff), by=None)
    session.commit()
    assert report.imported == 2 and report.total == 9
    reasons = {row.line: {e["field"] for e in row.errors} for row in report.rejected}
    assert reasons == {3: {"name"}, 4: {"phone"}, 5: {"birthday"}, 6: {"phone"}, 7: {"site"}, 9: {"phone"},
                       10: {"email", "points", "spend"}}
    duplicate = next(r for r in report.rejected if r.line == 6).errors[0]["msg"]
    assert "line 2" in duplicate and "9001" not in duplicate
    assert all("12345" not in e["msg"] for r in report.rejected for e in r.errors)
    wang = customer_service.find_by_phone(session, phone="13800139002")
    assert wang is not None and wang.name == "Wang Li" and wang.owning_agent_id == staff.agent.id
    assert wang.tier == "gold" and wang.points == 100 and wang.spend_cents == 123_450
    assert wang.consent_purposes == ["care_sms", "service"] and wang.consent_method == "import"
    assert wang.birthday == "1980-05-01" and [p.is_primary for p in wang.phones] == [True, False]
    # Nothing half-written: 1 existing + 2 imported customers, with 1 + 3 phones.
    assert session.scalar(select(func.count()).select_from(Customer)) == 3
    assert session.scalar(select(func.count()).select_from(CustomerPhone)) == 4


def test_import_without_required_columns_is_refused(session: Session, staff: Staff) -> None:
    with pytest.raises(ValidationFailed) as caught:
        import_csv(session, source=io.StringIO("full_name,mobile\nWang,13800138000\n"), by=None)
    assert {e["msg"] for e in caught.value.items()} == {"The file needs a column named “name”.",
                                                        "The file needs a column named “phone”."}


def test_import_uses_the_default_site(session: Session, staff: Staff) -> None:
    report = import_csv(session, source=io.StringIO("name,phone\nWang,138 0013 9100\n"), by=None,
                        default_site_id=staff.other_site.id)
    assert report.imported == 1
    assert session.get(Customer, report.customer_ids[0]).site_id == staff.other_site.id


def test_cli_import_reports_and_exits_1_on_rejections(session: Session, staff: Staff, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("name,phone\nWang,138 0013 9200\nLi,bad\n", encoding="utf-8")
    result = CliRunner().invoke(customers_command, ["import", str(path), "--site", staff.site.code])
    assert result.exit_code == 1, result.output
    assert "imported 1 of 2 rows; 1 rejected" in result.output and "line 3 rejected: phone:" in result.output
    assert customer_service.find_by_phone(session, phone="13800139200") is not None


def test_cli_import_dry_run_keeps_nothing(session: Session, staff: Staff, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("name,phone\nWang,138 0013 9300\n", encoding="utf-8")
    result = CliRunner().invoke(customers_command, ["import", str(path), "--site", staff.site.code, "--dry-run"])
    assert result.exit_code == 0 and "would import 1 of 1 rows" in result.output
    assert customer_service.find_by_phone(session, phone="13800139300") is None


def test_cli_erase_then_lookup_by_the_old_phone_finds_nothing(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, phones=["138 0013 9400"])
    result = CliRunner().invoke(customers_command, ["erase", str(customer.id), "--reason", "member left", "--yes"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert customer_service.find_by_phone(session, phone="13800139400") is None
    assert session.get(Customer, customer.id).is_erased


def test_cli_import_records_how_consent_was_given(session: Session, staff: Staff, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("name,phone\nWang,138 0013 9500\n", encoding="utf-8")
    result = CliRunner().invoke(customers_command, ["import", str(path), "--site", staff.site.code,
                                                    "--consent-method", "form"])
    assert result.exit_code == 0, result.output
    found = customer_service.find_by_phone(session, phone="13800139500")
    assert found is not None and found.consent_method == "form"
    unknown = CliRunner().invoke(customers_command, ["import", str(path), "--consent-method", "telepathy"])
    assert unknown.exit_code == 2 and "'telepathy' is not one of" in unknown.output


def test_cli_import_names_an_unknown_site(session: Session, staff: Staff, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("name,phone\nWang,138 0013 9600\n", encoding="utf-8")
    result = CliRunner().invoke(customers_command, ["import", str(path), "--site", "nowhere"])
    assert result.exit_code == 1 and "no site with code 'nowhere'" in result.output
    assert customer_service.find_by_phone(session, phone="13800139600") is None


def test_cli_erase_asks_first(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, phones=["138 0013 9700"])
    session.rollback()
    declined = CliRunner().invoke(customers_command, ["erase", str(customer.id), "--reason", "member left"],
                                  input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    with session_scope(reader=True) as fresh:
        assert not fresh.get(Customer, customer.id).is_erased
    accepted = CliRunner().invoke(customers_command, ["erase", str(customer.id), "--reason", "member left"],
                                  input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert f"customer {customer.id} erased" in accepted.output, accepted.output
    with session_scope(reader=True) as fresh:
        assert fresh.get(Customer, customer.id).is_erased
