"""Benchmarks: each script starts the processes it measures and prints figures with a baseline.

Run one as `.venv/bin/python -m bench.<name>` (or `.venv/bin/python bench/<name>.py`);
see bench/README.md.
"""
