"""Benchmarks for issue 5: each scenario prints medians beside a baseline measured in the same run."""
