"""Shift swaps as DOMAIN.md's "Shift swaps" part words them: both team leaders approve (the one
leader when both work in the same team), comparable skill judged on the agents' own levels when
the shift names no skill, and a shift left empty by a swap assessed as absence for both parties."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scheduling import rollcall, shifts, swaps
from scheduling.errors import NotYourTurn, SwapRuleViolated
from scheduling.models import Shift
from scheduling.settings import set_value
from tests.factories import make_team, make_user
from tests.scheduling.conftest import assign


def test_both_team_leaders_approve_and_a_supervisor_does_not_stand_in(session, world) -> None:  # type: ignore[no-untyped-def]
    a, b = world.agents[0], world.agents[1]  # different teams
    swap = swaps.request(session, shift_id=assign(session, world, a, date(2026, 1, 12)).id, partner_id=b.id, by=a)
    swaps.confirm(session, swap_id=swap.id, by=b)
    with pytest.raises(NotYourTurn):
        swaps.approve(session, swap_id=swap.id, by=world.supervisor)
    with pytest.raises(NotYourTurn):
        swaps.approve(session, swap_id=swap.id, by=world.center_head)
    assert (swap.requester_leader_id, swap.partner_leader_id) == (None, None)
    swaps.approve(session, swap_id=swap.id, by=world.leader)  # a's team leader: a's side only
    assert (swap.requester_leader_id, swap.partner_leader_id, swap.status) == (world.leader.id, None, "proposed")
    with pytest.raises(NotYourTurn):
        swaps.approve(session, swap_id=swap.id, by=world.leader)  # not b's team: the other leader approves
    swaps.approve(session, swap_id=swap.id, by=world.other_leader)
    assert swap.status == "registered" and swap.partner_leader_id == world.other_leader.id


def test_the_one_team_leader_approves_when_both_work_in_the_same_team(session, world) -> None:  # type: ignore[no-untyped-def]
    a, c = world.agents[0], world.agents[2]  # both in world.team
    swap = swaps.request(session, shift_id=assign(session, world, a, date(2026, 1, 12)).id, partner_id=c.id, by=a)
    swaps.confirm(session, swap_id=swap.id, by=c)
    with pytest.raises(NotYourTurn):
        swaps.approve(session, swap_id=swap.id, by=world.other_leader)  # another team's leader
    swaps.approve(session, swap_id=swap.id, by=world.leader)
    assert swap.status == "registered" and swap.requester_leader_id == swap.partner_leader_id == world.leader.id


def test_each_party_needs_a_team_leader_to_approve(session, world) -> None:  # type: ignore[no-untyped-def]
    a = world.agents[0]
    leaderless = make_user(session, team=make_team(session, site=world.site))
    with pytest.raises(SwapRuleViolated) as caught:
        swaps.request(session, shift_id=assign(session, world, a, date(2026, 1, 12)).id, partner_id=leaderless.id,
                      by=a)
    assert "swap.no_team_leader" in [v.rule for v in caught.value.violations]


def test_comparable_skill_is_judged_on_the_agents_own_levels_when_the_shift_names_no_skill(session, world) -> None:  # type: ignore[no-untyped-def]
    plain = shifts.create_template(session, site_id=world.site.id, name="Plain", start="08:00", length_minutes=480)
    senior, junior = world.agents[2], world.agents[3]  # hotline level 4 and level 1
    shift = shifts.assign(session, user_id=senior.id, day=date(2026, 1, 12), template_id=plain.id, by=world.leader)
    session.commit()
    with pytest.raises(SwapRuleViolated) as caught:
        swaps.request(session, shift_id=shift.id, partner_id=junior.id, by=senior)
    [found] = caught.value.violations
    assert found.rule == "swap.skill_level" and found.params == {
        "skill": "hotline", "requester_level": 4, "partner_level": 1, "tolerance": 1}
    session.rollback()
    set_value(session, key="skill_level_tolerance", value=3)  # the allowed gap is a setting
    assert swaps.request(session, shift_id=shift.id, partner_id=junior.id, by=senior).status == "proposed"


def test_a_shift_left_empty_by_a_swap_is_an_absence_for_both_parties(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    a, b = world.agents[0], world.agents[1]
    shift = assign(session, world, a, date(2026, 1, 12))
    swap = swaps.request(session, shift_id=shift.id, partner_id=b.id, by=a)
    swaps.confirm(session, swap_id=swap.id, by=b)
    for leader in (world.leader, world.other_leader):
        swaps.approve(session, swap_id=swap.id, by=leader)
    session.commit()
    assert session.get(Shift, shift.id).user_id == b.id
    clock.set(shift.start_at + timedelta(hours=2))  # nobody came
    found = {e.user_id: e for s, e in rollcall.roll_call(session, site_id=world.site.id, start=shift.start_at,
                                                          by=world.leader)}
    assert set(found) == {a.id, b.id}
    assert found[b.id].status == found[a.id].status == "absent"
    assert [v["rule"] for v in found[b.id].violations] == ["rollcall.absent", "rollcall.swap_left_empty"]
    assert [v["rule"] for v in found[a.id].violations] == ["rollcall.swap_left_empty"]
    # The leader weighs who was responsible and excuses the other.
    rollcall.excuse(session, shift_id=shift.id, user_id=a.id, by=world.leader, note="B had agreed in writing")
    found = {e.user_id: e for s, e in rollcall.roll_call(session, site_id=world.site.id, start=shift.start_at,
                                                          by=world.leader)}
    assert (found[a.id].status, found[b.id].status) == ("excused", "absent")


def test_a_shift_the_other_party_covered_is_not_empty(session, world, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.scheduling.test_floor import _presence

    a, b = world.agents[0], world.agents[1]
    shift = assign(session, world, a, date(2026, 1, 12))
    swap = swaps.request(session, shift_id=shift.id, partner_id=b.id, by=a)
    swaps.confirm(session, swap_id=swap.id, by=b)
    for leader in (world.leader, world.other_leader):
        swaps.approve(session, swap_id=swap.id, by=leader)
    session.commit()
    _presence(session, a, (shift.start_at - timedelta(minutes=15), "available"))  # a came after all
    clock.set(shift.start_at + timedelta(hours=2))
    found = {e.user_id: e for s, e in rollcall.roll_call(session, site_id=world.site.id, start=shift.start_at,
                                                          by=world.leader)}
    assert set(found) == {b.id} and [v["rule"] for v in found[b.id].violations] == ["rollcall.absent"]
