# make test   — build the virtualenv if needed, install, lint, run the suite
# make demo   — an ERP on SQLite with demo data, served on 127.0.0.1
# make test-browser — only the browser tests (installs what they need)
# make screenshots  — the README's pictures, from the browser tests
# make cluster-tools — Debian's nginx, which bench.cluster balances with
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_URI ?= postgresql://postgres@127.0.0.1:5432/
DEMO_PORT ?= 8000
# The slowest tests of each run, so the suite's cost stays visible
DURATIONS ?= 25
# Two workers (xdist) on the project's 2 cores; a module's or a class's
# tests stay on one worker, as their fixtures and set-ups expect.
# WORKERS=0 runs in this process.
WORKERS ?= 2
PYTEST = $(BIN)/python -m pytest --durations=$(DURATIONS) \
	$(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadscope)

# Root installs Debian's packages itself; others through sudo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install test lint test-postgresql demo openapi clean \
	browser-tools chromium test-browser screenshots cluster-tools

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,postgresql]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

# The whole suite on SQLite. Its databases are built once per module
# source and kept in .cache/ (see harness/databases.py).
test: lint
	$(PYTEST)

# The tests touching the database again, on PostgreSQL (CI runs it after
# `make test`); templates built from older sources are dropped. The
# browser tests (what people see) and the one_backend ones (what the
# agents do) run in the SQLite leg only.
test-postgresql: install
	TRYTOND_DATABASE_URI=$(PG_URI) \
		$(PYTEST) -m 'database and not browser and not one_backend'

# What the browser tests drive: Debian's Chromium and its ChromeDriver
# (apt, when missing) and Tryton's web client, sao (npm, into .cache/).
# Without them `make test` skips the browser tests and says why.
browser-tools: install chromium
	$(BIN)/python -m harness web-client

chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(SUDO) apt-get install -y -q chromium chromium-driver \
		|| { $(SUDO) apt-get update -q \
			&& $(SUDO) apt-get install -y -q chromium chromium-driver; }; \
	fi

test-browser: browser-tools
	OMS_BROWSER_TESTS=required $(BIN)/python -m pytest -m browser tests

# The README's pictures (docs/screenshots/), taken by the browser tests
screenshots: browser-tools
	OMS_BROWSER_TESTS=required OMS_SCREENSHOTS=$(CURDIR)/docs/screenshots \
		$(BIN)/python -m pytest -m browser tests

# The load balancer of the scale-out layout (docs/deploy.md, bench.cluster):
# Debian's nginx. Only its binary is used here; Debian's package enables a
# site on port 80, which bench.cluster does not need and leaves alone.
cluster-tools: install
	@if [ ! -x /usr/sbin/nginx ]; then \
		$(SUDO) apt-get install -y -q nginx \
		|| { $(SUDO) apt-get update -q \
			&& $(SUDO) apt-get install -y -q nginx; }; \
	fi

demo: install
	$(BIN)/python -m demo --port $(DEMO_PORT)

openapi: install
	$(BIN)/python -m oms_contract.openapi

clean:
	rm -rf .cache demo-data
