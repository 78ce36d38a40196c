"""Benchmarks: each measures ratios side by side in one run; every run is kept in benchmarks/history/."""
