# Scoreboard — every target installs what it needs from the registries; nothing is installed by hand.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
PYTEST_ARGS ?=

.PHONY: help setup kafka-jars run test test-unit test-deploy lint fmt schemas bench bench-deps browser clean

help:
	@echo "make run    - start Kafka (unless KAFKA_BOOTSTRAP_SERVERS answers), the worker, the write API and the read API"
	@echo "make test   - start a private broker and run the whole test suite against it"
	@echo "make lint   - ruff + mypy (strict)"
	@echo "make bench  - run the benchmarks in bench/ and print their table"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) kafka-jars

kafka-jars: $(STAMP)
	@$(BIN)/python -m tools.kafka_local fetch >/dev/null

run: setup
	$(BIN)/python -m tools.run_stack

test: setup browser bench-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "unit or asgi" $(PYTEST_ARGS)

test-deploy: $(STAMP)
	$(BIN)/python -m pytest -m deploy $(PYTEST_ARGS)

lint: $(BENCH_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

schemas: $(STAMP)
	$(BIN)/python -m schemas.export

browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# the bench extra (redis client, py-spy) and Debian's redis-server; the bench smoke in `make test` needs them too
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)
	@command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)

BENCH_ARGS ?=
bench: setup bench-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts

# the public contract in docs/: the OpenAPI both APIs serve, exported (docs/asyncapi.yaml is written by hand)
.PHONY: contract
contract: $(STAMP)
	$(BIN)/python -m tools.export_contract
