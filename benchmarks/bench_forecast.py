"""Benchmark: staffing for a year of 15-minute intervals (35,040) by Erlang C, vectorised.
Run: .venv/bin/python benchmarks/bench_forecast.py"""

from __future__ import annotations

import math
import time

import numpy as np

from scheduling.forecast import Targets, staff_many


def year_of_calls(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A year of quarter-hours: a daily curve peaking at midday, quieter weekends, Poisson noise,
    and a handle time that drifts between 200 and 280 seconds."""
    rng = np.random.default_rng(seed)
    n = 365 * 96
    slot = np.arange(n) % 96
    day = np.arange(n) // 96
    curve = np.clip(np.sin(np.pi * (slot - 28) / 60), 0, None) ** 1.3
    weekday = np.where(day % 7 < 5, 1.0, 0.55)
    season = 1 + 0.2 * np.sin(2 * np.pi * day / 365)
    calls = rng.poisson(180 * curve * weekday * season + 2).astype(float)
    aht = np.round(240 + 40 * np.sin(2 * np.pi * slot / 96) + rng.normal(0, 10, n))
    return calls, aht


def main() -> None:
    calls, aht = year_of_calls()
    targets = Targets(level=0.8, seconds=20, max_occupancy=0.85, shrinkage=0.3)
    started = time.perf_counter()
    out = staff_many(calls, aht, interval_minutes=15, targets=targets)
    elapsed = time.perf_counter() - started
    print(f"intervals: {len(calls)}  peak traffic: {out['traffic'].max():.1f} Erlangs  "
          f"peak agents: {out['agents'].max()}  scheduled agent-intervals: {int(out['scheduled_agents'].sum())}")
    print(f"min service level: {out['service_level'][calls > 0].min():.3f}  "
          f"max occupancy: {out['occupancy'].max():.3f}")
    print(f"time: {elapsed:.3f} s ({'under' if elapsed < 1 else 'OVER'} the 1 s budget)")
    assert math.isfinite(float(out["asa_seconds"].max()))


if __name__ == "__main__":
    main()
