"""A leaving member's erasure (seed 004): the request is recorded and the customer told (SMS, with
consent) that their data goes on a date and that points and benefits can be used until then; at
that date the sweep carries it out, unless an open complaint or unused points hold it for an
administrator's explicit override. An administrator may also erase at once with a reason (a legal
request). Carrying it out shreds the customer's data key (every copy, backups included, becomes
unreadable for them), deletes the live data, closes their open tickets and leaves a certificate
(what, when, by whom, never the data) in the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core import backup, clock, keyring
from core.audit import record
from core.config import get_settings
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events import publish
from core.models import Role, User
from tickets import care, grant_requests
from tickets import grants as grant_service
from tickets.customer_fields import PERSONAL_FIELDS
from tickets.models.customers import (
    CallAccess,
    CallbackGrant,
    CareFollowUp,
    Customer,
    CustomerChange,
    CustomerErasure,
    OutboundMessage,
)
from tickets.models.tickets import Ticket, TicketEvent, TicketNote
from tickets.visibility import get_customer
from tickets.workflow import DONE

__all__ = ["OVERRIDABLE", "ErasureRefused", "also_erase_with", "cancel", "erase_customer", "erase_now",
           "pending_for", "refusals", "request_erasure", "run_due"]

# What holds an erasure until an administrator overrides it, in the order they are named.
OVERRIDABLE = ("open_complaint", "unused_points")
# Why an erasure waits for a confirmation, by the reasons found.
REFUSALS = {
    ("open_complaint",): "The customer has an open complaint: resolve it first, or tick the override to erase anyway.",
    ("unused_points",): "The customer has unused points: tick the override to erase anyway.",
    ("open_complaint", "unused_points"): "The customer has an open complaint and unused points: resolve the "
                                         "complaint first, or tick the overrides to erase anyway.",
}
NOTICE_TEMPLATE = ("【客服热线】您的会员资料将于{date}删除，剩余积分和权益可在此之前使用。"
                   "Your member data will be deleted on {date}; points and benefits can be used until then.")

Eraser = Callable[..., dict[str, Any]]
_ALSO: list[Eraser] = []


class ErasureRefused(Conflict):
    """The customer has an open complaint or unused points; confirm each to erase anyway."""

    code = "erasure_refused"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(REFUSALS[tuple(reasons)] if tuple(reasons) in REFUSALS else REFUSALS[("open_complaint",
                         "unused_points")], field="overrides", params={"reasons": list(reasons)})
        self.reasons = reasons


def also_erase_with(eraser: Eraser) -> None:
    """Another package's share of an erasure (`eraser(session, customer_id=, phone_indexes=)`,
    returning counts for the certificate); wired by the composition root."""
    if eraser not in _ALSO:
        _ALSO.append(eraser)


def _actor(by: User | None) -> dict[str, Any]:
    return {"actor_id": by.id if by else None, "actor_name": by.username if by else "system"}


def _admin(by: User | None) -> None:
    if by is not None and by.role != Role.admin.value:
        raise PermissionDenied("Only an administrator can erase a customer.")


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed([{"loc": ["reason"], "msg": "Say why the customer is erased."}])
    if len(reason) > 500:
        raise ValidationFailed([{"loc": ["reason"], "msg": "Keep the reason under 500 characters."}])
    return reason


def _overrides(values: Iterable[str]) -> list[str]:
    chosen = sorted(set(values), key=lambda v: OVERRIDABLE.index(v) if v in OVERRIDABLE else 99)
    unknown = [v for v in chosen if v not in OVERRIDABLE]
    if unknown:
        raise ValidationFailed([{"loc": ["overrides"], "msg": "Choose the overrides from the list.",
                                 "params": {"unknown": unknown}}])
    return chosen


def refusals(session: Session, *, customer: Customer) -> list[str]:
    """What holds this customer's erasure: an open complaint, points not used."""
    found = []
    open_complaint = session.scalar(select(Ticket.id).where(
        Ticket.customer_id == customer.id, Ticket.category == "complaint",
        Ticket.status.not_in([s.value for s in DONE])).limit(1))
    if open_complaint is not None:
        found.append("open_complaint")
    if (customer.points or 0) > 0:
        found.append("unused_points")
    return found


