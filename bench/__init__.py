"""Benchmarks on synthetic data at scale (not timed tests): `make bench` or `python -m bench`."""
