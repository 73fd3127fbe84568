"""The team leader's monthly service-quality analysis report (due by the 22nd): reminded a few days
before, by beat's sweep on the injected clock, once; submitting it settles the reminder."""

from __future__ import annotations

from datetime import UTC, datetime

from core import worker
from qa import reports, settings, tasks
from tests.factories import fresh
from tickets import escalation


def _unread(session, user) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return [{"kind": n.kind, **(n.params or {})}
            for n in escalation.notifications_for(fresh(session), user.id, unread_only=True)]


def test_the_sweep_is_run_by_beat() -> None:
    assert "qa.remind_reports" in worker.SWEEPS


def test_the_team_leader_is_reminded_of_the_quality_report_a_few_days_before_the_22nd(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    assert settings.policy(session).report_reminder_days == 3
    clock.set(datetime(2026, 2, 18, 15, tzinfo=UTC))  # 23:00 on the 18th in Shanghai: four days before
    tasks.remind_reports()
    assert _unread(session, world.leader) == []
    clock.set(datetime(2026, 2, 18, 16, tzinfo=UTC))  # midnight: the 19th, three days before
    for _ in range(2):
        tasks.remind_reports()
    [reminder] = _unread(session, world.leader)
    assert reminder == {"kind": "qa.report_due", "team_id": world.team.id, "month": "2026-01",
                        "due_on": "2026-02-22"}
    assert [r["team_id"] for r in _unread(session, world.other_leader)] == [world.other_team.id]
    assert _unread(session, world.agents[0]) == [] and _unread(session, world.inspector) == []
    reports.save_quality_report(session, team_id=world.team.id, month="2026-01", analysis="Greeting improved.",
                                user=world.leader)
    reports.submit_quality_report(session, team_id=world.team.id, month="2026-01", user=world.leader)
    session.commit()
    assert _unread(session, world.leader) == []
    clock.set(datetime(2026, 2, 20, 2, tzinfo=UTC))
    tasks.remind_reports()
    assert _unread(session, world.leader) == []  # submitted: not reminded again
