"""Benchmark: staffing for a year of 15-minute intervals (35,040) by Erlang C and by Erlang A
(callers abandoning after a mean patience of 120 s), both vectorised.
Run: .venv/bin/python -m benchmarks.bench_forecast [--days N]"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import numpy as np

from scheduling.forecast import Targets, staff_many


def year_of_calls(seed: int = 1, days: int = 365) -> tuple[np.ndarray, np.ndarray]:
    """A year of quarter-hours: a daily curve peaking at midday, quieter weekends, Poisson noise,
    and a handle time that drifts between 200 and 280 seconds."""
    rng = np.random.default_rng(seed)
    n = days * 96
    slot = np.arange(n) % 96
    day = np.arange(n) // 96
    curve = np.clip(np.sin(np.pi * (slot - 28) / 60), 0, None) ** 1.3
    weekday = np.where(day % 7 < 5, 1.0, 0.55)
    season = 1 + 0.2 * np.sin(2 * np.pi * day / 365)
    calls = rng.poisson(180 * curve * weekday * season + 2).astype(float)
    aht = np.round(240 + 40 * np.sin(2 * np.pi * slot / 96) + rng.normal(0, 10, n))
    return calls, aht


def _run(label: str, calls: np.ndarray, aht: np.ndarray, targets: Targets) -> float:
    started = time.perf_counter()
    out = staff_many(calls, aht, interval_minutes=15, targets=targets)
    elapsed = time.perf_counter() - started
    busy = calls > 0
    print(f"{label}: peak agents {out['agents'].max()}  scheduled agent-intervals {int(out['scheduled_agents'].sum())}"
          f"  min service level {out['service_level'][busy].min():.3f}  max occupancy {out['occupancy'].max():.3f}"
          f"  mean ASA {out['asa_seconds'][busy].mean():.1f} s"
          + (f"  mean abandons {out['abandon_probability'][busy].mean() * 100:.2f} %"
             if "abandon_probability" in out else ""))
    print(f"{label}: time {elapsed:.3f} s ({'under' if elapsed < 1 else 'OVER'} the 1 s budget)")
    assert math.isfinite(float(out["asa_seconds"].max()))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365, help="days of quarter-hours (a year by default)")
    calls, aht = year_of_calls(days=parser.parse_args().days)
    base = Targets(level=0.8, seconds=20, max_occupancy=0.85, shrinkage=0.3)
    print(f"intervals: {len(calls)}  peak traffic: {(calls * aht / 900).max():.1f} Erlangs")
    _run("Erlang C", calls, aht, base)
    _run("Erlang A (patience 120 s)", calls, aht, replace(base, patience_seconds=120.0))


if __name__ == "__main__":
    main()
