"""Sealed recordings (core.storage.sealed) on the filesystem backend: writing a recording sealed,
reading it whole, and a player's seeks (random 64 KiB ranges), against the same in clear.
Prints MB/s and p50/p99 per range in ms; no assertions.
Run: python -m benchmarks.bench_media [--megabytes N] [--seeks N]."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.fernet import Fernet

from benchmarks.common import percentile
from core.storage.filesystem import FilesystemStorage
from core.storage.sealed import SealedStorage

KEY_ID = "b" * 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=20)
    parser.add_argument("--seeks", type=int, default=300)
    args = parser.parse_args()
    material = Fernet.generate_key().decode()
    audio = os.urandom(args.megabytes * 1024 * 1024)
    with tempfile.TemporaryDirectory() as folder:
        storage = SealedStorage(FilesystemStorage(folder), lambda _key_id: material)
        for label, seal in (("clear", None), ("sealed", KEY_ID)):
            key = f"recordings/bench-{label}.wav"
            started = time.perf_counter()
            storage.put(key, audio, seal=seal)
            written = time.perf_counter() - started
            started = time.perf_counter()
            assert len(storage.get(key)) == len(audio)
            read = time.perf_counter() - started
            rng, times = random.Random(7), []
            for _ in range(args.seeks):
                start = rng.randrange(0, len(audio) - 65536)
                began = time.perf_counter()
                storage.read_range(key, start, start + 65536)
                times.append((time.perf_counter() - began) * 1000)
            print(f"{label:>6}: write {args.megabytes / written:7.1f} MB/s, read {args.megabytes / read:7.1f} MB/s, "
                  f"64 KiB seek p50 {statistics.median(times):.2f} ms p99 {percentile(times, 0.99):.2f} ms "
                  f"({args.seeks} seeks)")


if __name__ == "__main__":
    main()
