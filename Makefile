PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck types bench bench-harness bench-cluster bench-redis-clients soak widget console builds check-builds clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

## Start the whole product on http://localhost:8000 (embedded Valkey + SQLite, no configuration)
run: $(STAMP)
	$(BIN)/chatserver serve

## The full test suite: lint, types, then pytest.  The browser tests need Debian's chromium and
## fonts: scripts/browser-deps.sh installs them with apt-get when missing and allowed, else fails.
test: $(STAMP)
	bash scripts/browser-deps.sh
	$(BIN)/ruff check chatserver tests bench soak
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check chatserver tests bench soak

typecheck: $(STAMP)
	$(BIN)/mypy

## Benchmarks (bounded in time, loopback only); results in bench/results/
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench

## Issue 10's outside harness inside the bench: relay2 (one hub + Valkey on one core, P = 100 and
## 1,000 pairs, both sides sending, against python-socketio, Node socket.io and raw websockets)
## and the connect burst (2,000 sockets, 1,000 chats assigned); ~20 minutes
bench-harness: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench --only relay2 --only connect

## The Redis client spike (issue 10): redis-py, its cluster client, valkey-glide, coredis and an
## auto-batching prototype on the product's hot paths, one node and a 3-master cluster (~10 min)
## Issue 12: relay, routing and storm on one Valkey and on a 3+3 Valkey cluster (same run, same
## pinning), then one hub against two on the cluster; summary-cluster.md side by side
bench-cluster: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench --redis both --only relay --only routing --only storm
	$(BIN)/python -m bench --redis cluster --only scale

bench-redis-clients: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.redis_clients

## The fault soak (bounded, loopback only): SOAK_S seconds of faults under load, then an
## audit; report printed and written to soak-results/ (docs/soak.md)
SOAK_S ?= 600
soak: $(STAMP)
	SOAK_S=$(SOAK_S) $(BIN)/python -m soak

## Regenerate the protocol's JSON Schema and TypeScript types (clients/) from chatserver/protocol
types: $(STAMP)
	$(BIN)/python -m chatserver.protocol.schema

## Rebuild the committed browser bundles from their sources (needs Node.js and npm)
widget:
	cd widget && npm ci --no-audit --no-fund && npm run build

console:
	cd agent_console && npm ci --no-audit --no-fund && npm run build

builds: widget console

## Fail if a committed bundle differs from a fresh build of its sources
check-builds: builds
	git diff --exit-code -- chatserver/static

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
