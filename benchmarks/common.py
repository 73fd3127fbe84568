"""Small helpers the benchmarks share: a percentile of timings and a local process's CPU time."""

from __future__ import annotations

import os
from pathlib import Path


def percentile(samples: list[float], share: float) -> float:
    """The sample at `share` (0.99 for p99) of the sorted samples (nearest rank, no interpolation)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a local process, from /proc (-1 when it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
