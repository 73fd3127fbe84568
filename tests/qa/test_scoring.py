"""The score formula against hand-computed cases, including Amazon Connect's documented N/A example."""

from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from qa.errors import InvalidAnswers
from qa.scoring import Answer, QuestionRule, check_answers, compute, fraction, is_full_marks, normalise


def _points(qid: int, weight: float, **extra: object) -> QuestionRule:
    return QuestionRule(id=qid, code=f"q{qid}", scale="points", max_points=10, weight=weight, **extra)  # type: ignore[arg-type]


def test_connect_example_scores_60_then_75_with_q4_not_applicable() -> None:
    # Weights 40/20/20/20, answers worth 10, 5, 5 and 0 points of 10 (the AWS admin guide's table).
    rules = [_points(1, 40), _points(2, 20), _points(3, 20), _points(4, 20, allows_na=True)]
    answers = {1: Answer(10), 2: Answer(5), 3: Answer(5), 4: Answer(0)}
    assert compute(rules, answers).score == 60.0
    answers[4] = Answer(not_applicable=True)
    result = compute(rules, answers)
    # Q4's 20 % goes to Q1, Q2, Q3 in proportion to 40:20:20 -> 50, 25, 25.
    assert result.applied_weights == {1: 50.0, 2: 25.0, 3: 25.0}
    assert result.score == 75.0


def test_one_to_five_and_yes_no_fractions() -> None:
    five = QuestionRule(id=1, code="a", scale="one_to_five", weight=50)
    yes_no = QuestionRule(id=2, code="b", scale="yes_no", weight=50)
    assert [fraction(five, v) for v in (1, 2, 3, 4, 5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    # 4 of 5 earns 75 % of 50, "yes" earns all of 50: 37.5 + 50.
    assert compute([five, yes_no], {1: Answer(4), 2: Answer(1)}).score == 87.5
    assert is_full_marks(five, Answer(5)) and not is_full_marks(five, Answer(4))
    assert not is_full_marks(yes_no, Answer(not_applicable=True))


def test_critical_failure_sets_the_score_to_zero() -> None:
    rules = [_points(1, 90), QuestionRule(id=2, code="rude", scale="yes_no", weight=10, critical=True)]
    result = compute(rules, {1: Answer(10), 2: Answer(0)})
    assert result.auto_failed and result.score == 0.0 and result.base_score == 90.0


def test_bonus_adds_points_is_flagged_and_is_capped_at_100() -> None:
    rules = [_points(1, 100), QuestionRule(id=2, code="extra", scale="yes_no", weight=5, bonus=True)]
    assert compute(rules, {1: Answer(9), 2: Answer(1)}).score == 95.0  # 90 + 5
    capped = compute(rules, {1: Answer(10), 2: Answer(1)})
    assert capped.score == 100.0 and capped.bonus_points == 5.0
    assert compute(rules, {1: Answer(9)}).bonus_points == 0.0  # a bonus item is optional


def test_missing_answers_are_reported_and_all_na_has_no_score() -> None:
    rules = [_points(1, 50, allows_na=True), _points(2, 50, allows_na=True)]
    assert compute(rules, {1: Answer(10)}).missing == (2,)
    assert compute(rules, {1: Answer(not_applicable=True), 2: Answer(not_applicable=True)}).score is None


def test_out_of_scale_and_forbidden_na_are_refused_together() -> None:
    rules = {1: QuestionRule(id=1, code="a", scale="one_to_five", weight=50),
             2: QuestionRule(id=2, code="b", scale="yes_no", weight=50)}
    with pytest.raises(InvalidAnswers) as caught:
        check_answers(rules, {1: Answer(6), 2: Answer(not_applicable=True), 3: Answer(1)})
    messages = {tuple(e["loc"]): e["msg"] for e in caught.value.items()}
    assert messages[("answers", 1)] == "Choose one of the answers shown (from 1 to 5)."
    assert caught.value.errors[0]["params"]["value"] == 6
    assert "N/A is not allowed" in str(messages[("answers", 2)])
    assert ("answers", 3) in messages
    with pytest.raises(InvalidAnswers):
        check_answers(rules, {1: Answer(0)})  # 1-5 starts at 1


def test_normalise_scales_to_100_and_refuses_a_zero_total() -> None:
    assert normalise([2, 1, 1], loc=[]) == [50.0, 25.0, 25.0]
    with pytest.raises(ValidationFailed):
        normalise([0, 0], loc=["w"])
    with pytest.raises(ValidationFailed):
        normalise([3, -1], loc=["w"])
