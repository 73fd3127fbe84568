"""Performance figures, printed, never asserted. Run one with `python -m benchmarks.<name>`."""
