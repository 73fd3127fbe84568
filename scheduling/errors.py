"""Scheduling's refusals. A rule refusal carries every broken rule, each with a stable code, the
English text and the values the pages need to say it in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from scheduling.rules import Violation


class RuleViolated(ValidationFailed):
    """The request breaks scheduling rules; `violations` lists each one."""

    code = "rules_violated"
    subject = "The request"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__([v.as_error() for v in self.violations])
        self.message = f"{self.subject} breaks {len(self.violations)} rule(s): " + " ".join(
            v.detail for v in self.violations)


class SwapRuleViolated(RuleViolated):
    code = "swap_rules_violated"
    subject = "The swap"


class LeaveRuleViolated(RuleViolated):
    code = "leave_rules_violated"
    subject = "The leave request"


class ShiftRuleViolated(RuleViolated):
    code = "shift_rules_violated"
    subject = "The shift assignment"


class RosterRuleViolated(RuleViolated):
    code = "roster_rules_violated"
    subject = "The roster"


class HandoverIncomplete(RuleViolated):
    code = "handover_incomplete"
    subject = "The handover"


class ShiftNotFound(NotFound):
    """No such shift."""


class RosterNotFound(NotFound):
    """No such roster."""


class RequestNotFound(NotFound):
    """No such request."""


class NotYourTurn(PermissionDenied):
    """This step is not yours to take."""


class StepRefused(NotYourTurn):
    """This person may not take this step; `violations` says why, rule by rule."""

    code = "step_refused"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        self.errors = [v.as_error() for v in self.violations]
        super().__init__(" ".join(v.detail for v in self.violations))


class AlreadyDecided(Conflict):
    """This was already decided; reload to see its state."""


class HandoverLocked(Conflict):
    """An accepted handover is locked; append an addition instead."""
