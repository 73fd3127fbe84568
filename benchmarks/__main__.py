"""`python -m benchmarks` lists the benchmarks and how to run each."""

from __future__ import annotations

import pkgutil

import benchmarks

print("Benchmarks (each prints its own figures; run one with `python -m benchmarks.<name>`):")
for module in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")):
    doc = (__import__(f"benchmarks.{module}", fromlist=["__doc__"]).__doc__ or "").strip().splitlines()
    print(f"  {module:<20} {doc[0] if doc else ''}")
