# The two commands a newcomer runs are `make run` and `make test`; the rest serve them.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000
EDNA_DATA_DIR ?= .edna

.PHONY: run test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3

# Stamps re-run pip only when a requirements file changed.
$(VENV)/.run-installed: $(PY) service/requirements.txt plugins/requirements.txt requirements-demo.txt
	$(PY) -m pip install --quiet -r service/requirements.txt -r plugins/requirements.txt -r requirements-demo.txt
	touch $@

$(VENV)/.dev-installed: $(PY) service/requirements.txt plugins/requirements.txt requirements-demo.txt requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(PY) -m service run --host $(HOST) --port $(PORT) --data-dir $(EDNA_DATA_DIR)

test: $(VENV)/.dev-installed lint
	$(PY) -m pytest

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.dev-installed
	$(PY) benchmarks/item_requests.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
