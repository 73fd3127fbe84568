"""Erasure as the member rules describe it (seed 004): a request recorded, the customer told by SMS
(with consent) when their data goes and that points can be used until then, the sweep carrying
it out after the notice period, open complaints and unused points holding it until an explicit
override, an administrator's immediate erasure with a reason, open tickets closed, and a
certificate (without the data) in the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.audit import entries_for
from core.clock import FrozenClock
from core.errors import PermissionDenied, ValidationFailed
from tests.tickets.factories_customers import Staff, make_customer, staff  # noqa: F401
from tickets import erasure
from tickets import service as ticket_service
from tickets.models.customers import Customer, CustomerErasure, OutboundMessage
from tickets.models.tickets import Ticket


def _certificate(session: Session, customer_id: int) -> dict:  # type: ignore[type-arg]
    [entry] = [e for e in entries_for(session, object_type="customer", object_id=customer_id)
               if e.action == "customer.erased"]
    return entry.details_dict


def test_a_request_tells_the_customer_and_erases_after_the_notice(session: Session, staff: Staff,
                                                                   clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site, name="Leaving Member", consent=("service", "care_sms"))
    request = erasure.request_erasure(session, customer_id=customer.id, by=staff.admin, reason="member left")
    session.commit()
    assert request.due_at == clock.now() + timedelta(days=30) and request.notice_sent
    notice = session.scalar(select(OutboundMessage).where(OutboundMessage.kind == "erasure_notice"))
    assert notice.customer_id == customer.id and request.due_at.date().isoformat() in notice.body
    assert "积分" in notice.body and "points" in notice.body
    # A second request while one is pending is the same request.
    assert erasure.request_erasure(session, customer_id=customer.id, by=staff.admin, reason="again").id == request.id

    clock.advance(days=29)
    assert erasure.run_due(session) == {"erased": 0, "held": 0}
    clock.advance(days=1, minutes=1)
    assert erasure.run_due(session) == {"erased": 1, "held": 0}
    session.commit()
    session.expire_all()
    assert session.get(Customer, customer.id).is_erased
    assert session.get(CustomerErasure, request.id).status == "done"
    certificate = _certificate(session, customer.id)
    assert certificate["erasure_id"] == request.id and certificate["requested_by_customer"] is True
    assert "name" in certificate["fields"] and certificate["data_keys_shredded"]
    assert "Leaving Member" not in str(certificate)


def test_no_notice_without_consent(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, consent=("service",))
    request = erasure.request_erasure(session, customer_id=customer.id, by=staff.admin, reason="member left")
    assert not request.notice_sent
    assert session.scalar(select(OutboundMessage).where(OutboundMessage.customer_id == customer.id)) is None


def test_notice_period_is_a_setting(session: Session, staff: Staff, settings, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    from core import config

    config.configure(settings.model_copy(update={"erasure_notice_days": 7}))
    customer = make_customer(session, site=staff.site)
    request = erasure.request_erasure(session, customer_id=customer.id, by=staff.admin, reason="member left")
    assert request.due_at == clock.now() + timedelta(days=7)


def _complaint(session: Session, staff: Staff, customer: Customer) -> Ticket:
    return ticket_service.open_ticket(session, category="complaint", by=staff.agent, customer_id=customer.id)


def test_open_complaint_and_unused_points_hold_the_erasure_until_overridden(session: Session, staff: Staff,
                                                                          clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site, points=500)
    _complaint(session, staff, customer)
    session.commit()
    request = erasure.request_erasure(session, customer_id=customer.id, by=staff.admin, reason="member left")
    clock.advance(days=31)
    assert erasure.run_due(session) == {"erased": 0, "held": 1}
    assert erasure.run_due(session) == {"erased": 0, "held": 1}
    session.commit()
    assert request.status == "held" and not session.get(Customer, customer.id).is_erased
    held = [e for e in entries_for(session, object_type="customer", object_id=customer.id)
            if e.action == "customer.erasure_held"]
    assert len(held) == 1 and held[0].details_dict["reasons"] == ["open_complaint", "unused_points"]

    with pytest.raises(erasure.ErasureRefused) as refused:
        erasure.erase_now(session, customer_id=customer.id, by=staff.admin, reason="member left",
                          overrides=["unused_points"])
    assert refused.value.reasons == ["open_complaint"] and refused.value.code == "erasure_refused"
    erasure.erase_now(session, customer_id=customer.id, by=staff.admin, reason="member left",
                      overrides=["unused_points", "open_complaint"])
    session.commit()
    assert session.get(CustomerErasure, request.id).status == "done"
    assert _certificate(session, customer.id)["overrides"] == ["open_complaint", "unused_points"]


def test_an_admin_erases_at_once_with_a_reason_and_open_tickets_are_closed(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, name="Legal Request")
    inquiry = ticket_service.open_ticket(session, category="inquiry", by=staff.agent, customer_id=customer.id,
                                         subject="Where is my parcel, Legal Request?")
    session.commit()
    with pytest.raises(ValidationFailed):
        erasure.erase_now(session, customer_id=customer.id, by=staff.admin, reason=" ")
    with pytest.raises(PermissionDenied):
        erasure.erase_now(session, customer_id=customer.id, by=staff.supervisor, reason="legal request")
    with pytest.raises(ValidationFailed):
        erasure.erase_now(session, customer_id=customer.id, by=staff.admin, reason="x", overrides=["everything"])
    erasure.erase_now(session, customer_id=customer.id, by=staff.admin, reason="court order 2026/123")
    session.commit()
    session.expire_all()
    ticket = session.get(Ticket, inquiry.id)
    assert ticket.status == "closed" and ticket.subject is None
    certificate = _certificate(session, customer.id)
    assert certificate["tickets_closed"] == 1 and certificate["reason"] == "court order 2026/123"
    assert certificate["requested_by_customer"] is False
    row = session.execute(text("SELECT immediate, status FROM customer_erasures WHERE customer_id = :id"),
                          {"id": customer.id}).one()
    assert bool(row.immediate) and row.status == "done"


def test_a_cancelled_request_is_not_carried_out(session: Session, staff: Staff, clock: FrozenClock) -> None:
    customer = make_customer(session, site=staff.site)
    request = erasure.request_erasure(session, customer_id=customer.id, by=staff.admin, reason="member left")
    erasure.cancel(session, erasure_id=request.id, by=staff.admin)
    clock.advance(days=40)
    assert erasure.run_due(session) == {"erased": 0, "held": 0}
    assert not session.get(Customer, customer.id).is_erased


def test_erased_fields_are_shredded_not_just_nulled(session: Session, staff: Staff) -> None:
    customer = make_customer(session, site=staff.site, name="Shred Me", email="shred@example.org")
    raw_before = session.execute(text("SELECT name FROM customers WHERE id = :id"), {"id": customer.id}).scalar_one()
    erasure.erase_now(session, customer_id=customer.id, by=staff.admin, reason="member left")
    session.commit()
    key_id = raw_before.split(":")[1]
    wrapped = session.execute(text("SELECT wrapped, shredded_at FROM data_keys WHERE id = :id"), {"id": key_id}).one()
    assert wrapped.wrapped is None and wrapped.shredded_at is not None
    # A copy of the value taken before (a backup, a replica) no longer opens.
    from core.crypto import Encrypted

    assert Encrypted().process_result_value(raw_before, None) is None


def test_the_command_line_requests_or_erases_with_overrides(session: Session, staff: Staff, settings) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from hotline.cli import main

    customer = make_customer(session, site=staff.site, points=20, consent=("service", "care_sms"))
    session.rollback()
    refused = CliRunner().invoke(main, ["customers", "erase", str(customer.id), "--reason", "legal", "--yes"])
    assert refused.exit_code == 1 and "--override unused_points" in refused.output
    noticed = CliRunner().invoke(main, ["customers", "erase", str(customer.id), "--reason", "left", "--notice"])
    assert noticed.exit_code == 0 and "notice sent by SMS" in noticed.output, noticed.output
    done = CliRunner().invoke(main, ["customers", "erase", str(customer.id), "--reason", "legal", "--yes",
                                     "--override", "unused_points"])
    assert done.exit_code == 0, done.output
    session.expire_all()
    assert session.get(Customer, customer.id).is_erased


def test_the_command_line_cancels_a_pending_request(session: Session, staff: Staff, settings) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from hotline.cli import main

    customer = make_customer(session, site=staff.site)
    session.rollback()
    none = CliRunner().invoke(main, ["customers", "cancel-erasure", str(customer.id)])
    assert none.exit_code == 1 and "no pending erasure" in none.output
    CliRunner().invoke(main, ["customers", "erase", str(customer.id), "--reason", "left", "--notice"])
    done = CliRunner().invoke(main, ["customers", "cancel-erasure", str(customer.id)])
    assert done.exit_code == 0, done.output
    assert session.scalar(select(CustomerErasure.status).where(CustomerErasure.customer_id == customer.id)) == \
        "cancelled"