def pending_for(session: Session, *, customer_id: int) -> CustomerErasure | None:
    return session.scalar(select(CustomerErasure).where(CustomerErasure.customer_id == customer_id,
                                                        CustomerErasure.status.in_(("pending", "held")))
                          .order_by(CustomerErasure.id.desc()).limit(1))


def request_erasure(session: Session, *, customer_id: int, by: User | None, reason: str,
                    overrides: Iterable[str] = (), source_ip: str | None = None) -> CustomerErasure:
    """Record a member's request to leave: their data is erased after the notice period
    (HOTLINE_ERASURE_NOTICE_DAYS), and they are told by SMS when their consent allows it. A
    request already pending is returned as it is."""
    _admin(by)
    reason = _reason(reason)
    chosen = _overrides(overrides)
    customer = get_customer(session, customer_id=customer_id)
    if customer.is_erased:
        raise Conflict("This customer was erased already.")
    existing = pending_for(session, customer_id=customer_id)
    if existing is not None:
        return existing
    now = clock.now()
    due = now + timedelta(days=get_settings().erasure_notice_days)
    erasure = CustomerErasure(customer_id=customer_id, requested_at=now, requested_by_id=by.id if by else None,
                              requested_by_name=by.username if by else "system", reason=reason, immediate=False,
                              overrides=chosen, due_at=due, status="pending")
    consent = set(customer.consent_purposes or [])
    if "care_sms" in consent:  # the consent to SMS on record ("service" is the record itself)
        message = care.queue_message(session, customer_id=customer_id, kind="erasure_notice",
                                     body=NOTICE_TEMPLATE.format(date=due.date().isoformat()),
                                     dedupe_key=f"erasure_notice:{customer_id}:{now:%Y%m%d%H%M%S}")
        erasure.notice_sent = message is not None
    session.add(erasure)
    session.flush()
    record(session, action="customer.erasure_requested", object_type="customer", object_id=customer_id,
           source_ip=source_ip, details={"erasure_id": erasure.id, "due_at": due.isoformat(),
                                         "notice_sent": erasure.notice_sent, "overrides": chosen}, **_actor(by))
    return erasure


def cancel(session: Session, *, erasure_id: int, by: User | None, source_ip: str | None = None) -> CustomerErasure:
    """The member stays after all: the pending request is cancelled."""
    _admin(by)
    erasure = session.get(CustomerErasure, erasure_id)
    if erasure is None:
        raise NotFound("No such erasure request.")
    if erasure.status not in ("pending", "held"):
        raise Conflict("Only a pending erasure can be cancelled.")
    erasure.status, erasure.cancelled_at = "cancelled", clock.now()
    record(session, action="customer.erasure_cancelled", object_type="customer", object_id=erasure.customer_id,
           source_ip=source_ip, details={"erasure_id": erasure.id}, **_actor(by))
    return erasure


def erase_now(session: Session, *, customer_id: int, by: User | None, reason: str, overrides: Iterable[str] = (),
              requested_by_customer: bool = False, source_ip: str | None = None) -> Customer:
    """An administrator's erasure at once, with a reason (a legal request, or the end of a
    notice already given). An open complaint or unused points refuse it unless overridden."""
    _admin(by)
    reason = _reason(reason)
    chosen = _overrides(overrides)
    customer = get_customer(session, customer_id=customer_id)
    if customer.is_erased:
        return customer
    missing = [r for r in refusals(session, customer=customer) if r not in chosen]
    if missing:
        raise ErasureRefused(missing)
    erasure = pending_for(session, customer_id=customer_id)
    if erasure is None:
        now = clock.now()
        erasure = CustomerErasure(customer_id=customer_id, requested_at=now, requested_by_id=by.id if by else None,
                                  requested_by_name=by.username if by else "system", reason=reason, immediate=True,
                                  overrides=chosen, due_at=now, status="pending")
        session.add(erasure)
        session.flush()
    else:
        erasure.overrides = sorted(set(erasure.overrides or []) | set(chosen))
    return _carry_out(session, erasure, by=by, reason=reason, source_ip=source_ip,
                      requested_by_customer=requested_by_customer or not erasure.immediate)


