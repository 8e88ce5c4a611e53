# `make run` starts the whole service; `make test` runs every test. Both set up first.
.PHONY: run test setup lint bench

run: setup
	.venv/bin/python -m app.ops.launcher

test: setup
	bash scripts/services.sh
	.venv/bin/python -m pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

setup:
	bash scripts/setup.sh
