"""Who outranks whom. Roles form one management ladder (agent up to admin) plus the QA inspector,
who stands beside it; permission checks name a set of roles built from these."""

from __future__ import annotations

from collections.abc import Iterable

from core.models import Role

# The escalation ladder of DOMAIN.md, lowest first. Admin sits on top so an administrator can
# open every management page when setting the hub up.
LADDER: tuple[Role, ...] = (Role.agent, Role.team_leader, Role.supervisor, Role.center_head, Role.admin)


def at_least(role: Role) -> frozenset[Role]:
    """`role` and every role above it on the ladder."""
    return frozenset(LADDER[LADDER.index(role):])


EVERYONE: frozenset[Role] = frozenset(Role)
# People who work calls and tickets. QA inspectors listen to recordings; they do not take calls.
AGENTS: frozenset[Role] = at_least(Role.agent)
TEAM_LEADERS: frozenset[Role] = at_least(Role.team_leader)
SUPERVISORS: frozenset[Role] = at_least(Role.supervisor)
CENTER_HEADS: frozenset[Role] = at_least(Role.center_head)
ADMINS: frozenset[Role] = frozenset({Role.admin})
# Scoring and QA reports: the inspectors, and the managers who read their reports.
QA: frozenset[Role] = frozenset({Role.qa_inspector}) | SUPERVISORS


def allowed(role: str | Role, roles: Iterable[Role]) -> bool:
    try:
        return Role(role) in set(roles)
    except ValueError:
        return False


def rank(role: str | Role) -> int:
    """Position on the ladder (-1 for a role beside it), for "one level up" escalation."""
    try:
        return LADDER.index(Role(role))
    except ValueError:
        return -1
