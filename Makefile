# `make run`: set up, then sweep, evaluate and report on the offline default.
# `make test`: set up, lint and type-check, then run the whole test suite.
# `make test-real`: the tests on the real bench kit (a real encoder and real XTREME-format data) at
# XSTILTS_REALBENCH (default ../shared/realbench); `make bench-real` runs the whole job on it (~1 hour).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xstilts-installed

XSTILTS_REALBENCH ?= ../shared/realbench

# pytest-xdist workers for the default suite (its e2e tests spend part of their time waiting on Ray, on
# subprocesses and on timeouts, which a second worker fills on 2 cores); `make test TEST_WORKERS=0` runs it
# in one process.
TEST_WORKERS ?= 2

.PHONY: run test suite test-repeat test-slow test-real lint ruff typecheck install bench bench-real docs clean

run: install
	$(BIN)/xstilts prepare experiments.yaml
	$(BIN)/xstilts run experiments.yaml

# ruff first (seconds), then mypy beside the suite (mypy is one process; the suite's workers often wait)
test: ruff
	$(MAKE) --no-print-directory -j2 typecheck suite

suite: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# the suite N times, then how often each test failed (a flake: failed in some runs, passed in others)
N ?= 5
test-repeat: install
	$(BIN)/python tests/tools/repeat.py $(N) --workers $(TEST_WORKERS)

# the fault tests beyond the default run's budget (a lost node, an errored trial, stop signals, kills on S3)
test-slow: install
	$(BIN)/python -m pytest -q -m slow

test-real: install
	XSTILTS_REALBENCH=$(abspath $(XSTILTS_REALBENCH)) $(BIN)/python -m pytest -q -m realbench tests/realbench

# ruff (lint and format check) and mypy, which sees the repository root as the `xstilts` package through
# .typecheck/xstilts -> .. (the root is the package; see pyproject.toml).
lint: ruff typecheck

ruff: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	mkdir -p .typecheck && ln -sfn .. .typecheck/xstilts
	$(BIN)/mypy -p xstilts.core -p xstilts.tasks -p xstilts.models -p xstilts.search

bench: install
	$(BIN)/python benchmarks/offline_sweep.py

bench-real: install
	$(BIN)/python benchmarks/real_bench.py $(XSTILTS_REALBENCH)

install: $(STAMP)

# the documentation site (docs/, mkdocs.yml) into site/, failing on any warning (a broken link, an API page
# whose module does not import); the API pages read the package through .typecheck/xstilts -> ..
DOCS_STAMP := $(VENV)/.xstilts-docs-installed
docs: install $(DOCS_STAMP)
	mkdir -p .typecheck && ln -sfn .. .typecheck/xstilts
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

$(DOCS_STAMP): pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test,docs]" torch==2.13.0
	touch $(DOCS_STAMP)

# torch is pinned in its own step first: 2.13.0 is the CPU wheel on disk; an unpinned torch
# would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]" torch==2.13.0
	touch $(STAMP)

clean:
	rm -rf runs .cache bench_out .typecheck site
