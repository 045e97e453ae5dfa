# Everything a run needs is installed by these targets: a .venv with pinned
# Python packages, and Toxiproxy built with `go install` into .tools/bin.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS_BIN := .tools/bin
ACTIONLINT_VERSION := 1.7.12
ACTIONLINT := $(TOOLS_BIN)/actionlint-$(ACTIONLINT_VERSION)
SCENARIO ?= scenarios/slow-member.toml
# The canary: every scenario here runs in every mode and must give its [expect]ed verdicts.
CHAOS_SCENARIOS ?= scenarios/slow-member.toml \
                   scenarios/stalled-member.toml \
                   scenarios/socketio-slow-member.toml
MODE ?= naive
PORT ?= 8089

.PHONY: help install test lint docs chaos run ui browser bench clean

help:
	@echo "make chaos    install what is missing, then run the canary matrices (CHAOS_SCENARIOS)"
	@echo "make test     lint, type-check and run the whole test suite"
	@echo "make run      one headless run: make run MODE=naive SCENARIO=$(SCENARIO)"
	@echo "make ui       Locust's web UI with the Chaos tab on 127.0.0.1:$(PORT) (MODE=, PORT=)"
	@echo "make docs     build the documentation site into site/ (strict: a broken link fails)"
	@echo "make bench    run every benchmark once; table + results/bench.json (docs/benchmarks.md)"
	@echo "make install  create .venv (the harness in it, editable) and install Toxiproxy into $(TOOLS_BIN)"
	@echo "make clean    remove .venv, .tools, results and site"

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# The harness itself goes in too, editable (no copy, no network: this venv's setuptools
# builds it), so `.venv/bin/roomchaos` and `.venv/bin/python -m harness` work from any folder.
$(VENV)/.harness-installed: $(VENV)/.installed pyproject.toml
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		--editable .
	touch $@

install: $(VENV)/.harness-installed
	@bash harness/install-toxiproxy.sh $(TOOLS_BIN)

lint: install $(ACTIONLINT)
	$(PY) -m ruff check .
	$(PY) -m mypy harness lockwatch targets locustfile.py mkdocs_hooks.py tests
	$(ACTIONLINT) .github/workflows/*.yml

# actionlint (checks .github/workflows) is built with `go install` at a pinned version into
# $(TOOLS_BIN), like Toxiproxy; .tools/bin/actionlint links to it for tests and people.
$(ACTIONLINT):
	@mkdir -p $(TOOLS_BIN)/.actionlint-build
	GOBIN=$(abspath $(TOOLS_BIN)/.actionlint-build) CGO_ENABLED=0 \
		go install github.com/rhysd/actionlint/cmd/actionlint@v$(ACTIONLINT_VERSION)
	mv -f $(TOOLS_BIN)/.actionlint-build/actionlint $@
	rmdir $(TOOLS_BIN)/.actionlint-build
	ln -sf $(notdir $@) $(TOOLS_BIN)/actionlint

# Four pytest-xdist workers: most of a real run is waiting (warm-up, fault, cool-down), so four
# share this 2-core machine well (1.5 cores busy on average). Tests marked serial (they watch the whole checkout) run after,
# alone. docs/testing.md has the figures.
test: lint docs browser
	$(PY) -m pytest -q -rs -n 4 -m "not serial"
	$(PY) -m pytest -q -rs -p no:xdist -m serial

# The documentation site (mkdocs.yml): README.md, docs/ and scenarios/README.md as one site in
# site/. Strict, so a broken link or anchor fails the build, and with it `make test`.
docs: install
	$(PY) -m mkdocs build --strict --quiet

# The web UI's browser test drives Debian's Chromium; install it when missing (CI runs as root).
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
		echo "installing chromium and chromium-driver with apt-get"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver; \
	fi

chaos: install
	$(PY) -m harness matrix $(CHAOS_SCENARIOS)

run: install
	$(PY) -m harness run $(SCENARIO) --mode $(MODE)

# Every benchmark once, side by side: a table, and results/bench.json (docs/benchmarks.md).
bench: install
	$(PY) -m harness.bench

ui: install
	$(PY) -m harness ui $(SCENARIO) --mode $(MODE) --port $(PORT)

clean:
	rm -rf $(VENV) .tools results site .pytest_cache .mypy_cache .ruff_cache .hypothesis
