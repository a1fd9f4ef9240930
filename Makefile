# The two commands a newcomer runs are `make run` and `make test`; the rest serve them.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000
EDNA_DATA_DIR ?= .edna

.PHONY: run test lint bench clean package synth mwaa-artifacts batch-urns preview-web preview-batch deploy-web deploy-batch

# uv installs what pip would (the same pinned versions, from PyPI) in ~45 s where pip took ~115 s, most of
# a clean clone's install time; pip stays in the venv for the packaging scripts. Bytecode is compiled at
# install, as pip does: where PYTHONDONTWRITEBYTECODE is set, every start would compile Flask and numpy again.
UV_VERSION := 0.13.9
INSTALL := $(PY) -m uv pip install --quiet --compile-bytecode --python $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3 uv==$(UV_VERSION)

# Stamps re-run the install only when a requirements file changed.
$(VENV)/.run-installed: $(PY) service/requirements.txt service/requirements-server.txt plugins/requirements.txt requirements-demo.txt
	$(INSTALL) -r service/requirements.txt -r service/requirements-server.txt -r plugins/requirements.txt -r requirements-demo.txt
	touch $@

$(VENV)/.dev-installed: $(PY) service/requirements.txt service/requirements-server.txt plugins/requirements.txt requirements-demo.txt requirements.txt requirements-dev.txt
	$(INSTALL) -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(PY) -m service run --host $(HOST) --port $(PORT) --data-dir $(EDNA_DATA_DIR)

# The browser tests drive Debian's Chromium (Playwright's own download is unreachable): installed only when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(CHROMIUM):
	$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# Four workers on two cores: much of the suite waits on servers, browsers and subprocesses. A file's
# tests stay on one worker: module-scoped stacks are built once, and the fuzzers' last test checks
# what the module's other tests sent (xdist 3.8's `loadgroup` did not keep groups together under pytest 9.2 here).
# Files are handed out in collection order, the longest first (tests/conftest.py, LONGEST_FILES).
TEST_WORKERS ?= 4

# Bytecode, and pytest's rewritten test modules, are cached even where the machine turns caching off
# (PYTHONDONTWRITEBYTECODE): otherwise each worker rewrote every test module (7 s of its 17 s collection)
# and each `python -m service` a test starts compiled Edna again.
test: $(VENV)/.dev-installed lint $(CHROMIUM)
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.dev-installed
	$(PY) benchmarks/item_requests.py

# The AWS stack as the program declares it, run offline under mocks, with the policy pack's verdict.
synth: $(VENV)/.dev-installed
	$(PY) -W ignore::DeprecationWarning -m infra.synth --stack $(STACK)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache

# The service's Lambda zip, build/edna-lambda.zip, made by Zappa from a slim venv of manylinux2014 wheels;
# venvs under build/lambda are reinstalled only when their requirements change.
package: $(PY)
	$(PY) packaging/lambda_zip.py

# What MWAA deploys besides dags/*.py: build/mwaa/plugins.zip (byte-identical for an unchanged engine),
# build/mwaa/requirements.txt (under Airflow's constraints) and build/mwaa/dags/.
mwaa-artifacts: $(PY)
	$(PY) packaging/mwaa_artifacts.py --out build/mwaa

# One Pulumi stack per environment holds both sides; each side deploys alone. The batch side is every
# `edna:batch:*` component and its children (Pulumi URN globs: `*` stops at a `:`, `**` does not); the web
# side is everything else. The CI workflows read BATCH_URNS from `make -s batch-urns`: change it only here.
STACK ?= dev
PULUMI ?= pulumi
BATCH_URNS := urn:pulumi:*::*::edna:batch:**
PULUMI_WEB := --exclude '$(BATCH_URNS)'
PULUMI_BATCH := --target '$(BATCH_URNS)'

batch-urns:
	@echo '$(BATCH_URNS)'

# The program declares both sides, so both artifacts exist before any preview or update.
preview-web preview-batch deploy-web deploy-batch: package mwaa-artifacts

preview-web:
	$(PULUMI) preview --stack $(STACK) --policy-pack policy --diff $(PULUMI_WEB)

preview-batch:
	$(PULUMI) preview --stack $(STACK) --policy-pack policy --diff $(PULUMI_BATCH)

deploy-web:
	$(PULUMI) up --stack $(STACK) --policy-pack policy --yes $(PULUMI_WEB)

deploy-batch:
	$(PULUMI) up --stack $(STACK) --policy-pack policy --yes $(PULUMI_BATCH)
