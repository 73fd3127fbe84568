"""Small helpers the benchmarks share: a percentile of timings, a local process's CPU time, a
database of a run's own and its settings."""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.config import Settings


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


def exit_on_sigterm() -> None:
    """Make SIGTERM (a timeout's stop) exit the run as an error does, through its `finally` blocks
    and exit handlers: a database dropped, child processes stopped, temporary files removed. By
    default SIGTERM ends the process where it stands."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))


DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def bench_database(prefix: str, *, keep: bool = False) -> AbstractContextManager[str]:
    """A database of the benchmark's own on the PostgreSQL server HOTLINE_BENCH_DATABASE_URL points
    at (the local one by default), dropped afterwards unless `keep`, also when the run is stopped
    with SIGTERM (as a timeout stops it)."""
    from deploy.databases import scratch_database

    exit_on_sigterm()
    return scratch_database(os.environ.get("HOTLINE_BENCH_DATABASE_URL") or DEFAULT_PG, prefix, keep=keep)


def bench_settings(database_url: str, *, data_key: str | None = None, **extra: Any) -> Settings:
    """Settings for a benchmark's hub: its database, a data key (a fresh one unless given) and
    throw-away secrets."""
    from cryptography.fernet import Fernet
    from pydantic import SecretStr

    from core.config import Settings

    return Settings(database_url=database_url, data_keys=[SecretStr(data_key or Fernet.generate_key().decode())],
                    secret_key=SecretStr("bench-" + "x" * 40), blind_index_key=SecretStr("bench-blind-" + "y" * 40),
                    **extra)
