"""Benchmarks: each measures ratios side by side in one run and writes JSON to benchmarks/results/."""
