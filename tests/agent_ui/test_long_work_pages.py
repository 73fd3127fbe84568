"""Long work shows its progress and, when it fails, why, in the reader's language: a purchase file
imported in the background (the customer settings page) and a backup made from the backups page
(core.jobs), followed through the fragment the pages poll, as roster generation is."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from core import config, jobs
from core.config import Settings
from core.db import session_scope
from core.models import Role
from tests.factories import cheap_password_hashing, fresh, make_site, make_user, signed_in_client
from tests.telephony.hub import eager_tasks
from tests.tickets.factories_customers import make_customer
from tickets import purchases

__all__ = ["cheap_password_hashing", "eager_tasks"]

HX = {"HX-Request": "true"}


def _zh(client: TestClient) -> None:
    client.cookies.set("hotline_locale", "zh_Hans")


def _upload(client: TestClient, body: bytes):  # type: ignore[no-untyped-def]
    return client.post("/admin/lifecycle/purchases", files={"file": ("till.csv", body, "text/csv")},
                       follow_redirects=False)


def test_a_purchase_file_is_imported_in_the_background_with_its_report(client: TestClient, session: Session,
                                                                       eager_tasks: None) -> None:  # noqa: F811
    customer = make_customer(session, site=make_site(session))
    browser = signed_in_client(client, make_user(session, role=Role.admin))
    body = f"customer_id,source_id,amount_cents\n{customer.id},p-1,25000\n{customer.id},p-2,lots\n".encode()
    sent = _upload(browser, body)
    assert sent.status_code == 303 and sent.headers["location"] == "/admin/lifecycle"
    page = browser.get("/admin/lifecycle").text
    assert "The file is being imported" in page and 'class="job-progress job-done"' in page
    assert "1 purchases added, 0 already known, 1 rejected." in page and 'id="purchases-rejected"' in page
    assert fresh(session).get(type(customer), customer.id).spend_cents == 25_000
    job = jobs.latest(fresh(session), kind=purchases.IMPORT_KIND)
    assert job is not None and job.status == "done" and (job.done, job.total) == (2, 2)
    assert not any(k.startswith("imports/") for k in _stored())  # the upload is gone once imported
    empty = browser.post("/admin/lifecycle/purchases", files={"file": ("none.csv", b"", "text/csv")})
    assert empty.status_code == 422 and 'id="file-error"' in empty.text


def _stored() -> list[str]:
    from core.storage import get_storage

    return get_storage().list("imports/")


def test_an_import_that_fails_says_why_in_both_languages(client: TestClient, session: Session,
                                                         eager_tasks: None) -> None:  # noqa: F811
    browser = signed_in_client(client, make_user(session, role=Role.admin))
    assert _upload(browser, b"a,b\n1,2\n").status_code == 303
    page = browser.get("/admin/lifecycle").text
    assert 'class="job-progress job-failed"' in page and "Failed" in page
    assert "The file needs the columns customer_id, source_id and amount_cents" in page
    assert _upload(browser, "customer_id,source_id,amount_cents\n1,\u00e9,1\n".encode("latin-1")).status_code == 303
    _zh(browser)
    chinese = browser.get("/admin/lifecycle").text
    assert "失败" in chinese and "请将文件另存为 UTF-8 编码的 CSV" in chinese


def test_work_in_progress_is_polled_with_its_progress_by_its_starter_only(client: TestClient,
                                                                          session: Session) -> None:
    admin = make_user(session, role=Role.admin)
    stranger = make_user(session, role=Role.team_leader, site=make_site(session))
    browser = signed_in_client(client, admin)
    customer = make_customer(session, site=make_site(session))
    rows = "".join(f"{customer.id},p-{n},100\n" for n in range(3))
    assert _upload(browser, f"customer_id,source_id,amount_cents\n{rows}".encode()).status_code == 303
    job = jobs.latest(fresh(session), kind=purchases.IMPORT_KIND)
    assert job is not None and job.status == "queued"  # nobody consumes the queue in this test
    waiting = browser.get(f"/jobs/{job.id}", headers=HX)
    assert waiting.status_code == 200 and "every 1s" in waiting.text and "Queued" in waiting.text
    assert browser.get(f"/jobs/{job.id}", follow_redirects=False).headers["location"] == "/admin/lifecycle"
    with session_scope() as s:  # the worker took it and is half way
        s.execute(update(jobs.Job).where(jobs.Job.id == job.id).values(status="running"))
    jobs.Progress(job.id)(1, 3, force=True)
    going = browser.get(f"/jobs/{job.id}", headers=HX).text
    assert "every 1s" in going and 'value="1"' in going and "1 of 3" in going and "In progress" in going
    other = signed_in_client(client, stranger)
    assert other.get(f"/jobs/{job.id}", headers=HX).status_code == 404
    # The worker ran it to the end (a late delivery of the same task changes nothing).
    with session_scope() as s:
        s.execute(update(jobs.Job).where(jobs.Job.id == job.id).values(status="queued"))
    assert purchases.run_import(job.id) == "done" and purchases.run_import(job.id) == "done"
    browser = signed_in_client(client, admin)
    done = browser.get(f"/jobs/{job.id}", headers=HX).text
    assert "every 1s" not in done and "3 purchases added" in done


def test_a_run_whose_worker_went_silent_ends_as_failed_with_the_reason(client: TestClient, session: Session,
                                                                       clock) -> None:  # type: ignore[no-untyped-def]
    admin = make_user(session, role=Role.admin)
    job = jobs.create(session, kind=purchases.IMPORT_KIND, by=admin)
    session.commit()
    clock.advance(seconds=jobs.UNCLAIMED_AFTER.total_seconds() + 1)
    with session_scope() as s:
        assert jobs.fail_lost(s) == 1
    browser = signed_in_client(client, admin)
    text = browser.get(f"/jobs/{job.id}", headers=HX).text
    assert "every 1s" not in text and "The work stopped before it finished" in text


def test_a_backup_made_from_its_page_shows_progress_then_the_result(client: TestClient, session: Session,
                                                                    eager_tasks: None) -> None:  # noqa: F811
    browser = signed_in_client(client, make_user(session, role=Role.admin))
    page = browser.get("/admin/backups")
    assert page.status_code == 200 and "No backups yet." in page.text and 'id="backup-form"' in page.text
    started = browser.post("/admin/backups", follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == "/admin/backups"
    page = browser.get("/admin/backups").text
    assert "The backup has started" in page and "Backup made and verified" in page
    assert 'id="backup-list"' in page and "Restore verified" in page
    _zh(browser)
    assert "备份已完成并验证" in browser.get("/admin/backups").text


def test_a_backup_that_fails_says_why_on_its_page_and_on_the_floor(client: TestClient, session: Session,
                                                                   settings: Settings,
                                                                   eager_tasks: None) -> None:  # noqa: F811
    site = make_site(session)
    browser = signed_in_client(client, make_user(session, role=Role.admin, site=site))
    config.configure(settings.model_copy(update={"keys_dir": settings.effective_storage_dir / "keys"}))
    try:
        assert browser.post("/admin/backups", follow_redirects=False).status_code == 303
    finally:
        config.configure(settings)
    page = browser.get("/admin/backups").text
    assert 'class="job-progress job-failed"' in page and "The keys folder is inside the storage folder" in page
    leader = signed_in_client(client, make_user(session, role=Role.team_leader, site=site, locale="zh_Hans"))
    floor = leader.get("/floor").text
    assert 'id="backup-failed"' in floor and "上一次备份失败" in floor and "密钥文件夹位于存储文件夹内" in floor


def test_a_scheduled_backup_is_a_run_the_backups_page_shows(client: TestClient, session: Session) -> None:
    from core import backup

    made = backup.run_scheduled()
    assert made is not None and backup.run_scheduled() is None  # the next one is not due yet
    job = jobs.latest(fresh(session), kind=backup.JOB_KIND)
    assert job is not None and (job.status, job.params, job.result["id"]) == ("done", {"scheduled": True}, made)
    browser = signed_in_client(client, make_user(session, role=Role.admin))
    assert "Backup made and verified" in browser.get("/admin/backups").text
