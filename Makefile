# logcycle: `make run` starts the server, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-server
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test check bench clean browser-deps shipper-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/logcycle serve

test: $(STAMP_TEST) browser-deps shipper-deps
	$(BIN)/python -m pytest -q

# The browser tests (tests/web) drive Debian's Chromium: install it when it is missing and
# we may (root, apt-get). A failure is tolerated here: the tests then skip with the reason,
# or fail with CI=true.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] && [ -z "$$LOGCYCLE_CHROMIUM" ] && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; } \
	    >/dev/null 2>&1 || echo "could not install chromium: the browser tests will skip"; \
	fi

# The syslog tests (tests/shippers/test_syslog.py) feed the listener with Debian's
# syslog-ng and util-linux logger: installed the same way as chromium, failure tolerated
# (the tests then skip with the reason, or fail with CI=true).
shipper-deps:
	@if ! command -v syslog-ng >/dev/null 2>&1 && [ ! -x /usr/sbin/syslog-ng ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's syslog-ng-core for the syslog tests (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq syslog-ng-core bsdutils || { apt-get update -qq && \
	    apt-get install -y -qq syslog-ng-core bsdutils; }; } \
	    >/dev/null 2>&1 || echo "could not install syslog-ng: the syslog tests will skip"; \
	fi

check: $(STAMP_TEST)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP_TEST)
	@for b in ingest search client web crashloop overload scale protocols gil_handoff; do \
	  if [ -f bench/$$b.py ]; then echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; fi; \
	done

clean:
	rm -rf $(VENV) data .pytest_cache
