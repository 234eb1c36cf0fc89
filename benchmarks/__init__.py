"""Benchmarks: each runs with one command and prints its figures (results are quoted in the README)."""
