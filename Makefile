# Everything a run needs is installed by these targets: a .venv with pinned
# Python packages, and Toxiproxy built with `go install` into .tools/bin.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS_BIN := .tools/bin
SCENARIO ?= scenarios/slow-member.toml
MODE ?= naive

.PHONY: help install test lint chaos run ui bench clean

help:
	@echo "make chaos    install what is missing, then run the slow-member matrix (the canary)"
	@echo "make test     lint, type-check and run the whole test suite"
	@echo "make run      one headless run: make run MODE=naive SCENARIO=$(SCENARIO)"
	@echo "make install  create .venv and install Toxiproxy into $(TOOLS_BIN)"
	@echo "make clean    remove .venv, .tools and results"

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed
	@bash harness/install-toxiproxy.sh $(TOOLS_BIN)

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy harness targets locustfile.py

test: lint
	$(PY) -m pytest -q

chaos: install
	$(PY) -m harness matrix $(SCENARIO)

run: install
	$(PY) -m harness run $(SCENARIO) --mode $(MODE)

clean:
	rm -rf $(VENV) .tools results .pytest_cache .mypy_cache .ruff_cache .hypothesis
