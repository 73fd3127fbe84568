"""Scheduling's refusals. A rule refusal carries every broken rule, each with a stable code, the
English text and the values the pages need to say it in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import (
    Conflict,
    Gettext,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    format_message,
    untranslated,
)
from scheduling.rules import Violation


class RuleViolated(ValidationFailed):
    """The request breaks scheduling rules; `violations` lists each one."""

    default_msgid = "The request breaks scheduling rules: see each rule."

    code = "rules_violated"
    subject = "The request breaks %(count)s rule(s):"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__([v.as_error() for v in self.violations])
        self.msgid, self.params = self.subject, {"count": len(self.violations)}
        self.message = format_message(self.subject, self.params) + " " + " ".join(v.detail for v in self.violations)
        self.args = (self.message,)

    def text(self, gettext: Gettext = untranslated) -> str:
        """The summary, then every broken rule, in the language of `gettext`."""
        return " ".join([format_message(gettext(self.msgid), self.params, gettext),
                         *(item["msg"] for item in self.items(gettext))])


class SwapRuleViolated(RuleViolated):
    code = "swap_rules_violated"
    subject = "The swap breaks %(count)s rule(s):"


class LeaveRuleViolated(RuleViolated):
    code = "leave_rules_violated"
    subject = "The leave request breaks %(count)s rule(s):"


class ShiftRuleViolated(RuleViolated):
    code = "shift_rules_violated"
    subject = "The shift assignment breaks %(count)s rule(s):"


class RosterRuleViolated(RuleViolated):
    code = "roster_rules_violated"
    subject = "The roster breaks %(count)s rule(s):"


class HandoverIncomplete(RuleViolated):
    code = "handover_incomplete"
    subject = "The handover is incomplete (%(count)s part(s)):"


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

    default_msgid = "This step is not yours to take: see why, rule by rule."

    code = "step_refused"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        self.errors = [v.as_error() for v in self.violations]
        super().__init__()
        self.message = " ".join(v.detail for v in self.violations)
        self.args = (self.message,)

    def text(self, gettext: Gettext = untranslated) -> str:
        """Why, rule by rule, in the language of `gettext`."""
        return " ".join(item["msg"] for item in self.items(gettext)) or super().text(gettext)


class AlreadyDecided(Conflict):
    """This was already decided; reload to see its state."""


class HandoverLocked(Conflict):
    """An accepted handover is locked; append an addition instead."""
