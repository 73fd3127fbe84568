"""The monthly QA results per agent prepared for the all-staff meeting (DOMAIN.md: scores feed
rewards and penalties at the monthly all-staff meeting, held before the 25th): per agent against
their team's minimum, the change since the month before, disputes still open (the results are not
final until decided), and a standing; for supervisors and above, as a page and a CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from core.errors import PermissionDenied
from qa import disputes, export, meeting, scorecards, settings
from tests.qa.conftest import evaluate

DEC, JAN = datetime(2025, 12, 10, 3, tzinfo=UTC), datetime(2026, 1, 12, 3, tzinfo=UTC)


def test_results_per_agent_for_the_all_staff_meeting(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    first, second, third = world.agents
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))
    evaluate(session, by=world.inspector, agent=first, started_at=DEC, courtesy=3)
    for _ in range(3):
        evaluate(session, by=world.inspector, agent=first, started_at=JAN)
    low = evaluate(session, by=world.inspector, agent=second, started_at=JAN, courtesy=1)
    evaluate(session, by=world.inspector, agent=world.other_agent, started_at=JAN)
    settings.set_team_minimum(session, team_id=world.other_team.id, value=1, by=world.supervisor)
    courtesy = next(q.id for q in scorecards.active(session).questions if q.code == "courtesy")
    disputes.dispute(session, evaluation_id=low.id, by=second, question_ids=[courtesy],
                     reason="The caller hung up first")
    session.commit()
    clock.set(datetime(2026, 2, 2, 4, tzinfo=UTC))
    results = meeting.results(session, month="2026-01", user=world.supervisor)
    assert results["scope"] == f"site:{world.site.id}" and results["meeting_before"] == "2026-02-25"
    assert not results["final"]  # a dispute is still open
    rows = {r["agent_id"]: r for r in results["agents"]}
    assert set(rows) >= {first.id, second.id, third.id, world.other_agent.id}
    assert (rows[first.id]["evaluations"], rows[first.id]["minimum"], rows[first.id]["met_minimum"]) == (3, 3, True)
    assert rows[first.id]["average"] == 100.0 and rows[first.id]["change"] > 0  # December was lower
    assert (rows[second.id]["met_minimum"], rows[second.id]["open_disputes"]) == (False, 1)
    assert (rows[third.id]["evaluations"], rows[third.id]["standing"]) == (0, None)  # nothing to rank
    assert rows[world.other_agent.id]["minimum"] == 1 and rows[world.other_agent.id]["met_minimum"]
    assert rows[first.id]["standing"] == rows[world.other_agent.id]["standing"] == 1  # tied at full marks
    assert rows[second.id]["standing"] == 3
    assert [r["agent_id"] for r in results["agents"]][-1] == third.id  # the unranked last
    table = list(csv.DictReader(io.StringIO(export.meeting_csv(results).lstrip("\ufeff"))))
    assert {row["agent_name"] for row in table} >= {first.display_name, second.display_name}
    assert next(r for r in table if r["agent_id"] == str(second.id))["met_minimum"] == "no"


def test_the_meeting_results_are_for_supervisors_and_above(session, world) -> None:  # type: ignore[no-untyped-def]
    for user in (world.leader, world.inspector, world.agents[0]):
        with pytest.raises(PermissionDenied):
            meeting.results(session, month="2026-01", user=user)
    with pytest.raises(PermissionDenied):  # another site's
        meeting.results(session, month="2026-01", user=world.supervisor, site_id=world.far_site.id)
    assert meeting.results(session, month="2026-01", user=world.head)["scope"] == "center"
