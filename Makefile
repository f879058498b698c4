# The two commands: `make run` (service + demo shop on SQLite, no Redis) and `make test` (everything).
# `make run-service` and `make run-shop` start one of the two alone (e.g. in two terminals).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT      ?= 5000
DEMO_PORT ?= 8000
# The demo shop's third party (its video player and analytics tag), started and stopped with the shop.
DEMO_PARTNER_PORT ?= 8001
DEMO      := PORT=$(PORT) DEMO_PORT=$(DEMO_PORT) DEMO_PARTNER_PORT=$(DEMO_PARTNER_PORT) $(BIN)/python -m examples.run_demo

.PHONY: install run run-service run-shop test test-fast lint bench soak browser load-tools clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[server,test]'
	touch $(STAMP)

install: $(STAMP)

## Set up and start the service (migrated, demo site synced for these ports) and the demo shop.
run: install
	@$(DEMO) both

## The service alone: migrate, sync the demo site for DEMO_PORT, serve on PORT.
run-service: install
	@$(DEMO) service

## The demo shop alone, on DEMO_PORT, using the service on PORT.
run-shop: install
	@$(DEMO) shop

## Headless Chromium for the browser tests (Debian's package; needs root or sudo-less apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null \
	  || echo "could not install chromium: browser tests will be skipped (and fail under CI=true)"; }

## wrk drives the HTTP benchmarks (Debian's package), as Chromium drives the browser ones.
load-tools:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the benchmarks"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk) >/dev/null \
	  || echo "could not install wrk: the HTTP benchmarks will say so"; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## Every test: SQLite and PostgreSQL, Redis, browser and slow ones included.
test: install browser lint
	$(BIN)/pytest -m "" -q

## The quick loop for development: no slow tests.
test-fast: install
	$(BIN)/pytest -q

bench: install browser load-tools
	$(BIN)/python -m bench.run_all $(BENCH)

## About 5 minutes of banners against two instances while Redis, PostgreSQL and workers fail in turn;
## fails unless nothing acknowledged is lost or doubled and `proof verify` passes (SOAK_SECONDS=300).
soak: install
	$(BIN)/python -m bench.soak --seconds $(or $(SOAK_SECONDS),300)

clean:
	rm -rf $(VENV) instance .pytest_cache
