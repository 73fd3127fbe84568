"""QA's refusals, each a core domain error so the API edge maps it to its status code."""

from __future__ import annotations

from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class ScorecardNotFound(NotFound):
    """No such scorecard."""


class EvaluationNotFound(NotFound):
    """No such evaluation, or it is not one you may see."""


class RecordingNotAllowed(PermissionDenied):
    """You may not hear this recording: inspectors hear recordings assigned to them or of their own site
    or team; team leaders those of their team."""


class RecordingNotEligible(ValidationFailed):
    """This recording cannot be evaluated (not a completed call recording with an agent)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or "This recording cannot be evaluated: it is not a completed call recording "
                         "answered by an agent.", field="recording_id")


class InvalidAnswers(ValidationFailed):
    """Some answers do not fit their questions; `errors` locates each."""

    default_msgid = "Some answers do not fit their questions."


class NotEditable(Conflict):
    """This evaluation is submitted and can no longer be edited; a change goes through a dispute."""


class WrongState(Conflict):
    """This evaluation is not in a state that allows that."""


class DisputeRefused(ValidationFailed):
    """The dispute cannot be opened; `errors` says why."""

    default_msgid = "The dispute cannot be opened."


class CalibrationBlind(PermissionDenied):
    """Submit your own evaluation of this calibration recording first; the others' scores show after that."""
