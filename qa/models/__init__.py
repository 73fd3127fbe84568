"""QA's tables: versioned scorecards, evaluations with their answers, notes, timeline and disputes,
and the planning around them (sampling plans, calibration, training plans, coaching, reports)."""

from qa.models.evaluations import Dispute, Evaluation, EvaluationAnswer, EvaluationEvent, EvaluationNote
from qa.models.planning import (
    Assignment,
    CalibrationParticipant,
    CalibrationSession,
    CoachingTask,
    QualityReport,
    SamplingPlan,
    TeamMinimum,
    TrainingPlan,
)
from qa.models.scorecards import Scorecard, ScorecardQuestion, ScorecardSection

__all__ = [
    "Assignment", "CalibrationParticipant", "CalibrationSession", "CoachingTask", "Dispute", "Evaluation",
    "EvaluationAnswer", "EvaluationEvent", "EvaluationNote", "QualityReport", "SamplingPlan",
    "Scorecard", "ScorecardQuestion", "ScorecardSection", "TeamMinimum", "TrainingPlan",
]
