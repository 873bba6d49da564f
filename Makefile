# Every target runs from svc/; Python is always `uv run python -m ...`.
# PYENV_VERSION, when inherited from a pyenv shim, would pin every shim below to another Python.
SHELL := /bin/bash
unexport PYENV_VERSION
SVC := cd svc &&
UV_RUN := $(SVC) uv run --frozen python -m

.PHONY: install db-up db-down db-reset migrate run test test-integration test-contract test-faults fuzz bench clean generate

install:
	$(SVC) uv sync --frozen

db-up: install
	$(UV_RUN) tools.localdb up

db-down: install
	$(UV_RUN) tools.localdb down

db-reset: install
	$(UV_RUN) tools.localdb reset
	$(UV_RUN) migrations

migrate: install
	$(UV_RUN) migrations

run: install db-up migrate
	$(UV_RUN) main

# The coverage floor applies to the whole suite only: one test file run by hand does not fail on it.
test: install db-up
	$(UV_RUN) pytest --cov=. --cov-report=term-missing:skip-covered --cov-fail-under=90

test-integration: install db-up
	$(UV_RUN) pytest -m integration

test-contract: install db-up
	$(UV_RUN) pytest -m contract

# make fuzz EXAMPLES=2000: the schemathesis run of make test (same seed, phases, checks and hooks) with more
# examples per operation than make test's 100.
EXAMPLES ?= 1000
fuzz: install db-up
	$(SVC) FUZZ_EXAMPLES=$(EXAMPLES) uv run --frozen python -m pytest test_contract.py -k every_operation

test-faults: install
	$(UV_RUN) pytest -m faults

# make bench ARGS="--duration 10 --connections 16,64 --workers 1" (wrk: apt-get install -y wrk)
bench: install db-up
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install -y wrk (macOS: brew install wrk)"; exit 1; }
	$(UV_RUN) tools.bench $(ARGS)

generate: install
	$(SVC) uv run --frozen datamodel-codegen

clean:
	$(SVC) rm -rf .pytest_cache .coverage coverage.xml htmlcov tools/results __pycache__ */__pycache__
