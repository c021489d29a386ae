# Set-up and checks. `make demo` runs the product with demo data; `make test`
# runs the whole suite on SQLite and on PostgreSQL, with a real Redis and a real
# browser. Needs only python3 (and apt-get for chromium when it is missing).

SHELL := /bin/bash
PYTHON ?= python3
SUPPORT := tests/support
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k login -x'
PYTEST_ARGS ?=

.PHONY: venv browser test test-sqlite test-postgres screenshots demo clean

venv:
	@PYTHON=$(PYTHON) bash $(SUPPORT)/ensure_venv.sh

browser:
	@bash $(SUPPORT)/ensure_chromium.sh

# Under `make test` a missing browser is a failure, not a skip.
test test-sqlite test-postgres: export SOP_REQUIRE_BROWSER = 1
# ... and so is a missing root/`ip` for the cross-host test (PostgreSQL pass only).
test test-sqlite test-postgres: export SOP_REQUIRE_NETNS = 1

test: venv browser
	@bash $(SUPPORT)/run_suite.sh all $(PYTEST_ARGS)

test-sqlite: venv browser
	@bash $(SUPPORT)/run_suite.sh sqlite $(PYTEST_ARGS)

test-postgres: venv browser
	@bash $(SUPPORT)/run_suite.sh postgres $(PYTEST_ARGS)

# docs/screenshots/*.png from the demo data, through the real browser.
screenshots: venv browser
	SOP_SCREENSHOTS=1 SOP_REQUIRE_BROWSER=1 .venv/bin/python -m pytest tests/test_browser.py tests/test_data_browser.py tests/test_editors_browser.py -k "screenshots or data_page"

demo: venv
	bash deploy/demo.sh

# Runtime state only (a running demo is stopped first); the virtualenv stays.
clean:
	@if [ -f var/supervisord.pid ]; then bash deploy/demo.sh stop || true; fi
	rm -rf var instance

# The evaluator benchmark (BENCHMARKS.md): SQLite, then PostgreSQL in a private
# throw-away cluster; each run builds its own database (about 5 and 10 minutes at
# the default 1,000,000 customers; BENCH_CUSTOMERS=20000 for a quick look).
BENCH_CUSTOMERS ?= 1000000
.PHONY: bench
bench: venv
	.venv/bin/python -m bench.evaluator --db sqlite --customers $(BENCH_CUSTOMERS)
	.venv/bin/python -m bench.evaluator --db postgresql --customers $(BENCH_CUSTOMERS)

# The delivery benchmark (BENCHMARKS.md): 100,000 deliveries due at once through the
# wecom channel (a fake WeCom server) and 2 real RQ workers, SQLite then PostgreSQL in
# a private throw-away cluster; about 5 minutes each. BENCH_DELIVERIES=5000 for a quick run.
BENCH_DELIVERIES ?= 100000
.PHONY: bench-send
bench-send: venv
	.venv/bin/python -m bench.send --db sqlite --deliveries $(BENCH_DELIVERIES)
	.venv/bin/python -m bench.send --db postgresql --deliveries $(BENCH_DELIVERIES)

# The data pages benchmark (BENCHMARKS.md): the SOP data page, the customer list (first
# page, filtered, a manager's) and the dashboard, 20 requests each, against their bare
# SELECTs; 1,000,000 customers and 5,000,000 deliveries, SQLite then PostgreSQL in a
# private throw-away cluster. BENCH_CUSTOMERS=20000 BENCH_DELIVERIES=100000 for a quick run.
# (BENCH_DELIVERIES, when given, counts here too; its bench-send default does not.)
PAGES_DELIVERIES := $(if $(filter environment command line,$(origin BENCH_DELIVERIES)),$(BENCH_DELIVERIES),5000000)
.PHONY: bench-pages
bench-pages: venv
	.venv/bin/python -m bench.pages --db sqlite --customers $(BENCH_CUSTOMERS) --deliveries $(PAGES_DELIVERIES)
	.venv/bin/python -m bench.pages --db postgresql --customers $(BENCH_CUSTOMERS) --deliveries $(PAGES_DELIVERIES) --workdir /tmp/bench-pages-pg
