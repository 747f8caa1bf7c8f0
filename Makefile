# The two commands a newcomer needs: `make demo` and `make test`.
.PHONY: demo test lint bench bootstrap

bootstrap:
	@deploy/dev/bootstrap.sh

demo: bootstrap
	.venv/bin/vitalgate-sim demo

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: lint
	.venv/bin/python -m pytest --numprocesses 4 --dist worksteal

bench: bootstrap
	.venv/bin/python -m tests.bench $(BENCH)
