"""Erlang B/C/A against published tables and worked examples, stability at thousands of agents,
the vectorised path against the scalar one, and the `hotline forecast` command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from scheduling import erlang
from scheduling.cli import forecast


# Erlang B table, 1 % blocking: lines -> traffic carried (standard published table values).
@pytest.mark.parametrize(("lines", "traffic"), [(10, 4.461), (20, 12.031), (50, 37.901), (100, 84.064)])
def test_erlang_b_matches_the_published_table(lines: int, traffic: float) -> None:
    assert erlang.erlang_b(lines, traffic) == pytest.approx(0.01, abs=5e-5)


def test_classic_example_100_calls_in_30_minutes() -> None:
    # 100 calls / 30 min, AHT 180 s (10 Erlangs), 80 % in 20 s: 14 agents (pyworkforce's test case too).
    result = erlang.required_agents_c(10.0, aht_seconds=180, target_level=0.8, target_seconds=20)
    assert result.agents == 14
    assert result.wait_probability == pytest.approx(0.1741, abs=1e-4)
    assert result.service_level == pytest.approx(0.8884, abs=1e-4)
    assert result.asa_seconds == pytest.approx(7.84, abs=0.01)
    assert result.occupancy == pytest.approx(10 / 14)
    below = erlang.erlang_c_metrics(13, 10.0, aht_seconds=180, target_seconds=20)
    assert below.service_level < 0.8  # 13 agents are not enough


def test_matches_pyworkforce_on_the_same_inputs() -> None:
    from pyworkforce.queuing import ErlangC

    theirs = ErlangC(transactions=100, asa=20 / 60, aht=3, interval=30).required_positions(service_level=0.8)
    ours = erlang.required_agents_c(10.0, aht_seconds=180, target_level=0.8, target_seconds=20)
    assert ours.agents == theirs["raw_positions"]
    assert ours.service_level == pytest.approx(theirs["service_level"], rel=1e-9)
    assert ours.wait_probability == pytest.approx(theirs["waiting_probability"], rel=1e-9)


def test_max_occupancy_raises_the_count() -> None:
    result = erlang.required_agents_c(10.0, aht_seconds=180, target_level=0.8, target_seconds=20, max_occupancy=0.7)
    assert result.agents == 15 and result.occupancy <= 0.7


def test_thousands_of_agents_do_not_overflow() -> None:
    result = erlang.required_agents_c(4900.0, aht_seconds=180, target_level=0.8, target_seconds=20)
    assert 4900 < result.agents < 5000
    assert 0.8 <= result.service_level < 1 and math.isfinite(result.asa_seconds)
    assert erlang.erlang_b(20000, 19000.0) > 0
    assert erlang.erlang_c(3, 5.0) == 1.0  # overloaded: everyone waits


def test_vectorised_matches_scalar() -> None:
    traffic = np.array([0.0, 0.4, 3.3, 10.0, 57.5, 10.0])
    out = erlang.required_agents_c_many(traffic, np.full(6, 240.0), target_level=0.8, target_seconds=20,
                                        max_occupancy=0.9)
    for i, a in enumerate(traffic):
        one = erlang.required_agents_c(float(a), aht_seconds=240, target_level=0.8, target_seconds=20,
                                       max_occupancy=0.9)
        assert out["agents"][i] == one.agents
        assert out["service_level"][i] == pytest.approx(one.service_level)
        assert out["asa_seconds"][i] == pytest.approx(one.asa_seconds)


def _birth_death(n: int, a: float, aht: float, patience: float) -> tuple[float, float]:
    lam, mu, theta = a / aht, 1 / aht, 1 / patience
    logs = [0.0]
    for k in range(1, 3000):
        logs.append(logs[-1] + math.log(lam / (min(k, n) * mu + max(k - n, 0) * theta)))
    top = max(logs)
    p = [math.exp(v - top) for v in logs]
    total = sum(p)
    p = [v / total for v in p]
    c = n * mu / theta
    return sum(p[n:]), sum(p[n + j] * (j + 1) / (c + j + 1) for j in range(len(p) - n))


def test_erlang_a_against_the_birth_death_chain() -> None:
    wait, abandon = _birth_death(12, 10.0, 180.0, 120.0)
    result = erlang.erlang_a(12, 10.0, aht_seconds=180, patience_seconds=120, target_seconds=20)
    assert result.wait_probability == pytest.approx(wait, rel=1e-9)
    assert result.abandon_probability == pytest.approx(abandon, rel=1e-9)


def test_erlang_a_tends_to_erlang_c_with_endless_patience() -> None:
    a = erlang.erlang_a(14, 10.0, aht_seconds=180, patience_seconds=1e8, target_seconds=20)
    c = erlang.erlang_c_metrics(14, 10.0, aht_seconds=180, target_seconds=20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-5)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, rel=1e-3)


def test_erlang_a_needs_fewer_agents_and_handles_overload() -> None:
    a = erlang.required_agents_a(10.0, aht_seconds=180, patience_seconds=120, target_level=0.8, target_seconds=20)
    assert a.agents == 12  # abandons shorten the queue: fewer than Erlang C's 14
    big = erlang.required_agents_a(4000.0, aht_seconds=180, patience_seconds=60, target_level=0.8,
                                   target_seconds=20, max_occupancy=0.95)
    assert big.occupancy <= 0.95 and big.service_level >= 0.8


def test_forecast_command_prints_the_figures() -> None:
    result = CliRunner().invoke(forecast, ["--calls", "100", "--interval-minutes", "30", "--aht-seconds", "180",
                                           "--target-percent", "80", "--target-seconds", "20", "--shrinkage", "30"])
    assert result.exit_code == 0, result.output
    assert "Agents needed:       14" in result.output
    assert "Agents to schedule:  20" in result.output
    assert "88.8 %" in result.output and "7.8 s" in result.output and "17.4 %" in result.output


def test_forecast_command_json_and_erlang_a() -> None:
    result = CliRunner().invoke(forecast, ["--calls", "100", "--aht-seconds", "180", "--patience-seconds", "120",
                                           "--json"])
    data = json.loads(result.output)
    assert data["model"] == "erlang_a" and data["agents"] == 12
    assert data["abandon_probability"] == pytest.approx(0.0616, abs=1e-4)


def test_forecast_command_refuses_bad_targets() -> None:
    result = CliRunner().invoke(forecast, ["--calls", "10", "--aht-seconds", "180", "--target-percent", "120"])
    assert result.exit_code != 0 and "service level target" in result.output


def test_vectorised_erlang_a_matches_the_scalar_search() -> None:
    from scheduling.erlang_a_many import required_agents_a_many

    traffic = np.array([0.0, 0.05, 0.4, 3.3, 10.0, 57.5, 10.0, 4000.0])
    aht = np.array([240.0, 240.0, 180.0, 300.0, 180.0, 240.0, 180.0, 180.0])
    for patience, occupancy in ((120.0, 1.0), (30.0, 0.85), (600.0, 0.95)):
        out = required_agents_a_many(traffic, aht, patience_seconds=patience, target_level=0.8, target_seconds=20,
                                     max_occupancy=occupancy)
        for i, a in enumerate(traffic):
            one = erlang.required_agents_a(float(a), aht_seconds=float(aht[i]), patience_seconds=patience,
                                           target_level=0.8, target_seconds=20, max_occupancy=occupancy)
            assert out["agents"][i] == one.agents, (patience, a)
            for key in ("service_level", "asa_seconds", "occupancy", "wait_probability", "abandon_probability"):
                assert out[key][i] == pytest.approx(getattr(one, key), rel=1e-9, abs=1e-12), (patience, a, key)


def test_forecast_for_many_intervals_uses_erlang_a_with_patience() -> None:
    from scheduling.forecast import Targets, staff_many

    out = staff_many([100.0, 0.0, 100.0], 180.0, interval_minutes=30,
                     targets=Targets(0.8, 20, shrinkage=0.3, patience_seconds=120))
    assert list(out["agents"]) == [12, 0, 12]  # the worked example of docs/forecast.md
    assert out["abandon_probability"][0] == pytest.approx(0.0616, abs=1e-4)
    assert list(out["scheduled_agents"]) == [18, 0, 18]


def test_forecast_command_caps_occupancy() -> None:
    args = ["--calls", "100", "--aht-seconds", "180", "--json"]
    free = json.loads(CliRunner().invoke(forecast, args).output)
    capped = json.loads(CliRunner().invoke(forecast, [*args, "--max-occupancy", "70"]).output)
    assert free["occupancy"] > 0.7 >= capped["occupancy"] and capped["agents"] > free["agents"]
    assert json.loads(CliRunner().invoke(forecast, [*args, "--max-occupancy", "0.7"]).output) == capped
