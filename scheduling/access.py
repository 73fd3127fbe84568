"""Object-level checks shared by scheduling's services: who may act on which site's people."""

from __future__ import annotations

from core import permissions
from core.errors import PermissionDenied
from core.models import Role, User


def rank(user: User) -> int:
    return permissions.rank(user.role)


def at_least(user: User, role: Role) -> bool:
    return rank(user) >= permissions.LADDER.index(role)


def require_role(user: User, role: Role, action: str) -> None:
    if not at_least(user, role):
        raise PermissionDenied(f"Only a {role.value.replace('_', ' ')} or above can {action}.")


def require_site(user: User, site_id: int | None, action: str) -> None:
    """Leaders act on their own site; center heads and admins on every site."""
    if at_least(user, Role.center_head) or site_id is None or user.site_id == site_id:
        return
    raise PermissionDenied(f"You can only {action} for your own site.")
