"""Benchmarks: run one as `.venv/bin/python -m bench.<name>`; see bench/README.md."""
