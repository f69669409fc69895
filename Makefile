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

# --- Operations (docs/operations.md): a Prefect server, the work pools, one worker per pool, the deployments.
# On another host point PREFECT_API_URL at the server, e.g. make worker-gpu PREFECT_API_URL=http://srv:4200/api
PREFECT_PORT    ?= 4200
PREFECT_API_URL ?= http://127.0.0.1:$(PREFECT_PORT)/api
WINDCAST_HOME   ?= $(CURDIR)

.PHONY: server pools deploy worker-cpu worker-gpu

# A Prefect server (API + UI) on 127.0.0.1; SQLite under PREFECT_HOME (.prefect/) unless
# PREFECT_API_DATABASE_CONNECTION_URL names a PostgreSQL database. Add PREFECT_HOST=0.0.0.0 for remote workers.
PREFECT_HOST ?= 127.0.0.1
server: $(STAMP)
	$(VENV)/bin/prefect server start --host $(PREFECT_HOST) --port $(PREFECT_PORT)

pools: $(STAMP)
	PREFECT_API_URL=$(PREFECT_API_URL) $(VENV)/bin/prefect work-pool create windcast-cpu --type process --overwrite
	PREFECT_API_URL=$(PREFECT_API_URL) $(VENV)/bin/prefect work-pool create windcast-gpu --type process --overwrite

# WINDCAST_HOME is left out on purpose: `prefect deploy` would bake this host's path into the pull step,
# which the workers must fill in from their own environment.
deploy: $(STAMP)
	env -u WINDCAST_HOME PREFECT_API_URL=$(PREFECT_API_URL) $(VENV)/bin/prefect --no-prompt deploy --all

worker-cpu: $(STAMP)
	WINDCAST_HOME=$(WINDCAST_HOME) PREFECT_API_URL=$(PREFECT_API_URL) \
	  $(VENV)/bin/prefect worker start --pool windcast-cpu --type process

# On the GPU host (make venv installs the CUDA build of torch there): one training run at a time.
worker-gpu: $(STAMP)
	WINDCAST_HOME=$(WINDCAST_HOME) PREFECT_API_URL=$(PREFECT_API_URL) \
	  $(VENV)/bin/prefect worker start --pool windcast-gpu --type process --limit 1
