# Two commands matter on a fresh machine with only Python and make: `make demo` and `make test`.
# Every environment is built from the committed pins in constraints/, never from whatever is newest.

PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
# The versions CI tests besides the default one that `make test` uses; the slowest first, so that
# `make -j2 matrix` starts it first.
MATRIX_VERSIONS ?= 3.1.8 2.11.2
VENV ?= .venv
BIN := $(VENV)/bin
# The default environment also builds the docs, runs the benchmarks and the distributed deployment; the
# matrix ones only test.
DEFAULT_EXTRAS := test,docs,bench,e2e

.DEFAULT_GOAL := help
.PHONY: help venv test lint typecheck pytest matrix demo bench docs docs-update e2e e2e-distributed reliability \
	reliability-ci clean constraints

help:
	@echo "make demo       run an example DAG against the local Kapso simulator and show its XCom record"
	@echo "make test       ruff, mypy and the whole test suite on Airflow $(AIRFLOW_VERSION)"
	@echo "make matrix     the test suite on Airflow $(MATRIX_VERSIONS)"
	@echo "make test-airflow-X.Y.Z   the test suite on one Airflow version with a pin file in constraints/"
	@echo "make test-airflow-X.Y.Z-operators / -rest   the same suite in two shards (what matrix runs)"
	@echo "make bench      benchmarks (never part of pass or fail); writes docs/benchmarks.md"
	@echo "make docs       the docs site, warnings as errors, into build/docs"
	@echo "make docs-update  regenerate the code blocks of README.md and docs/ from example_dags/ and tests/"
	@echo "make e2e        example DAGs in a real Airflow 3.3 deployment, and the connection form in Chromium"
	@echo "make e2e-distributed  PostgreSQL, Redis, CeleryExecutor with two workers: examples, a killed worker, a triggerer restart"
	@echo "make reliability  sends under injected faults: duplicates and losses per fault kind"

# A per-version environment: .venv for the default Airflow, .venv-airflow-X.Y.Z for the matrix.
# The stamp depends on the pins and the metadata, so editing either rebuilds it.
# Stamps are reached through pattern rules; without this make would delete them as intermediates.
.SECONDARY:
%/.installed: $(wildcard constraints/*.txt) setup.cfg
	@test -x $*/bin/python || $(PYTHON) -m venv $*
	$*/bin/python -m pip install --quiet --disable-pip-version-check -c constraints/bootstrap.txt uv
	$*/bin/uv pip install --quiet --python $*/bin/python --compile-bytecode \
		-c constraints/airflow-$(if $(filter $(VENV),$*),$(AIRFLOW_VERSION),$(patsubst .venv-airflow-%,%,$*)).txt \
		--build-constraint constraints/bootstrap.txt -e '.[$(if $(filter $(VENV),$*),$(DEFAULT_EXTRAS),test)]'
	@touch $@

venv: $(VENV)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest

test: lint typecheck pytest

# One Airflow version's suite in its own environment, e.g. `make test-airflow-2.11.2`.
test-airflow-%: .venv-airflow-%/.installed
	@echo "=== Airflow $*"
	.venv-airflow-$*/bin/pytest -q

# The same suite in two shards, each in its own process and Airflow home: the operator tests (most of the
# DAG runs) and the rest. With `make -j2` the shards of the slowest version (3.1, where dag.test() takes
# about 2 s a task, mostly waiting) share the two cores instead of one running alone.
test-airflow-%-operators: .venv-airflow-%/.installed
	@echo "=== Airflow $*: tests/operators"
	.venv-airflow-$*/bin/pytest -q tests/operators

test-airflow-%-rest: .venv-airflow-%/.installed
	@echo "=== Airflow $*: everything but tests/operators"
	.venv-airflow-$*/bin/pytest -q --ignore=tests/operators

# Both shards of every matrix version; one after the other by default, side by side under `make -j2`.
matrix: $(foreach v,$(MATRIX_VERSIONS),test-airflow-$(v)-operators test-airflow-$(v)-rest)

demo: venv
	$(BIN)/python scripts/demo.py

bench: venv
	$(BIN)/python -m benchmarks.run

# -n: every cross-reference must resolve; -W: any warning fails the build.
docs: venv
	rm -rf build/docs build/doctrees
	$(BIN)/sphinx-build -W --keep-going -n -q -b html -d build/doctrees docs build/docs
	@echo "docs: build/docs/index.html"

# The code blocks of README.md and docs/ are written by cog from the snippets of example_dags/ and tests/
# (docs/contributing.md); tests/test_docs.py fails when a page differs from what its sources generate.
docs-update: venv
	$(BIN)/python -m tests._docs

# A real deployment on loopback (api-server, scheduler, dag-processor, triggerer, LocalExecutor) runs the
# example DAGs against the simulator; then Debian's Chromium (/usr/bin/chromium) fills in the connection
# form. The screenshot goes to docs/images/ unless E2E_FLAGS says otherwise.
E2E_FLAGS ?=
e2e: venv
	npm ci --prefix e2e --no-audit --no-fund --silent
	$(BIN)/python scripts/e2e.py $(E2E_FLAGS)

# Airflow as teams run it at scale, on loopback: Debian's PostgreSQL (a fresh cluster in a temporary directory)
# and Redis, CeleryExecutor with two workers, the scheduler, dag-processor, triggerer and api-server as
# separate processes. Runs the examples, a bulk send mapped over both workers, a worker killed mid-send and
# deferred waits across a triggerer restart; needs `apt-get install postgresql redis-server`.
E2E_DISTRIBUTED_FLAGS ?=
e2e-distributed: venv
	$(BIN)/python scripts/e2e_distributed.py $(E2E_DISTRIBUTED_FLAGS)

# Sends under every injected fault, counting duplicates and losses; writes docs/reliability.md.
reliability: venv
	$(BIN)/python scripts/reliability.py --write-docs

# The same campaign, smaller, as CI runs it.
reliability-ci: venv
	$(BIN)/python scripts/reliability.py --sends 30 --rate 0.2

# Refresh a pin file after a deliberate upgrade: resolves the package with Airflow pinned, then freezes.
constraints:
	rm -rf .venv-constraints && $(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet -c constraints/bootstrap.txt uv
	.venv-constraints/bin/uv pip install --quiet --python .venv-constraints/bin/python \
		"apache-airflow==$(AIRFLOW_VERSION)" -e '.[$(DEFAULT_EXTRAS)]'
	{ echo "# Pinned versions for Airflow $(AIRFLOW_VERSION) on Python 3.11: install with -c so every machine gets the same set."; \
	  echo "# Regenerate: make constraints AIRFLOW_VERSION=$(AIRFLOW_VERSION)"; \
	  .venv-constraints/bin/uv pip freeze --python .venv-constraints/bin/python --exclude-editable; \
	} > constraints/airflow-$(AIRFLOW_VERSION).txt
	rm -rf .venv-constraints

clean:
	rm -rf $(VENV) .venv-airflow-* .demo build *.egg-info e2e/node_modules