def run_due(session: Session, *, limit: int = 50) -> dict[str, int]:
    """Carry out the requests whose notice has run out; one still held by an open complaint or
    unused points waits (status `held`, audited once) for an administrator's override."""
    now = clock.now()
    due = list(session.scalars(select(CustomerErasure).where(CustomerErasure.status.in_(("pending", "held")),
                                                              CustomerErasure.immediate.is_(False),
                                                              CustomerErasure.due_at <= now)
                               .order_by(CustomerErasure.due_at).limit(limit)))
    done = held = 0
    for erasure in due:
        customer = get_customer(session, customer_id=erasure.customer_id)
        missing = [r for r in refusals(session, customer=customer) if r not in (erasure.overrides or [])]
        if missing:
            if erasure.status != "held":
                erasure.status = "held"
                record(session, action="customer.erasure_held", object_type="customer", object_id=customer.id,
                       actor_id=None, actor_name="system", details={"erasure_id": erasure.id, "reasons": missing})
            held += 1
            continue
        _carry_out(session, erasure, by=None, reason=erasure.reason, source_ip=None, requested_by_customer=True)
        done += 1
    return {"erased": done, "held": held}


def _carry_out(session: Session, erasure: CustomerErasure, *, by: User | None, reason: str,
               source_ip: str | None, requested_by_customer: bool = True) -> Customer:
    customer = erase_customer(session, customer_id=erasure.customer_id, by=by, reason=reason,
                              requested_by_customer=requested_by_customer, source_ip=source_ip,
                              erasure_id=erasure.id, overrides=list(erasure.overrides or []))
    current = session.get(CustomerErasure, erasure.id)
    assert current is not None
    current.status, current.done_at = "done", clock.now()
    return customer


def reapply_after_restore(session: Session) -> int:
    """After a restore: customers whose data key is shredded (erased since the backup was taken)
    are erased again in the restored database (phones and their blind indexes, tickets' links)."""
    shredded = [key_id for key_id, _owner, _at in keyring.shredded_owners(session)]
    erased = 0
    for start in range(0, len(shredded), 500):
        ids = list(session.scalars(select(Customer.id).where(Customer.data_key_id.in_(shredded[start:start + 500]),
                                                             Customer.erased_at.is_(None))))
        for customer_id in ids:
            erase_customer(session, customer_id=customer_id, by=None, reason="erased after this backup was taken")
            erased += 1
    return erased


# Carrying it out --------------------------------------------------------------------------


def _bulk(session: Session, statement: Any) -> None:
    # No in-Python evaluation of the criteria: encrypted columns refuse comparisons, and the
    # caller expires the session's objects afterwards anyway.
    session.execute(statement.execution_options(synchronize_session=False))


def _anonymise_tickets(session: Session, customer_id: int, phone_indexes: list[str], at: Any) -> int:
    """Tickets stay for statistics, without what points back to the person: the caller's number
    index (found by phone search), the free text, the notes and the reasons on the timeline. The
    customer's tickets and those of calls from their numbers before they were identified: a
    search by an old number finds nothing afterwards. Open ones are closed (a complaint kept open
    by an override is handed over to its team, anonymised)."""
    theirs = Ticket.customer_id == customer_id
    if phone_indexes:
        theirs = or_(theirs, Ticket.caller_index.in_(phone_indexes))
    ticket_ids = select(Ticket.id).where(theirs).scalar_subquery()
    closing = dict(session.execute(select(Ticket.id, Ticket.status).where(
        theirs, Ticket.category != "complaint", Ticket.status.not_in([s.value for s in DONE]))).all())
    _bulk(session, update(TicketNote).where(TicketNote.ticket_id.in_(ticket_ids)).values(body="(erased)"))
    _bulk(session, update(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.reason.is_not(None))
                    .values(reason=None))
    _bulk(session, update(Ticket).where(theirs).values(
        caller_index=None, subject=None, description=None, resolution=None, version=Ticket.version + 1))
    if closing:
        _bulk(session, update(Ticket).where(Ticket.id.in_(list(closing))).values(
            status="closed", closed_at=at, sla_due_at=None, version=Ticket.version + 1))
        session.add_all(TicketEvent(ticket_id=ticket_id, kind="status", field="status", from_value=status,
                                    to_value="closed", at=at) for ticket_id, status in closing.items())
    return len(closing)


