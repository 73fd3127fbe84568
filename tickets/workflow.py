"""Ticket vocabularies (categories, priorities, statuses, escalation levels) and the status
workflow as data: which status may follow which, and the refusal that names them."""

from __future__ import annotations

import enum

from core.errors import Conflict
from core.models import Role


class Category(enum.StrEnum):
    inquiry = "inquiry"
    complaint = "complaint"
    suggestion = "suggestion"
    callback_request = "callback_request"
    other = "other"


class Priority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


PRIORITY_RANK = {Priority.low: 0, Priority.normal: 1, Priority.high: 2, Priority.urgent: 3}


class Status(enum.StrEnum):
    new = "new"
    open = "open"
    waiting_on_customer = "waiting_on_customer"
    escalated = "escalated"
    resolved = "resolved"
    closed = "closed"


# Every status that may follow each status. `escalated` is entered through
# `tickets.escalation.escalate` (one ladder level at a time), never set directly.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.new: frozenset({Status.open, Status.waiting_on_customer, Status.escalated, Status.resolved, Status.closed}),
    Status.open: frozenset({Status.waiting_on_customer, Status.escalated, Status.resolved}),
    Status.waiting_on_customer: frozenset({Status.open, Status.escalated, Status.resolved}),
    Status.escalated: frozenset({Status.open, Status.waiting_on_customer, Status.escalated, Status.resolved}),
    Status.resolved: frozenset({Status.open, Status.closed}),
    Status.closed: frozenset(),
}

# Statuses in which the ticket is still being worked: its SLA clock runs.
ACTIVE: frozenset[Status] = frozenset({Status.new, Status.open, Status.escalated})
# Waiting on the customer pauses the SLA clock; resolved and closed stop it.
PAUSED: frozenset[Status] = frozenset({Status.waiting_on_customer})
DONE: frozenset[Status] = frozenset({Status.resolved, Status.closed})


class Level(enum.IntEnum):
    """The escalation ladder, lowest first."""

    agent = 0
    team_leader = 1
    supervisor = 2
    center_head = 3


LEVEL_ROLE: dict[Level, Role] = {
    Level.agent: Role.agent,
    Level.team_leader: Role.team_leader,
    Level.supervisor: Role.supervisor,
    Level.center_head: Role.center_head,
}

# Key customers get a phone follow-up on complaints (DOMAIN.md: gold and above).
TIERS = ("normal", "silver", "gold", "platinum", "diamond")
KEY_TIERS = frozenset({"gold", "platinum", "diamond"})


class InvalidTransition(Conflict):
    """The ticket cannot move to that status from its current one."""

    code = "invalid_transition"

    def __init__(self, current: str, target: str, allowed: frozenset[Status] | None = None) -> None:
        self.current = current
        self.target = target
        self.allowed = sorted(s.value for s in (allowed if allowed is not None else allowed_from(current)))
        super().__init__("The ticket cannot go to that status from its current one; choose one of those allowed.",
                         field="status", params={"current": current, "target": target, "allowed": self.allowed})


def allowed_from(status: str | Status) -> frozenset[Status]:
    return TRANSITIONS.get(Status(status), frozenset())


def check_transition(current: str | Status, target: str | Status) -> Status:
    """The target status if the workflow allows it from `current`; InvalidTransition otherwise."""
    try:
        wanted = Status(target)
    except ValueError:
        raise InvalidTransition(str(current), str(target)) from None
    if wanted not in allowed_from(current):
        raise InvalidTransition(str(Status(current).value), wanted.value)
    return wanted
