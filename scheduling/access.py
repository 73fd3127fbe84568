"""Object-level checks shared by scheduling's services: who may act on which site's people."""

from __future__ import annotations

from core import permissions
from core.errors import PermissionDenied
from core.models import Role, User


def rank(user: User) -> int:
    return permissions.rank(user.role)


def at_least(user: User, role: Role) -> bool:
    return rank(user) >= permissions.LADDER.index(role)


# Who may do a step, by the lowest role allowed.
NEEDS_RANK = {
    Role.agent: "Only an agent or above can do this.",
    Role.team_leader: "Only a team leader or above can do this.",
    Role.supervisor: "Only a supervisor or above can do this.",
    Role.center_head: "Only the center head can do this.",
    Role.admin: "Only an administrator can do this.",
    Role.qa_inspector: "Only a QA inspector or above can do this.",
}


def require_role(user: User, role: Role, action: str) -> None:
    if not at_least(user, role):
        raise PermissionDenied(NEEDS_RANK[role], params={"role": role.value, "action": action})


def require_site(user: User, site_id: int | None, action: str) -> None:
    """Leaders act on their own site; center heads and admins on every site."""
    if at_least(user, Role.center_head) or site_id is None or user.site_id == site_id:
        return
    raise PermissionDenied("You can do this only for your own site.", params={"action": action})
