# Every target runs from svc/; Python is always `uv run python -m ...`.
# PYENV_VERSION, when inherited from a pyenv shim, would pin every shim below to another Python.
SHELL := /bin/bash
unexport PYENV_VERSION

# uv: the one on PATH when it answers in svc/ (a pyenv shim of uv installed under another Python does not), else the
# pinned one, which make installs from PyPI into UV_HOME: .tools/uv (git-ignored, no root needed); .ci/run installs
# it with `make uv-install UV_HOME=/opt/uv`. uv finds Python 3.13 through svc/.python-version.
UV_VERSION := 0.9.30
UV_HOME ?= $(CURDIR)/.tools/uv
LOCAL_UV := $(UV_HOME)/bin/uv
UV := $(or $(shell cd svc && uv --version >/dev/null 2>&1 && command -v uv),$(LOCAL_UV))
SVC := cd svc &&
# The service's own targets install and run with its runtime dependencies only (--inexact: test tools already
# installed stay); the test targets add the dev group.
RUN := $(SVC) $(UV) run --frozen --no-dev python -m
UV_RUN := $(SVC) $(UV) run --frozen python -m

.PHONY: uv uv-install uv-version install-runtime install db-up db-down db-reset migrate run test test-integration test-contract test-faults fuzz bench putload drill \
	clean generate prune

# The pinned uv in a virtual environment of its own: installed when missing, or again by `make uv-install`.
$(LOCAL_UV) uv-install:
	@command -v python3 >/dev/null || { echo "make needs uv, or python3 to install it: https://docs.astral.sh/uv/"; exit 1; }
	@echo "installing uv $(UV_VERSION) from PyPI into $(UV_HOME)"
	@python3 -m venv $(UV_HOME)
	@$(UV_HOME)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

uv: $(if $(filter $(LOCAL_UV),$(UV)),$(LOCAL_UV))

uv-version:
	@echo $(UV_VERSION)

# What the service needs to run, nothing more.
install-runtime: uv
	$(SVC) $(UV) sync --frozen --no-dev --inexact

# Everything: the service and the test tools.
install: uv
	$(SVC) $(UV) sync --frozen

db-up: install-runtime
	$(RUN) tools.localdb up

db-down: install-runtime
	$(RUN) tools.localdb down

db-reset: install-runtime
	$(RUN) tools.localdb reset
	$(RUN) db.migrations

migrate: install-runtime
	$(RUN) db.migrations

# Drop history only states recorded before BEFORE (an RFC 3339 time) need: make prune BEFORE=2026-01-01T00:00:00Z
prune: install-runtime
	$(RUN) db.prune --before $(BEFORE)

run: db-up migrate
	$(RUN) main

# The whole suite in two pytest processes at once, then one coverage report of both (svc/tools/suite.py). The
# coverage floor applies to the whole suite only: one test file run by hand does not fail on it.
test: install db-up
	$(UV_RUN) tools.suite

test-integration: install db-up
	$(UV_RUN) pytest -m integration

test-contract: install db-up
	$(UV_RUN) pytest -m contract

# make fuzz EXAMPLES=2000: the schemathesis run of make test (same seed, phases, checks and hooks) with more
# examples per operation than make test's 100.
EXAMPLES ?= 1000
fuzz: install db-up
	$(SVC) FUZZ_EXAMPLES=$(EXAMPLES) $(UV) run --frozen python -m pytest tests/test_contract.py -k every_operation

test-faults: install
	$(UV_RUN) pytest -m faults

# make bench ARGS="--duration 10 --connections 16,64 --workers 1" (wrk: apt-get install -y wrk)
bench: install db-up
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install -y wrk (macOS: brew install wrk)"; exit 1; }
	$(UV_RUN) tools.bench $(ARGS)

# PUTs against builds side by side, interleaved, with each PUT's CPU (tools/putload.py):
# make putload ARGS="--build before=/path/to/a/clone/of/main/svc --build after=. --rounds 4 --etcd" (paths from svc/)
putload: install db-up
	@command -v wrk >/dev/null || { echo "make putload needs wrk: apt-get install -y wrk (macOS: brew install wrk)"; exit 1; }
	$(UV_RUN) tools.putload $(ARGS)

# The Patroni failover drill (tools/drill.py): Patroni pinned, from PyPI into .tools/patroni; etcd from Debian
# (apt-get install -y etcd-server); its own two PostgreSQL nodes on 127.0.0.1, not the make db-up server.
drill: install
	@command -v etcd >/dev/null || { echo "make drill needs etcd: apt-get install -y etcd-server"; exit 1; }
	$(UV_RUN) tools.drill $(ARGS)

generate: install
	$(SVC) $(UV) run --frozen datamodel-codegen

clean:
	$(SVC) rm -rf .pytest_cache .coverage .coverage.* coverage.xml htmlcov tools/results __pycache__ */__pycache__
