# make test   — build the virtualenv if needed, install, lint, run the suite
# make demo   — an ERP on SQLite with demo data, served on 127.0.0.1
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_URI ?= postgresql://postgres@127.0.0.1:5432/
DEMO_PORT ?= 8000
# Tryton keys its database cache on module names only: key ours on the
# module's source too, so a changed schema never reuses a stale database.
SOURCE_HASH = $$($(BIN)/python -c 'from oms_connector.tests.server import source_hash; print(source_hash())')

.PHONY: install test lint test-postgresql demo openapi clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,postgresql]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

test: lint
	hash=$(SOURCE_HASH); mkdir -p .cache/db; \
	find .cache/db -mindepth 1 -maxdepth 1 ! -name "$$hash" -exec rm -rf {} +; \
	DB_CACHE=.cache/db/$$hash $(BIN)/python -m pytest

# The same suite on PostgreSQL (CI runs it after `make test`).
test-postgresql: install
	$(BIN)/python -m oms_connector.tests.server reset-postgresql-cache $(PG_URI)
	TRYTOND_DATABASE_URI=$(PG_URI) DB_NAME=test_oms DB_CACHE=postgresql:// \
		$(BIN)/python -m pytest

demo: install
	$(BIN)/python -m demo --port $(DEMO_PORT)

openapi: install
	$(BIN)/python -m oms_connector.openapi

clean:
	rm -rf .cache demo-data
