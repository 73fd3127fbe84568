"""Rules as data: a `Violation` names the rule by a stable code, says why in English, and carries
the values a translation needs. Rule functions take plain dataclasses and never the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scheduling.rules.messages import MESSAGES

__all__ = ["MESSAGES", "Violation", "violation"]


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_error(self) -> dict[str, Any]:
        return {"loc": [], "rule": self.rule, "msg": self.detail, "params": self.params}


def violation(rule: str, **params: Any) -> Violation:
    """The violation of `rule`, its English text filled from MESSAGES with `params`."""
    return Violation(rule, MESSAGES[rule].format(**params), params)