def erase_customer(session: Session, *, customer_id: int, by: User | None, reason: str,
                   requested_by_customer: bool = True, source_ip: str | None = None,
                   erasure_id: int | None = None, overrides: list[str] | None = None) -> Customer:
    """Shred a customer: their data key is destroyed, so everything sealed under it (personal
    fields, phones, history, call-log numbers, recordings) is unreadable in every copy, backups
    included; the live rows are cleared too (phones and so their blind indexes deleted, message
    bodies and notes dropped, live grants revoked, call access ended, tickets anonymised and open
    ones closed, recordings' media deleted), and the keys in every kept backup are shredded.
    Tickets, activity, tier and spend stay for statistics. A certificate (what, when, by whom,
    never the data) goes to the audit trail. Only an administrator (or the system, `by=None`);
    erasing twice is harmless. Refusals are checked by `erase_now` and `run_due`."""
    _admin(by)
    reason = _reason(reason)
    customer = get_customer(session, customer_id=customer_id)
    if customer.is_erased:
        return customer
    now = clock.now()
    key_id = customer.data_key_id
    fields = [name for name in PERSONAL_FIELDS if getattr(customer, name) not in (None, "", [], {})]
    for name in PERSONAL_FIELDS:
        setattr(customer, name, None)
    customer.consent_purposes, customer.consent_method, customer.consent_at = [], None, None
    customer.owning_agent_id = None
    phone_indexes = [p.number_index for p in customer.phones]
    customer.phones = []
    customer.erased_at, customer.erased_by_id = now, by.id if by else None
    session.flush()
    _bulk(session, update(CustomerChange).where(CustomerChange.customer_id == customer_id)
                    .values(old_values=None, reason=None))
    _bulk(session, update(OutboundMessage).where(OutboundMessage.customer_id == customer_id,
                                                  OutboundMessage.status.in_(("queued", "sending")))
                    .values(status="cancelled", error="customer erased"))
    _bulk(session, update(OutboundMessage).where(OutboundMessage.customer_id == customer_id).values(body=None))
    _bulk(session, update(CareFollowUp).where(CareFollowUp.customer_id == customer_id, CareFollowUp.status == "due")
                    .values(status="cancelled"))
    _bulk(session, update(CareFollowUp).where(CareFollowUp.customer_id == customer_id).values(note=None))
    _bulk(session, update(CallAccess).where(CallAccess.customer_id == customer_id, CallAccess.ended_at.is_(None))
                    .values(ended_at=now))
    open_grants = session.scalars(select(CallbackGrant.id).where(
        CallbackGrant.customer_id == customer_id, CallbackGrant.revoked_at.is_(None), CallbackGrant.expires_at > now))
    for grant_id in list(open_grants):
        grant_service.revoke_grant(session, grant_id=grant_id, by=None, by_name="system:erasure")
    _bulk(session, update(CallbackGrant).where(CallbackGrant.customer_id == customer_id).values(reason="(erased)"))
    grant_requests.withdraw_for_erasure(session, customer_id=customer_id)
    closed = _anonymise_tickets(session, customer_id, phone_indexes, now)
    reached: dict[str, Any] = {}
    for eraser in _ALSO:
        reached.update(eraser(session, customer_id=customer_id, phone_indexes=phone_indexes))
    owner = f"customer:{customer_id}"
    shredded = keyring.shred(session, key_ids=[key_id] if key_id else [], owner=owner)
    backups = backup.shred_in_backups(shredded) if shredded else 0
    session.add(CustomerChange(customer_id=customer_id, at=now, changed_by_id=by.id if by else None,
                               changed_by_name=by.username if by else "system", fields=["erased"], reason=reason,
                               requested_by_customer=requested_by_customer))
    session.flush()
    session.expire_all()
    certificate = {"erasure_id": erasure_id, "requested_by_customer": requested_by_customer, "reason": reason,
                   "fields": fields, "phones": len(phone_indexes), "tickets_closed": closed,
                   "data_keys_shredded": shredded, "backups_reached": backups, "overrides": overrides or [],
                   "erased_at": now.isoformat(), **reached}
    record(session, action="customer.erased", object_type="customer", object_id=customer_id, source_ip=source_ip,
           details=certificate, **_actor(by))
    publish(session, "customer.erased", {"customer_id": customer_id})
    return get_customer(session, customer_id=customer_id)
