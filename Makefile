# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tiergate-installed

.PHONY: help setup demo test test-all test-slow lint crds bench clean

help:
	@echo "make demo      set up and run the demo (simulated tiers + gateway in local mode)"
	@echo "make test      set up and run the test suite (what CI runs)"
	@echo "make test-slow run only the slow suites"
	@echo "make lint      ruff over the code"
	@echo "make crds      regenerate crds/ from the pydantic models"
	@echo "make bench     run the benchmarks and print their figures"

$(STAMP): pyproject.toml scripts/bootstrap
	VENV=$(VENV) scripts/bootstrap
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/tiergate demo

lint: $(STAMP)
	$(BIN)/ruff check operator gateway cli tests bench scripts

test: $(STAMP) lint
	@scripts/system-deps
	$(BIN)/pytest -q

test-slow: $(STAMP)
	@scripts/system-deps
	$(BIN)/pytest -q -m slow

crds: $(STAMP)
	$(BIN)/python scripts/generate_crds.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
