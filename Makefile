# Scoreboard — every target installs what it needs from the registries; nothing is installed by hand.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
RUN_DIR := $(or $(SCOREBOARD_RUN_DIR),.data)
PYTEST_ARGS ?=

.PHONY: help prereqs setup kafka-jars run test test-unit test-deploy lint fmt schemas bench bench-deps browser \
	clean clean-data chaos

help:
	@echo "make run        - start Kafka (unless KAFKA_BOOTSTRAP_SERVERS answers), the worker, the write API and the read API"
	@echo "make clean-data - delete $(RUN_DIR)/ (the broker's topics, the worker's state, the dev key): the next run starts empty"
	@echo "make test       - start a private broker and run the whole test suite against it"
	@echo "make lint       - ruff + mypy (strict)"
	@echo "make bench      - run the benchmarks in bench/ and print their table"
	@echo "make chaos      - kill -9 every service and bounce the broker under load for CHAOS_SECONDS (180), then check every total"
	@echo "make prereqs    - check Python 3.11, Java 17 and Maven (every target that installs runs it first)"
	@echo "make test-unit  - the unit, ASGI and process tiers only (no broker); make test-deploy - the deployment files"
	@echo "make contract   - rewrite docs/openapi/*.json from the apps; make schemas - rewrite schemas/jsonschema/"
	@echo "make clean      - delete the virtualenv and caches"

# Python 3.11 (until .venv exists), Java 17+, Maven (until the Kafka jars are cached): says what to install.
# Runs on the system's python3 before .venv exists (tools/prereqs.py is standard library only).
prereqs:
	@py=$$(test -x $(BIN)/python && echo $(BIN)/python || command -v python3 || command -v $(PYTHON)) || { \
	  echo "missing prerequisites:" >&2; \
	  echo "  - Python: no python3 nor $(PYTHON); install Python 3.11 with venv (Debian/Ubuntu: sudo apt-get install python3.11 python3.11-venv), or point make at another 3.11 interpreter: make run PYTHON=/path/to/python3.11" >&2; \
	  exit 1; }; \
	$$py -m tools.prereqs $(if $(wildcard $(BIN)/python),,--python $(PYTHON))

# what running needs (make run); the dev set (tests, linters, validators, Playwright) only for make test/lint
$(RUN_STAMP): pyproject.toml | prereqs
	@test -x $(BIN)/python || { echo "make: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "make: installing the Python packages the services need (first run: ~40 s)"
	@$(PIP) --upgrade pip==25.3
	@$(PIP) -e .
	@touch $@

$(DEV_STAMP): $(RUN_STAMP)
	@echo "make: installing the test and lint tools (first time: ~1 min)"
	@$(PIP) -e '.[dev]'
	@touch $@

# the bench extra (redis client, py-spy) and Debian's redis-server; the bench smoke in `make test` needs them too
$(BENCH_STAMP): $(DEV_STAMP)
	@echo "make: installing the benchmark tools"
	@$(PIP) -e '.[dev,bench]'
	@touch $@

setup: $(DEV_STAMP) kafka-jars

kafka-jars: $(RUN_STAMP)
	@$(BIN)/python -m tools.kafka_local fetch

run: $(RUN_STAMP) kafka-jars
	@$(BIN)/python -m tools.run_stack

test: $(DEV_STAMP) kafka-jars browser bench-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "unit or asgi or process" $(PYTEST_ARGS)

test-deploy: $(DEV_STAMP)
	$(BIN)/python -m pytest -m deploy $(PYTEST_ARGS)

lint: $(BENCH_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix .

schemas: $(RUN_STAMP)
	$(BIN)/python -m schemas.export

browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# ... and bench 10's Kafka Streams baseline, built with Maven (~16 s and ~120 MB into ~/.m2 the first time, then
# nothing: offline first, and a stamp of its sources skips the build), so no bench or smoke waits on a download
bench-deps: $(BENCH_STAMP)
	@command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)
	@$(BIN)/python -m bench.baselines.kstreams_app build

BENCH_ARGS ?=
bench: $(RUN_STAMP) kafka-jars bench-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

# kill -9 of each service and broker bounces under load, then every total checked against an oracle (bench/chaos.py);
# exits 1 on a lost or doubled event or a service that did not recover. CHAOS_ARGS: e.g. --seed 42 --run-dir DIR
CHAOS_SECONDS ?= 180
CHAOS_ARGS ?=
chaos: $(RUN_STAMP) kafka-jars
	$(BIN)/python -m bench.chaos --seconds $(CHAOS_SECONDS) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts

# start from scratch: `make run` keeps its broker data, worker state and dev key here (stop it first)
clean-data:
	@$(PYTHON) -m tools.clean_data "$(RUN_DIR)"

# the public contract in docs/: the OpenAPI both APIs serve, exported (docs/asyncapi.yaml is written by hand)
.PHONY: contract
contract: $(RUN_STAMP)
	$(BIN)/python -m tools.export_contract
