"""QA: scorecards, sampling, evaluations, calibration, disputes and QA reports."""
