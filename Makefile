# Two commands do all set-up on a fresh machine:
#   make synth   installs what it needs, synthesizes ENV (default dev) offline and summarizes it
#   make test    installs what it needs and runs every gate and test
ENV ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# The three installs (Python packages, the CDK CLI, checkov's own venv) run side by side; targets
# that depend on each other still run in order. pip byte-compiles its 17,000 files one after
# another (longer than the install itself here), and left to the tests, both pytest workers would
# compile the same modules: compileall does it once, on every core. It skips one torch test file
# written in Python 3.12 syntax.
MAKEFLAGS += --jobs=3

.PHONY: setup synth test lint bench clean

setup: $(VENV)/.installed node_modules/.installed .venv-checkov/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-bench.txt requirements-forwarder.txt
	@echo "==> Python packages into $(VENV) (about a minute on a fresh machine)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -r requirements-dev.txt
	$(BIN)/python -m compileall -q -j 0 -x py312_intrinsics $(VENV)/lib
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> the pinned CDK CLI into node_modules"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.venv-checkov/.installed: requirements-checkov.txt
	@echo "==> checkov into its own .venv-checkov (it pins older libraries)"
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --upgrade pip
	.venv-checkov/bin/pip install --quiet --no-compile -r requirements-checkov.txt
	touch $@

synth: $(VENV)/.installed node_modules/.installed
	@echo "==> cdk synth SpecDecStack -c env=$(ENV) (offline, about 10 s)"
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk synth SpecDecStack --quiet -c env=$(ENV)
	$(BIN)/python -m specdec summary cdk.out

lint: $(VENV)/.installed
	$(BIN)/ruff check .

test: setup lint
	@echo "==> pytest on 2 workers: config rules, gates (cfn-lint, cdk-nag, Kubernetes schemas, checkov, actionlint), stack specification"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n 2

bench: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/synth_speed.py

clean:
	rm -rf cdk.out dist .pytest_cache .ruff_cache
