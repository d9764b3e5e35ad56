# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# Local mode listens on this machine only. HOST=0.0.0.0 serves the network: server mode only
# (WBCREVIEW_AUTH=password or oidc); the app refuses local mode on a network address.
HOST ?= 127.0.0.1

.PHONY: run test lint format bench demo check clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m wbcreview prepare
	@echo "wbcreview: open http://localhost:$(PORT) in a browser (Ctrl+C stops it)"
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.dev-installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(VENV)/.installed
	$(PY) -m wbcreview bench --cells 100000

demo: $(VENV)/.installed
	$(PY) -m wbcreview prepare

check: $(VENV)/.installed
	$(PY) -m wbcreview check

clean:
	rm -rf data/demo data/catalog .pytest_cache test-artifacts
