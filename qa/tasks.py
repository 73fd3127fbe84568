"""QA's sweeps: top up the teams' sampling plans as weeks complete, ask for coaching where last
month's average fell below the threshold, and remind team leaders of their monthly report before
it is due. All idempotent; the logic is in the services."""

from __future__ import annotations

from core.db import session_scope
from core.worker import register_sweep
from qa import coaching, reports, sampling


@register_sweep("qa.build_sampling", every_seconds=6 * 3600)
def build_sampling() -> int:
    with session_scope() as session:
        return sampling.build_due(session)


@register_sweep("qa.monthly_coaching", every_seconds=24 * 3600)
def monthly_coaching() -> int:
    with session_scope() as session:
        return coaching.monthly_due(session)


@register_sweep("qa.remind_reports", every_seconds=3600)
def remind_reports() -> int:
    with session_scope() as session:
        return reports.remind_due(session)
