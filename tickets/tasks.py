"""Celery tasks of the tickets package, thin and idempotent wrappers over its services: grant
expiries, tier evaluation and care reminders (the SLA sweeps live here too)."""

from __future__ import annotations

from core.db import session_scope, write_locked
from core.worker import idempotent_task, register_sweep


@register_sweep("tickets.record_grant_expiries", every_seconds=60)
def record_grant_expiries() -> int:
    """Audit and announce callback authorisations that ran out. Access never waits for this:
    a grant is checked against the clock at every use."""
    from tickets import grants

    with session_scope() as session:
        return grants.record_expiries(write_locked(session))


@register_sweep("tickets.evaluate_tiers", every_seconds=6 * 3600)
def evaluate_tiers() -> int:
    """Upgrade and downgrade customers from their spend, frequency and points."""
    from tickets import tiers

    with session_scope() as session:
        return len(tiers.evaluate_tiers(write_locked(session)))


@register_sweep("tickets.care_reminders", every_seconds=15 * 60)
def care_reminders() -> int:
    """Queue today's birthday greetings and tomorrow's holiday greetings, announce follow-ups
    that became due, and remind agents of their key customers' regular contact."""
    from tickets import care

    with session_scope() as session:
        write_locked(session)
        return (care.queue_greetings(session) + care.remind_due_followups(session)
                + care.remind_regular_contacts(session))


@register_sweep("tickets.sla_sweep", every_seconds=60)
def sla_sweep(limit: int = 500) -> int:
    """Mark tickets whose SLA deadline came at risk or passed, escalating the breached ones, and
    act on complaints past their reply or key-customer phone follow-up deadline; each ticket in
    its own transaction, so one concurrent edit (a Conflict) delays only that ticket to the next
    run. Idempotent: a ticket is marked, and escalated, once per deadline."""
    from core.errors import Conflict
    from tickets import complaints, sla

    with session_scope() as session:
        ticket_ids = sla.due_for_sweep(session, limit=limit)
    marked = 0
    for ticket_id in ticket_ids:
        try:
            with session_scope() as session:
                marked += sla.check(write_locked(session), ticket_id=ticket_id) is not None
        except Conflict:
            continue
    with session_scope() as session:
        overdue = complaints.overdue_for_sweep(session, limit=limit)
    for ticket_id in overdue:
        try:
            with session_scope() as session:
                marked += len(complaints.check_deadlines(write_locked(session), ticket_id=ticket_id))
        except Conflict:
            continue
    return marked


@register_sweep("tickets.erasures_due", every_seconds=15 * 60)
def erasures_due() -> dict[str, int]:
    """Carry out the erasures whose notice period ran out (held ones wait for an override)."""
    from tickets import erasure

    with session_scope() as session:
        return erasure.run_due(write_locked(session))


@idempotent_task(name="tickets.import_purchases")
def import_purchases(job_id: int) -> str:
    """A purchase file uploaded on the customer settings page (a run already finished is left alone)."""
    from tickets import purchases

    return purchases.run_import(job_id)
