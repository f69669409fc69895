# Two commands do all the set-up on a fresh machine:  make run  and  make test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
# The Prefect API, server and UI of this checkout share one SQLite database here.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: venv run test lint ingest train backtest ui clean-store

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt scripts/install_torch.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	bash scripts/install_torch.sh $(PIP)
	$(PIP) install -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/windcast run

ingest: $(STAMP)
	$(VENV)/bin/windcast ingest --config data/sample/windcast.yaml

train: $(STAMP)
	$(VENV)/bin/windcast train --config data/sample/windcast.yaml

backtest: $(STAMP)
	$(VENV)/bin/windcast backtest --config data/sample/windcast.yaml

# The Prefect UI on http://127.0.0.1:4200 over the same database `make run` wrote to (.prefect/).
ui: $(STAMP)
	$(VENV)/bin/prefect server start --host 127.0.0.1 --port 4200

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean-store:
	rm -rf data/store
