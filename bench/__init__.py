"""Benchmarks and load tests: each prints its figures and writes a report."""
