# Two commands on a fresh machine: `make run` serves the demo, `make test` runs the suite.
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast system-packages bench bench-export loadtest lint screenshots

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
		{ echo "Python 3.12+ is needed (pyenv: 'pyenv install 3.12'); found $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

# What the demo needs to run, without the test and lint tools (about 40 s less on a fresh
# machine): the full install above, when it is current, serves as well.
RUN_STAMP := $(VENV)/.run-stamp
$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
		{ echo "Python 3.12+ is needed (pyenv: 'pyenv install 3.12'); found $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test $(STAMP) -nt pyproject.toml || $(BIN)/python -m pip install -q -e .
	touch $@

# The development server and a Celery worker beside it on a broker that needs no server
# (files under var/broker/), so exports and statements run in the background as in
# production; one Ctrl-C stops both (scripts/run_demo.py). PORT=8001 make run for another.
PORT ?= 8000
run: $(RUN_STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Serving http://127.0.0.1:$(PORT)/ - sign in with a demo login above."
	$(BIN)/python -m scripts.run_demo --port $(PORT)

# The browser tests need Chromium; screenshots need Korean fonts.
system-packages:
	@.ci/system-packages

test: install system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every test that needs no browser, LibreOffice, process of its own or real worker: under
# a minute on 2 cores. `make test` (and CI) still runs them all.
SLOW_MARKERS := browser or libreoffice or subprocess or worker or faults
test-fast: install
	$(BIN)/python -m pytest -n auto -m "not ($(SLOW_MARKERS))" $(PYTEST_ARGS)

# The gallery of docs/screenshots/: every page of tests/e2e/pages.py at a desktop's and a
# phone's width, taken by the accessibility test (which writes into its own temporary
# folder otherwise).
screenshots: install system-packages
	mkdir -p docs/screenshots
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -p no:randomly tests/e2e/test_accessibility.py -k test_every_page_meets_wcag_aa $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The scale benchmark on PostgreSQL (10M deliveries): pages, export, statement, purge.
# Figures and the machine in docs/benchmarks.md.
bench: install
	scripts/bench.sh

# 50 users for 60 s against gunicorn while an export runs, on the `make bench` data set.
loadtest: install
	$(BIN)/python -m scripts.loadtest

# A per-recipient export of ROWS deliveries, end to end; see README "Exports".
ROWS ?= 1000000
bench-export: install
	$(BIN)/python manage.py bench_export --rows $(ROWS) --libreoffice
	$(BIN)/python manage.py bench_export --rows $(ROWS) --format csv
